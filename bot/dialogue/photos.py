"""Shoppers' photos, stored by the gateway under their content hash; read back by hash only."""
from __future__ import annotations

import re
from pathlib import Path

_HASH = re.compile(r"^[0-9a-f]{64}$")


class PhotoStore:
    """Read-only view of the uploads folder. A request names a photo by its sha256 hex digest;
    nothing else from a request ever becomes part of a path."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    @staticmethod
    def valid(ref: object) -> str | None:
        return ref if isinstance(ref, str) and _HASH.match(ref) else None

    def path(self, ref: object) -> Path | None:
        sha = self.valid(ref)
        if sha is None or not self.folder.is_dir():
            return None
        for p in sorted(self.folder.glob(sha + ".*")):
            if p.is_file() and p.name.split(".", 1)[0] == sha:
                return p
        return None

    def read(self, ref: object) -> bytes | None:
        p = self.path(ref)
        return p.read_bytes() if p is not None else None
