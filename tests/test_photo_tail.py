"""The fine-tuned photo tail: learns, keeps batch-norm frozen, round-trips, and reads real maps."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from nlu.photo_tail import PhotoTail, TailConfig, TailNet, _network, train_tail

FIELDS = ("article_type", "color", "gender", "usage")


def synthetic_maps(n: int = 240, seed: int = 0):
    """Maps (n, 192, 7, 7) whose type shows in some channels and whose colour in others."""
    rng = np.random.default_rng(seed)
    maps = rng.normal(0, 1, size=(n, 192, 7, 7)).astype(np.float32)
    kind = rng.integers(0, 3, n)
    colour = rng.integers(0, 2, n)
    for k in range(3):
        maps[kind == k, 10 * k:10 * k + 10] += 2.0
    maps[colour == 1, 100:110] += 2.0
    labels = {"article_type": [["Shirts", "Jeans", "Watches"][k] for k in kind],
              "color": [["Red", "Blue"][c] for c in colour],
              "gender": ["Men"] * n, "usage": ["Casual" if i % 2 else "" for i in range(n)]}
    return maps.astype(np.float16), labels, np.arange(n) % 5 == 0


@pytest.fixture(scope="module")
def network():
    return _network("efficientnet-lite0")


def test_tail_learns_separable_classes_and_round_trips(network, tmp_path: Path):
    maps, labels, val = synthetic_maps()
    before = {k: v.clone() for k, v in network.state_dict().items()}
    cfg = TailConfig(epochs=3, batch_size=32, lr_body=1e-3, lr_heads=1e-2, min_count=2)
    tail, metrics = train_tail(maps, labels, val, network, cfg, progress=False, plot_path=tmp_path / "curve.png")
    history = metrics["history"]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert metrics["accuracy"]["article_type"] >= 0.9 and metrics["accuracy"]["color"] >= 0.8, metrics["accuracy"]
    assert (tmp_path / "curve.png").stat().st_size > 0
    assert tail.classes["gender"] == ["Men"] and tail.classes["usage"] == ["Casual"]  # "" is no class
    # the encoder it was copied from is untouched
    assert all(torch.equal(before[k], v) for k, v in network.state_dict().items())

    p = tail.proba(maps[:7])
    assert p["article_type"].shape == (7, 3) and np.allclose(p["color"].sum(1), 1, atol=1e-5)
    tail.save(tmp_path)
    again = PhotoTail.load(tmp_path)
    assert again.config == tail.config and again.classes == tail.classes
    assert all(np.allclose(again.proba(maps[:7])[f], p[f], atol=1e-6) for f in p)


def test_batch_norm_statistics_stay_frozen_in_training(network):
    net = TailNet(TailConfig(), {"article_type": 3}, network).train()
    bn = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bn and not any(m.training for m in bn) and net.dropout.training
    stats = [m.running_mean.clone() for m in bn]
    net(torch.randn(4, 192, 7, 7) * 5)["article_type"].sum().backward()
    assert all(torch.equal(a, m.running_mean) for a, m in zip(stats, bn))


def test_bad_inputs_are_refused(network, tmp_path: Path):
    maps, labels, val = synthetic_maps(40)
    with pytest.raises(ValueError, match="one label per row"):
        train_tail(maps, {**labels, "color": labels["color"][:-1]}, val, network, TailConfig(epochs=1))
    with pytest.raises(ValueError, match="no class"):
        train_tail(maps, {**labels, "gender": [""] * 40}, val, network, TailConfig(epochs=1))
    with pytest.raises(ValueError, match="tap"):
        TailNet(TailConfig(tap=99), {"article_type": 2}, network)
    with pytest.raises(FileNotFoundError, match="retrieval train"):
        PhotoTail.load(tmp_path)


@pytest.mark.slow
def test_untrained_tail_reproduces_the_encoder_on_real_photos():
    """The encoder's tapped maps through a fresh copy of its tail give the encoder's own features."""
    from nlu.encoders import ImageEncoder
    from tests.fixtures import write_image

    enc = ImageEncoder()
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        photos = [str(write_image(Path(d) / f"{c}.jpg", c, size=(60, 80))) for c in ("Red", "Blue")]
        feats, maps = enc.encode_tapped(photos, 13)
        assert maps.shape == (2, 192, 7, 7) and maps.dtype == np.float16
        assert np.allclose(feats, enc.encode(photos), atol=1e-6)
        vecs, errors, fmaps = enc.encode_files(photos + [None], tap=13)
        assert errors[:2] == [None, None] and errors[2] and not fmaps[2].any()
        assert np.allclose(fmaps[:2].astype(np.float32), maps.astype(np.float32), atol=1e-3)
    net = TailNet(TailConfig(), {"article_type": 2}, enc.network).eval()
    with torch.no_grad():
        z = net.features(torch.from_numpy(maps.astype(np.float32))).numpy()
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    assert np.allclose(z, feats, atol=1e-3)
