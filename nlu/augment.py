"""Shopper-like copies of catalog photos, for training heads that must work on shoppers' photos.

Shoppers' photos are small and framed differently from 224x224 catalog shots (the evaluation's
query photos are 60x80 thumbnails of other products). A copy here is cropped a little, padded a
little, downscaled to about 60x80, and JPEG-compressed again. Colours are never changed: colour
is an attribute the shopper asks for.
"""
from __future__ import annotations

import io

import numpy as np
from PIL import Image


def shopper_copy(img: Image.Image, rng: np.random.Generator, size: tuple[int, int] = (60, 80)) -> Image.Image:
    """One random low-resolution copy of a product photo (RGB in, RGB out, ``size`` pixels)."""
    img = img.convert("RGB")
    w, h = img.size
    # crop: keep 80-100% of each side, anywhere
    cw, ch = int(w * rng.uniform(0.8, 1.0)), int(h * rng.uniform(0.8, 1.0))
    x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    img = img.crop((x0, y0, x0 + cw, y0 + ch))
    # pad: sometimes a white margin (a product further away)
    if rng.random() < 0.3:
        m = int(max(cw, ch) * rng.uniform(0.02, 0.15))
        canvas = Image.new("RGB", (cw + 2 * m, ch + 2 * m), (255, 255, 255))
        canvas.paste(img, (m, m))
        img = canvas
    # downscale (slightly different sizes), JPEG again
    scale = rng.uniform(0.85, 1.15)
    target = (max(16, int(size[0] * scale)), max(16, int(size[1] * scale)))
    img = img.resize(target, Image.BILINEAR if rng.random() < 0.5 else Image.BICUBIC)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=int(rng.integers(60, 95)))
    buf.seek(0)
    return Image.open(buf).convert("RGB")
