"""The image -> text projection head on small synthetic data (fast, no files from ../shared)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from nlu.joint import JointConfig, JointSpace, ProjectionHead, info_nce, train_joint

IMG, TXT = 64, 32


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def synthetic(n_products: int = 300, seed: int = 0, img_dim: int = IMG, txt_dim: int = TXT):
    """Image features = a fixed random linear map of the product's text vector + noise; 2 rows/product.

    Row 2p is the "full-res" copy (little noise), row 2p+1 the "low-res" one (more noise). Products
    10..19 share the text of products 0..9 (same title).
    """
    rng = np.random.default_rng(seed)
    text = _unit(rng.normal(size=(n_products, txt_dim)))
    text[10:20] = text[0:10]
    w = rng.normal(size=(txt_dim, img_dim))
    base = text @ w  # (p, img_dim)
    full = base + 1.0 * rng.normal(size=base.shape)
    low = base + 2.0 * rng.normal(size=base.shape)
    x = _unit(np.stack([full, low], 1).reshape(-1, img_dim) + 4.0)  # mostly positive, off-centre like pooled features
    t = np.repeat(text, 2, axis=0)
    groups = np.repeat(np.arange(n_products), 2)
    kind = np.tile(["full", "low"], n_products)
    val = np.isin(groups, rng.permutation(n_products)[: n_products // 5])
    return x, t, groups, val, kind


def small_config(**kw) -> JointConfig:
    base = dict(image_dim=IMG, text_dim=TXT, hidden=128, batch_size=64, max_epochs=12, patience=12)
    base.update(kw)
    return JointConfig(**base)


def test_head_shapes_and_norms():
    head = ProjectionHead(small_config()).eval()
    y = head(torch.randn(5, IMG))
    assert y.shape == (5, TXT)
    torch.testing.assert_close(y.norm(dim=1), torch.ones(5))
    lin = ProjectionHead(small_config(hidden=0))
    assert isinstance(lin.net, torch.nn.Linear)
    assert abs(1 / lin.scale().item() - 0.07) < 1e-6


def test_info_nce_masks_other_positives():
    torch.manual_seed(0)
    img = torch.nn.functional.normalize(torch.randn(6, 8), dim=1)
    txt = torch.nn.functional.normalize(torch.randn(6, 8), dim=1)
    scale = torch.tensor(10.0)
    # every row is the same product: nothing is a negative, the loss is exactly 0
    assert info_nce(img, txt, torch.ones(6, 6, dtype=torch.bool), scale).item() == pytest.approx(0.0, abs=1e-6)
    # masking a pair can only lower the loss
    none = torch.zeros(6, 6, dtype=torch.bool)
    pair = none.clone()
    pair[0, 1] = pair[1, 0] = True
    assert info_nce(img, txt, pair, scale) < info_nce(img, txt, none, scale)


def test_training_learns_and_round_trips(tmp_path: Path):
    x, t, groups, val, kind = synthetic()
    plot = tmp_path / "joint.png"
    space, metrics = train_joint(x, t, groups, val, small_config(), progress=False, plot_path=plot, row_kind=kind)
    hist = metrics["history"]
    assert len(hist) == 12 and metrics["n_val_products"] == 60
    assert hist[-1]["train_loss"] < 0.5 * hist[0]["train_loss"]
    assert hist[-1]["val_loss"] < hist[0]["val_loss"]
    chance = 10 / 60
    untrained = train_joint(x, t, groups, val, small_config(lr=1e-9, max_epochs=1), progress=False,
                            row_kind=kind)[1]
    assert untrained["best_recall_t2i"] < 0.4 and untrained["best_recall_i2t"] < 0.4
    assert metrics["best_recall_t2i"] > 0.8 > 3 * chance
    assert metrics["best_recall_i2t"] > 0.7
    assert plot.exists() and plot.stat().st_size > 1000

    proj = space.project(x[:7])
    assert proj.shape == (7, TXT) and proj.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(proj, axis=1), 1, atol=1e-5)
    assert space.project(np.zeros((0, IMG), np.float32)).shape == (0, TXT)
    with pytest.raises(ValueError):
        space.project(np.zeros((2, IMG + 1), np.float32))

    space.save(tmp_path / "head")
    again = JointSpace.load(tmp_path / "head")
    assert again.config == space.config
    assert again.metrics["best_epoch"] == metrics["best_epoch"]
    np.testing.assert_array_equal(again.project(x), space.project(x))


def test_training_is_reproducible():
    x, t, groups, val, kind = synthetic(n_products=80)
    cfg = small_config(max_epochs=2)
    a, _ = train_joint(x, t, groups, val, cfg, progress=False, row_kind=kind)
    b, _ = train_joint(x, t, groups, val, cfg, progress=False)  # default row kinds: first row is full
    np.testing.assert_array_equal(a.project(x), b.project(x))


def test_load_errors(tmp_path: Path):
    with pytest.raises(FileNotFoundError):
        JointSpace.load(tmp_path / "nothing")
    space = JointSpace(ProjectionHead(small_config()))
    space.save(tmp_path / "head")
    meta_path = tmp_path / "head" / "joint_head.json"
    meta = json.loads(meta_path.read_text())
    meta["config"]["hidden"] = 256  # config no longer matches the weights
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="do not match"):
        JointSpace.load(tmp_path / "head")
    meta["version"] = 99
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="format"):
        JointSpace.load(tmp_path / "head")
