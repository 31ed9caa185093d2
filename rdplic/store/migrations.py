"""Schema migrations, numbered from the first release on.

The SQL is written once, portable between SQLite and PostgreSQL: standard types and
constraints only, with the few dialect differences as ``{placeholders}`` filled in
from a `Dialect` (binary column type, trigger syntax). Timestamps are stored as
fixed-width ISO-8601 UTC text (``2025-01-31T12:00:00.000000Z``), which sorts and
compares correctly as text in every database.

A migration is applied in one transaction together with its ``schema_version`` row.
Never edit a released migration: add the next one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["MIGRATIONS", "Dialect", "Migration", "latest_version"]


@dataclass(frozen=True, slots=True)
class Dialect:
    """The differences between databases, in one place."""

    name: str
    types: dict[str, str]
    """Placeholder -> type, e.g. ``blob`` -> ``BLOB`` (SQLite) or ``BYTEA`` (PostgreSQL)."""
    extra: dict[int, tuple[str, ...]] = field(default_factory=dict)
    """Dialect-only statements run after migration N (triggers)."""

    def render(self, statement: str) -> str:
        return statement.format(**self.types)


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


SCHEMA_VERSION_DDL = """
CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER NOT NULL PRIMARY KEY,
    description VARCHAR(200) NOT NULL,
    applied_at VARCHAR(32) NOT NULL
)
"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "key packs, issued licenses, history, counters, settings",
        (
            """
            CREATE TABLE counters (
                name VARCHAR(64) NOT NULL PRIMARY KEY,
                value BIGINT NOT NULL
            )
            """,
            """
            CREATE TABLE settings (
                name VARCHAR(128) NOT NULL PRIMARY KEY,
                value TEXT NOT NULL
            )
            """,
            """
            CREATE TABLE key_packs (
                key_pack_id BIGINT NOT NULL PRIMARY KEY,
                product_version VARCHAR(16) NOT NULL,
                cal_type INTEGER NOT NULL,
                key_pack_type INTEGER NOT NULL,
                program VARCHAR(32) NOT NULL,
                total_licenses INTEGER,
                issued_licenses INTEGER NOT NULL DEFAULT 0,
                installed_at VARCHAR(32) NOT NULL,
                expires_at VARCHAR(32),
                reissued {bool} NOT NULL DEFAULT 0,
                agreement_number VARCHAR(16) NOT NULL DEFAULT '',
                description VARCHAR(200) NOT NULL DEFAULT '',
                transferred_from BIGINT,
                removed_at VARCHAR(32),
                CHECK (issued_licenses >= 0),
                CHECK (total_licenses IS NULL OR total_licenses >= 0),
                CHECK (total_licenses IS NULL OR issued_licenses <= total_licenses)
            )
            """,
            """
            CREATE TABLE licenses (
                license_id BIGINT NOT NULL PRIMARY KEY,
                key_pack_id BIGINT REFERENCES key_packs (key_pack_id),
                cal_type INTEGER NOT NULL,
                hwid VARCHAR(40) NOT NULL,
                platform_id BIGINT NOT NULL,
                machine_name VARCHAR(255) NOT NULL,
                user_name VARCHAR(255) NOT NULL,
                product_version VARCHAR(16) NOT NULL,
                status INTEGER NOT NULL,
                temporary {bool} NOT NULL,
                validated {bool} NOT NULL,
                issued_at VARCHAR(32) NOT NULL,
                expires_at VARCHAR(32) NOT NULL,
                revoked_at VARCHAR(32),
                renewed_at VARCHAR(32),
                upgraded_to BIGINT,
                transferred {bool} NOT NULL DEFAULT 0,
                license_blob {blob}
            )
            """,
            "CREATE INDEX licenses_by_hwid ON licenses (hwid)",
            "CREATE INDEX licenses_by_status_expiry ON licenses (status, expires_at)",
            "CREATE INDEX licenses_by_user ON licenses (user_name)",
            "CREATE INDEX licenses_by_key_pack ON licenses (key_pack_id, status)",
            """
            CREATE TABLE history (
                event_id BIGINT NOT NULL PRIMARY KEY,
                at VARCHAR(32) NOT NULL,
                kind VARCHAR(32) NOT NULL,
                license_id BIGINT REFERENCES licenses (license_id),
                key_pack_id BIGINT REFERENCES key_packs (key_pack_id),
                hwid VARCHAR(40) NOT NULL DEFAULT '',
                machine_name VARCHAR(255) NOT NULL DEFAULT '',
                user_name VARCHAR(255) NOT NULL DEFAULT '',
                detail TEXT NOT NULL DEFAULT ''
            )
            """,
            "CREATE INDEX history_by_hwid ON history (hwid)",
            "CREATE INDEX history_by_license ON history (license_id)",
            "INSERT INTO counters (name, value) VALUES ('license', 0)",
            "INSERT INTO counters (name, value) VALUES ('key_pack', 0)",
            "INSERT INTO counters (name, value) VALUES ('history', 0)",
        ),
    ),
    Migration(
        2,
        "history: the rule that decided each event, and the session host it came through",
        (
            # R-number of docs/license-server-behavior.md ('R12'), '' for events recorded
            # before this migration or decided by an administrator's command alone.
            "ALTER TABLE history ADD COLUMN rule VARCHAR(16) NOT NULL DEFAULT ''",
            # The terminal server (session host) name the event came through; '' for
            # administration commands and for events recorded before this migration.
            "ALTER TABLE history ADD COLUMN host VARCHAR(255) NOT NULL DEFAULT ''",
        ),
    ),
)


def latest_version() -> int:
    return MIGRATIONS[-1].version


SQLITE = Dialect(
    name="sqlite",
    types={"blob": "BLOB", "bool": "INTEGER"},
    extra={
        # The issuance history is append-only (R24): the database itself refuses to
        # change or delete a row. PostgreSQL: a plpgsql trigger function or REVOKE.
        1: (
            """
            CREATE TRIGGER history_no_update BEFORE UPDATE ON history
            BEGIN SELECT RAISE(ABORT, 'the issuance history is append-only'); END
            """,
            """
            CREATE TRIGGER history_no_delete BEFORE DELETE ON history
            BEGIN SELECT RAISE(ABORT, 'the issuance history is append-only'); END
            """,
        )
    },
)

POSTGRESQL = Dialect(
    name="postgresql",
    types={"blob": "BYTEA", "bool": "SMALLINT"},
    extra={
        # The issuance history is append-only (R24), as SQLite's triggers make it.
        1: (
            """
            CREATE FUNCTION rdplic_history_append_only() RETURNS trigger LANGUAGE plpgsql AS
            $$ BEGIN RAISE EXCEPTION 'the issuance history is append-only'; END $$
            """,
            """
            CREATE TRIGGER history_no_update BEFORE UPDATE OR DELETE ON history
            FOR EACH ROW EXECUTE FUNCTION rdplic_history_append_only()
            """,
            """
            CREATE TRIGGER history_no_truncate BEFORE TRUNCATE ON history
            FOR EACH STATEMENT EXECUTE FUNCTION rdplic_history_append_only()
            """,
        )
    },
)
