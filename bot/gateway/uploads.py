"""Shoppers' photos: size-capped reading, checking with PIL, content-addressed storage."""
from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError
from starlette.datastructures import UploadFile

#: PIL format -> file extension of the stored photo.
FORMATS: dict[str, str] = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif", "BMP": "bmp"}
#: file extension -> media type served for it.
MEDIA_TYPES: dict[str, str] = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp",
                               "gif": "image/gif", "bmp": "image/bmp"}
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 64 * 1024


def too_large_message(limit: int) -> str:
    """What the shopper reads when a photo is over ``limit`` bytes."""
    size = f"{limit / 2**20:.3g} MiB" if limit >= 2**20 else f"{limit / 2**10:.3g} KiB"
    return f"The photo is too large: at most {size}."


class UploadTooLarge(Exception):
    """The photo is over the size limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(too_large_message(limit))
        self.limit = limit


class ImageRejected(Exception):
    """The upload is not a photo the assistant accepts (message says why, for the shopper)."""


async def read_capped(upload: UploadFile, limit: int) -> bytes:
    """The upload's bytes, reading at most ``limit + 1`` of them; UploadTooLarge beyond ``limit``."""
    data = bytearray()
    while chunk := await upload.read(_CHUNK):
        data += chunk
        if len(data) > limit:
            raise UploadTooLarge(limit)
    return bytes(data)


def check_image(data: bytes, max_pixels: int) -> str:
    """The stored extension for an acceptable photo; ImageRejected otherwise.

    The whole image is decoded (JPEG at reduced scale), so truncated or damaged files are caught
    here rather than later in the search.
    """
    supported = "Please send a JPEG, PNG, WEBP, GIF or BMP photo."
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit applies
            with Image.open(io.BytesIO(data), formats=list(FORMATS)) as img:
                width, height = img.size
                if width * height > max_pixels:
                    raise ImageRejected(f"The photo has too many pixels ({width}x{height}); "
                                        f"at most {max_pixels / 1e6:g} megapixels.")
                if img.format == "JPEG":
                    img.draft(img.mode, (max(1, width // 8), max(1, height // 8)))
                img.load()
                fmt = img.format
    except ImageRejected:
        raise
    except UnidentifiedImageError as exc:
        raise ImageRejected(f"That file is not a supported image. {supported}") from exc
    except Image.DecompressionBombError as exc:
        raise ImageRejected(f"The photo has too many pixels; at most {max_pixels / 1e6:g} megapixels.") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageRejected(f"The photo could not be read: the file is damaged or incomplete. {supported}") from exc
    if fmt not in FORMATS:
        raise ImageRejected(f"That file is not a supported image. {supported}")
    return FORMATS[fmt]


class UploadStore:
    """Photos stored once each as ``<sha256 of the bytes>.<ext>`` in one folder."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def save(self, data: bytes, ext: str) -> str:
        """Store ``data`` (atomically: temp file + rename) unless already there; its sha256."""
        if ext not in MEDIA_TYPES:
            raise ValueError(f"unsupported extension {ext!r}")
        sha = hashlib.sha256(data).hexdigest()
        target = self.root / f"{sha}.{ext}"
        if target.is_file():
            return sha
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".upload-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return sha

    def find(self, sha: str) -> Path | None:
        """The stored photo with this sha256 (64 lowercase hex digits), or None."""
        if not SHA256_RE.fullmatch(sha):
            return None
        for path in sorted(self.root.glob(f"{sha}.*")):
            if path.suffix[1:] in MEDIA_TYPES and path.is_file():
                return path
        return None
