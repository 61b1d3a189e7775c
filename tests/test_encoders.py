"""The real encoders on a few real catalog photos (slow: loads the bundled models)."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from nlu.encoders import ImageDecodeError, ImageEncoder, TextEncoder, load_image, preprocess, square_pad
from tests.conftest import REAL_CATALOG

IDS = ["10000", "10003", "10004", "10010"]
needs_catalog = pytest.mark.skipif(not REAL_CATALOG.exists(), reason="shared catalog not present")


@pytest.fixture(scope="module")
def text_encoder():
    return TextEncoder()


@pytest.fixture(scope="module")
def image_encoder():
    return ImageEncoder()


@pytest.mark.slow
def test_text_encoder_shape_norm_and_meaning(text_encoder):
    v = text_encoder.encode(["red dress", "crimson evening gown", "laptop bag"])
    assert v.shape == (3, 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2]
    assert text_encoder.encode([]).shape == (0, 384)
    # batching does not change the result
    np.testing.assert_allclose(text_encoder.encode(["red dress"])[0], v[0], atol=1e-5)


@pytest.mark.slow
@needs_catalog
def test_image_encoder_on_real_photos(image_encoder, tmp_path):
    paths = [str(REAL_CATALOG / "images" / f"{i}.jpg") for i in IDS]
    v = image_encoder.encode(paths)
    assert v.shape == (4, 1280) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    # a shopper-sized copy (60x80, like the query photos) is nearest to its own original
    small = Image.open(paths[1]).convert("RGB").resize((60, 80))
    buf = io.BytesIO()
    small.save(buf, "JPEG")
    q = image_encoder.encode([buf.getvalue()])[0]
    assert int(np.argmax(v @ q)) == 1
    # encode_files: same vectors, bad files reported and zero, nothing raised
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"garbage")
    vf, errors = image_encoder.encode_files(paths[:2] + [str(bad), None], batch_size=3)
    np.testing.assert_allclose(vf[:2], v[:2], atol=1e-4)
    assert errors[:2] == [None, None] and "readable" in errors[2] and errors[3] == "no image"
    assert not vf[2:].any()


def test_load_image_rejects_bad_input(tmp_path):
    with pytest.raises(ImageDecodeError):
        load_image(b"")
    with pytest.raises(ImageDecodeError):
        load_image(b"GIF89a-broken")
    with pytest.raises(ImageDecodeError, match="too large"):
        buf = io.BytesIO()
        Image.new("RGB", (200, 200)).save(buf, "PNG")
        load_image(buf.getvalue(), max_pixels=100)
    rgba = Image.new("RGBA", (10, 20), (255, 0, 0, 0))  # transparent -> white background
    assert load_image(rgba).getpixel((5, 5)) == (255, 255, 255)


def test_preprocess_pads_to_square_and_scales():
    img = Image.new("RGB", (60, 80), (0, 0, 0))
    assert square_pad(img).size == (80, 80)
    x = preprocess(img, 224)
    assert x.shape == (3, 224, 224) and x.dtype == np.float32
    assert x.min() >= -1 and x.max() <= 1
    assert x[:, 112, 0].tolist() == [1.0, 1.0, 1.0]  # white padding on the sides
    assert x[:, 112, 112].tolist() == [-1.0, -1.0, -1.0]
