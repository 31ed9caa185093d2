"""rdplic: an RDP licensing (MS-RDPELE) emulator and license server."""

__version__ = "0.1.0"
