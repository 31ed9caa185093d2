"""``rdplic serve --web``: a licensing manager in the browser, served by the RDP server's
own process and reactor (twisted.web).

What RD Licensing Manager shows a Windows administrator (key packs, issued CALs, a client's
history, revoke) and what a tester watching clients connect wants to see (the connections
in flight, live; licenses over time; the emulated host and its clock), with the actions a
tester needs, through `rdplic.licensing.LicenseAdmin` as the CLI does.  The page is plain
HTML, CSS and JavaScript shipped in this package (``static/``), and reads everything
through the JSON API it is served with (`rdplic.web.site`), in the vocabulary of
`rdplic.vocabulary`.

Floors (README "Architecture"): with `rdplic.net` and `rdplic.app` above the license
server; `rdplic.app` starts it, nothing below imports it.
"""

from rdplic.web.site import WebConsole, WebOptions, parse_web_address

__all__ = ["WebConsole", "WebOptions", "parse_web_address"]
