"""The pcapng writer adapters used before `rdplic.capture`: now `rdplic.capture.pcap`.

`PcapngWriter` keeps its name and interface (``open_stream``, ``record``, ``close_stream``,
``close``) for adapters written against it; new code records through
`rdplic.capture.recorder.CaptureRecorder`, which also keeps what replay needs.
"""

from __future__ import annotations

from rdplic.capture.pcap import CaptureWriter as PcapngWriter

__all__ = ["PcapngWriter"]
