"""The training pipeline end to end on the tiny catalog with fake encoders (quick mode)."""
from __future__ import annotations

import json

import numpy as np

from retrieval.search import MultimodalModels, SearchEngine
from retrieval.train import held_out, train_all
from tests.fixtures import write_image


def test_train_all_writes_models_and_search_uses_them(tiny_settings, tiny_index, encoders, tmp_path):
    metrics = train_all(tiny_settings, progress=False, image_encoder=encoders[1], text_encoder=encoders[0], quick=True)
    folder = tiny_settings.resolved_index_dir() / "models"
    for name in ("metrics.json", "joint_head.json", "joint_head.safetensors", "attributes.json",
                 "attributes.safetensors", "fusion.json", "fusion.safetensors", "colour_namer.json", "joint_curve.png"):
        assert (folder / name).exists(), name
    assert (tiny_settings.resolved_index_dir() / "lowres.npz").exists()
    saved = json.loads((folder / "metrics.json").read_text())
    assert saved["index_checksum"] == tiny_index.manifest["catalog"]["checksum"]
    assert set(metrics["seconds"]) >= {"lowres_features", "joint", "attributes", "colour", "fusion", "total"}

    models = MultimodalModels.load(folder)
    engine = SearchEngine(tiny_index, encoders[0], encoders[1], models=models, fusion="attention")
    photo = write_image(tmp_path / "q.jpg", "Pink", size=(60, 80))
    for strategy in ("feature", "model", "decision", "attention"):
        res = engine.search("handbags", image=str(photo), k=3, fusion=strategy)
        assert res.hits and all(h.product.article_type == "Handbags" for h in res.hits)
        assert res.photo is not None and "article_type" in res.photo["top"]
        w = res.hits[0].why["weights"]
        assert set(w) == {"text", "photo"} and abs(sum(w.values()) - 1) < 1e-5
    res = engine.search(image=str(photo), k=3)
    assert "photo_attributes" in res.hits[0].why


def test_split_is_stable():
    ids = [str(i) for i in range(2000)]
    share = np.mean([held_out(i) for i in ids])
    assert 0.07 < share < 0.13
    assert [held_out(i) for i in ids[:50]] == [held_out(i) for i in ids[:50]]
