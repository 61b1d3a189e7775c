"""Small deterministic stand-ins for the real encoders (no model files, milliseconds)."""
from __future__ import annotations

import hashlib
import re

import numpy as np

from nlu.encoders import ImageDecodeError, l2_normalise, load_image


class FakeTextEncoder:
    """Bag of (crudely stemmed) words hashed into 256 dimensions: texts sharing words are similar."""

    name = "fake-text"
    dim = 256

    def __init__(self) -> None:
        self.calls = 0
        self.encoded = 0

    def encode(self, items, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        self.calls += 1
        self.encoded += len(items)
        out = np.zeros((len(items), self.dim), np.float32)
        for i, text in enumerate(items):
            for w in re.findall(r"[a-z0-9]+", text.lower()):
                w = w[:-1] if len(w) > 3 and w.endswith("s") else w
                h = int(hashlib.md5(w.encode()).hexdigest(), 16)
                out[i, h % self.dim] += 1.0 if (h >> 8) % 2 else -1.0
        out[np.linalg.norm(out, axis=1) == 0, 0] = 1.0
        return l2_normalise(out)


class FakeImageEncoder:
    """Mean colour and a coarse colour histogram of the photo (16 dims)."""

    name = "fake-image"
    dim = 16

    def __init__(self) -> None:
        self.encoded = 0

    def _vec(self, item) -> np.ndarray:
        img = load_image(item).resize((16, 16))
        arr = np.asarray(img, np.float32) / 255.0
        mean = arr.reshape(-1, 3).mean(0)
        hist = np.histogramdd(arr.reshape(-1, 3), bins=(2, 2, 2), range=((0, 1),) * 3)[0].ravel() / 256
        return np.concatenate([mean, hist, [0.3, 0.3, 0.3, 0.3, 0.3]]).astype(np.float32)

    def encode(self, items, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        self.encoded += len(items)
        return l2_normalise(np.stack([self._vec(it) for it in items])) if items else np.zeros((0, self.dim), np.float32)

    def encode_files(self, paths, batch_size: int = 32, progress: bool = False, on_batch=None, transform=None):
        out = np.zeros((len(paths), self.dim), np.float32)
        errors: list = []
        for i, p in enumerate(paths):
            try:
                if p is None:
                    raise ImageDecodeError("no image")
                img = load_image(p)
                out[i] = self._vec(transform(img, i) if transform else img)
                errors.append(None)
            except ImageDecodeError as e:
                errors.append(str(e))
        self.encoded += len(paths)
        return l2_normalise(out), errors
