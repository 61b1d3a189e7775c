"""Attribute heads and the pixel colour reader on small synthetic data (fast, no files from ../shared)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from nlu.attributes import AttributeConfig, AttributeHeads, train_attributes
from nlu.colour import ColourNamer, background_mask, dominant_colour, rgb_to_lab

DIM = 64
FIELDS = {"article_type": 6, "color": 5, "gender": 3, "usage": 2}


def synthetic(n_products: int = 200, seed: int = 0):
    """Each field's class adds its own random direction to the features; 2 rows (full, low) per product."""
    rng = np.random.default_rng(seed)
    x = 0.5 * rng.normal(size=(n_products, DIM))
    labels: dict[str, list[str]] = {}
    for f, c in FIELDS.items():
        centres = 1.5 * rng.normal(size=(c, DIM))
        y = rng.integers(0, c, n_products)
        x += centres[y]
        labels[f] = [f"{f}-{v}" for v in y]
    labels["usage"][:10] = [""] * 10  # unknown
    full = x + 0.3 * rng.normal(size=x.shape)
    low = x + 0.6 * rng.normal(size=x.shape)
    feats = np.stack([full, low], 1).reshape(-1, DIM) + 3.0
    feats = (feats / np.linalg.norm(feats, axis=1, keepdims=True)).astype(np.float32)
    labels = {f: [v for v in vals for _ in range(2)] for f, vals in labels.items()}
    groups = np.repeat(np.arange(n_products), 2)
    val = np.isin(groups, rng.permutation(n_products)[: n_products // 4])
    kind = np.tile(["full", "low"], n_products)
    return feats, labels, val, kind


def test_heads_learn_separable_classes_and_round_trip(tmp_path: Path):
    x, labels, val, kind = synthetic()
    train_row, val_row = np.flatnonzero(~val)[0], np.flatnonzero(val)[0]
    for i in (train_row, val_row):  # 1 row each side < min_count 3: not predicted, a miss on validation
        labels["article_type"][i] = "Rare Thing"
    cfg = AttributeConfig(epochs=25, batch_size=128, image_dim=DIM)
    heads, metrics = train_attributes(x, labels, val, cfg, progress=False, row_kind=kind)
    assert set(heads.classes) == set(FIELDS)
    assert "Rare Thing" not in heads.classes["article_type"]
    assert len(heads.classes["usage"]) == 2
    for f, m in metrics["fields"].items():
        assert m["accuracy"] > 0.9, (f, m)
        assert m["top3_accuracy"] >= m["accuracy"]
        assert set(m["by_kind"]) == {"full", "low"} and m["by_kind"]["full"]["n"] > 0
    assert metrics["fields"]["article_type"]["n_val_unpredictable"] == 1
    assert metrics["fields"]["usage"]["n_val"] == int((np.array(labels["usage"])[val] != "").sum())

    p = heads.proba(x[:5])
    assert p["color"].shape == (5, 5) and p["color"].dtype == np.float32
    np.testing.assert_allclose(p["gender"].sum(1), 1, atol=1e-5)
    pred = heads.predict(x[:2], top=3)
    assert len(pred) == 2 and len(pred[0]["article_type"]) == 3 and len(pred[0]["usage"]) == 2
    values = [v for v, _ in pred[0]["color"]]
    probs = [q for _, q in pred[0]["color"]]
    assert values[0] == labels["color"][0] and probs == sorted(probs, reverse=True)

    heads.save(tmp_path / "attrs")
    again = AttributeHeads.load(tmp_path / "attrs")
    assert again.classes == heads.classes and again.config == heads.config
    for f in FIELDS:
        np.testing.assert_array_equal(again.proba(x)[f], heads.proba(x)[f])
    json.loads((tmp_path / "attrs" / "attributes.json").read_text())  # metrics are JSON


def test_hidden_heads_and_load_errors(tmp_path: Path):
    x, labels, val, _ = synthetic(n_products=60)
    cfg = AttributeConfig(fields=("color", "gender"), epochs=2, hidden=16, image_dim=DIM)
    heads, metrics = train_attributes(x, labels, val, cfg, progress=False)
    assert set(metrics["fields"]) == {"color", "gender"} and "by_kind" not in metrics["fields"]["color"]
    heads.save(tmp_path / "a")
    np.testing.assert_array_equal(AttributeHeads.load(tmp_path / "a").proba(x)["color"], heads.proba(x)["color"])
    meta_path = tmp_path / "a" / "attributes.json"
    meta = json.loads(meta_path.read_text())
    meta["classes"]["color"] = meta["classes"]["color"][:-1]
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="do not match"):
        AttributeHeads.load(tmp_path / "a")
    with pytest.raises(FileNotFoundError):
        AttributeHeads.load(tmp_path / "missing")


# ------------------------------------------------------------------------------------ colour


def _square(colour: tuple[int, int, int], size: int = 120, inner: int = 60) -> Image.Image:
    img = Image.new("RGB", (size, size), (255, 255, 255))
    o = (size - inner) // 2
    ImageDraw.Draw(img).rectangle([o, o, o + inner - 1, o + inner - 1], fill=colour)
    return img


def test_dominant_colour_of_red_square_ignores_white_background():
    f = dominant_colour(_square((200, 20, 30)))
    assert f.shape == (8,) and f.dtype == np.float32
    L, a, b, share, _, mean_a, _, fg = f
    red = rgb_to_lab(np.array([200, 20, 30]))
    assert abs(L - red[0]) < 5 and abs(a - red[1]) < 5 and a > 40  # red, not white (a ~ 0)
    assert share > 0.9 and mean_a > 40
    assert 0.2 < fg < 0.3  # the 60x60 square is 25% of the photo
    # white inside the product (not touching the border) is kept; the border-connected white is not
    img = _square((20, 20, 160))
    ImageDraw.Draw(img).rectangle([50, 50, 69, 69], fill=(240, 240, 240))
    lab = rgb_to_lab(np.asarray(img.resize((64, 64))))
    assert background_mask(lab)[0, 0] and not background_mask(lab)[32, 32]
    # an all-white photo (a white product on white) is read whole instead of failing
    white = dominant_colour(Image.new("RGB", (50, 70), (250, 250, 250)))
    assert white[0] > 95 and white[7] < 0.02


def test_colour_histogram_counts_the_product_not_the_background():
    from nlu.colour import HIST_DIM, colour_features, colour_histogram

    h = colour_histogram(_square((200, 20, 30)))
    assert h.shape == (HIST_DIM,) and abs(float((h ** 2).sum()) - 1) < 1e-5  # square roots of shares
    assert (h ** 2).max() > 0.9  # one bin: the red square, the white border is not counted
    two = Image.new("RGB", (80, 80), (255, 255, 255))
    ImageDraw.Draw(two).rectangle([10, 10, 69, 39], fill=(20, 40, 180))
    ImageDraw.Draw(two).rectangle([10, 40, 69, 69], fill=(200, 20, 30))
    shares = np.sort(colour_histogram(two) ** 2)[::-1]
    assert 0.35 < shares[0] < 0.65 and 0.35 < shares[1] < 0.65  # half blue, half red
    assert colour_features(two).shape == (8 + HIST_DIM,)


def test_colour_namer_fits_and_round_trips(tmp_path: Path):
    rgb = {"Red": (200, 20, 30), "Blue": (20, 40, 180), "Green": (30, 150, 40), "Black": (15, 15, 15)}
    rng = np.random.default_rng(0)
    feats, names = [], []
    for name, c in rgb.items():
        for _ in range(12):
            jitter = np.clip(np.array(c) + rng.integers(-25, 26, 3), 0, 255)
            feats.append(dominant_colour(_square(tuple(int(v) for v in jitter), size=40, inner=24)))
            names.append(name)
    feats = np.stack(feats)
    names[0] = ""  # unknown: ignored
    for method in ("auto", "knn", "softmax", "mlp"):
        namer = ColourNamer(method=method).fit(feats, names)
        assert namer.classes == sorted(rgb)
        pred = namer.predict(feats[1:], top=2)
        acc = np.mean([p[0][0] == n for p, n in zip(pred, names[1:])])
        assert acc > 0.9, (method, acc)
        assert namer.metrics["method"] in ("knn", "softmax", "mlp")
        namer.save(tmp_path / f"{method}.json")
        again = ColourNamer.load(tmp_path / f"{method}.json")
        np.testing.assert_array_equal(again.proba(feats), namer.proba(feats))
        assert again.predict(feats[:3]) == namer.predict(feats[:3])
    with pytest.raises(FileNotFoundError):
        ColourNamer.load(tmp_path / "none.json")
