"""What the server machine needs from the license server, as an interface.

The core never imports a store (architecture invariant 2): the license
service comes in as an object with the methods of `LicenseServiceInterface`,
a ``typing.Protocol`` that `rdplic.licensing.LicenseService` satisfies.  The
service decides (MS-RDPELE 3.2.5.3 and 3.2.5.5 leave policy to the license
server); the machine only puts its `Decision` on the wire.  The value types
(`ClientIdentity`, `PresentedLicense`, `Decision`, `HostConfig`) are the
license service's own, so nothing is translated twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from rdplic.licensing.decision import Decision
from rdplic.licensing.hostconfig import HostConfig
from rdplic.licensing.model import ClientIdentity, PresentedLicense

__all__ = ["LicenseServiceInterface"]


class LicenseServiceInterface(Protocol):
    """The license server as the licensing core sees it.

    Every method may do I/O (it is the service's store); the core calls them
    synchronously, with the clock value it was given, at most twice per
    connection.  An exception from the service is not the client's fault:
    the machine answers ERR_NO_LICENSE_SERVER and re-raises it wrapped in
    `rdplic.core.errors.LicenseServiceError`.
    """

    def config(self) -> HostConfig:
        """The emulated host: ProductInfo, scope and licensing mode (read once per connection)."""
        ...

    def evaluate_presented(
        self, client: ClientIdentity, presented: PresentedLicense, now: datetime
    ) -> Decision:
        """License Info received (3.2.5.3): VALID_CLIENT, PLATFORM_CHALLENGE or REFUSE."""
        ...

    def present_license(
        self, client: ClientIdentity, presented: PresentedLicense | None, now: datetime
    ) -> Decision:
        """Platform Challenge Response received (3.2.5.5): what to send to finish.

        ``presented`` is None after a New License Request.
        """
        ...
