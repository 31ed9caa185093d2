"""``rdplic explain CLIENT``: why a client got what it got, and what it gets next.

CLIENT is a machine name or a 40-digit hardware id. From the store and the host
configuration only, as RD Licensing Diagnoser does: the client's licenses and their
state, the rule that decided each step of its history, the configuration that matters,
what its next connection gets and why (worked out by the license server's own policy,
nothing written), and for a refused client what would change the answer.
"""

from __future__ import annotations

import argparse
from typing import Any

from rdplic.cli.admin_common import add_common_options, admin, emit_json, wants_json
from rdplic.cli.conventions import add_examples
from rdplic.licensing.explain import Explanation, Prediction, explain
from rdplic.licensing.records import fmt
from rdplic.licensing.views import explanation_view

__all__ = ["register", "render_text"]


def _prediction(p: Prediction) -> str:
    what = (
        f"presenting license {p.presented_license_id}"
        if p.scenario == "presents-license"
        else "asking for a new license"
    )
    got = p.outcome.value
    if p.license_id is not None:
        got += f" (license {p.license_id}, {'temporary' if p.temporary else 'permanent'})"
    if p.error_code:
        got += f" ({p.error_code})"
    return f"  {what}: {got} [{p.rule}] {p.reason}"


def render_text(explanation: Explanation) -> list[str]:
    """The explanation as lines for people (the page shows the same)."""
    lines = [f"client {explanation.client} at {fmt(explanation.now)}", "host:"]
    lines += [f"  {fact}" for fact in explanation.facts]
    if not explanation.devices:
        lines.append("no license or history for this client in the store")
        if explanation.first_contact is not None:
            lines.append("its first connection, as a new device:")
            lines.append(_prediction(explanation.first_contact))
        if explanation.remedies:
            lines.append("what would change the answer:")
            lines += [f"  {remedy}" for remedy in explanation.remedies]
    for device in explanation.devices:
        names = ", ".join(device.machine_names) or "?"
        platform = f" ({device.platform})" if device.platform else ""
        lines.append(
            f"device {device.hwid.hex()} ({names}), platform 0x{device.platform_id:08x}{platform}"
        )
        lines.append("licenses:")
        for lic in device.licenses:
            status = device.status_of(lic, explanation.now).label
            held = "  <- held by the client" if device.held is lic else ""
            lines.append(
                f"  {lic.license_id}: {status} {lic.cal_type.label} {lic.product_version} "
                f"issued {fmt(lic.issued)}, expires {fmt(lic.expires)}{held}"
            )
        if not device.licenses:
            lines.append("  (none)")
        lines.append("history:")
        for event in device.history:
            rule = f" [{event.rule}]" if event.rule else ""
            about = f" license {event.license_id}" if event.license_id is not None else ""
            lines.append(f"  {fmt(event.at)} {event.kind.value}{about}{rule}: {event.detail}")
        lines.append("next connection:")
        lines += [_prediction(p) for p in device.predictions]
        for note in device.notes:
            lines.append(f"note: {note}")
        if device.remedies:
            lines.append("what would change the answer:")
            lines += [f"  {remedy}" for remedy in device.remedies]
    return lines


def _explain(args: argparse.Namespace) -> int:
    with admin(args) as a:
        result = explain(a.store, args.client, a.now())
    if wants_json(args):
        emit_json(explanation_view(result))
    else:
        print("\n".join(render_text(result)))
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "explain",
        help="why a client got what it got, and what it gets next",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    parser.add_argument("client", metavar="CLIENT", help="machine name or 40-digit HWID")
    add_common_options(parser, leaf=False)
    add_examples(
        parser,
        "rdplic explain PC1",
        "rdplic explain 0200000085c7c9b0a3f3a1e4d2c8b7a6f5e4d3c2 --json",
    )
    parser.set_defaults(func=_explain)
