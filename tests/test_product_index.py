"""Building, updating and loading an index folder (fake encoders, tiny catalog)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from retrieval.product_index import IndexMismatchError, ProductIndex, build_index
from tests.fakes import FakeImageEncoder, FakeTextEncoder
from tests.fixtures import DEFAULT_ROWS, make_catalog, write_csv


def test_build_writes_the_folder_contract(tiny_settings, encoders):
    report = build_index(tiny_settings, progress=False, text_encoder=encoders[0], image_encoder=encoders[1])
    out = tiny_settings.resolved_index_dir()
    for name in ("manifest.json", "products.jsonl", "text.faiss", "text.npz", "image.faiss", "image.npz",
                 "vocabulary.json", "issues.jsonl"):
        assert (out / name).exists(), name
    m = json.loads((out / "manifest.json").read_text())
    assert m["text"] == {"model": "fake-text", "dim": 256}
    assert m["image"]["model"] == "fake-image" and m["image"]["n_with_image"] == len(DEFAULT_ROWS)
    assert m["faiss"]["factory"] == "Flat"
    assert len(m["catalog"]["checksum"]) == 64 and m["catalog"]["n_products"] == len(DEFAULT_ROWS)
    assert report.full and report.added == len(DEFAULT_ROWS)


def test_index_vectors_match_encoder(tiny_index, encoders):
    from retrieval.product_index import product_text

    p = tiny_index.get("1009")
    iid = tiny_index.iid("1009")
    np.testing.assert_allclose(tiny_index.text_matrix[iid], encoders[0].encode([product_text(p)])[0], rtol=1e-5)
    assert "Jeans" in product_text(p) and p.title in product_text(p)


def test_incremental_update_encodes_only_changes(tmp_path, tiny_settings, tiny_catalog):
    build_index(tiny_settings, progress=False, text_encoder=FakeTextEncoder(), image_encoder=FakeImageEncoder())
    rows = [dict(r) for r in DEFAULT_ROWS if r["id"] != "1002"]  # removed
    rows[0]["price"] = 99.0  # 1001 changed
    rows.append({**DEFAULT_ROWS[1], "id": "2001", "title": "Puma Men Grey Polo Tshirts", "color": "Grey"})
    make_catalog(tiny_catalog.parent, rows, name=tiny_catalog.name)
    te = FakeTextEncoder()
    report = build_index(tiny_settings, progress=False, text_encoder=te, image_encoder=FakeImageEncoder())
    assert not report.full
    assert (report.added, report.updated, report.removed) == (1, 1, 1)
    assert te.encoded == 2
    idx = ProductIndex.load(tiny_settings.resolved_index_dir(), tiny_settings)
    assert idx.get("1002") is None and idx.get("2001") is not None and idx.get("1001").price == 99.0
    assert len(idx) == len(DEFAULT_ROWS)
    # the same vectors as a full rebuild
    full = build_index(tiny_settings.model_copy(update={"index_dir": tmp_path / "full"}), progress=False,
                       text_encoder=FakeTextEncoder(), image_encoder=FakeImageEncoder())
    assert full.full
    idx2 = ProductIndex.load(tmp_path / "full", tiny_settings.model_copy(update={"index_dir": tmp_path / "full"}))
    for pid in ("1001", "2001", "1024"):
        np.testing.assert_allclose(idx.text_matrix[idx.iid(pid)], idx2.text_matrix[idx2.iid(pid)], rtol=1e-5)
    # nothing changed: nothing encoded
    te = FakeTextEncoder()
    report = build_index(tiny_settings, progress=False, text_encoder=te, image_encoder=FakeImageEncoder())
    assert te.encoded == 0 and report.unchanged == len(DEFAULT_ROWS)


def test_loading_with_other_models_or_changed_catalog_fails_clearly(tiny_index, tiny_settings, tiny_catalog):
    with pytest.raises(IndexMismatchError, match="text model 'fake-text'.*all-MiniLM"):
        ProductIndex.load(tiny_settings.resolved_index_dir(),
                          tiny_settings.model_copy(update={"text_model": "all-MiniLM-L6-v2"}))
    with pytest.raises(IndexMismatchError, match="image model"):
        ProductIndex.load(tiny_settings.resolved_index_dir(),
                          tiny_settings.model_copy(update={"image_model": "efficientnet-lite0"}))
    write_csv(tiny_catalog / "products.csv", DEFAULT_ROWS[:5])
    with pytest.raises(IndexMismatchError, match="has changed.*retrieval build"):
        ProductIndex.load(tiny_settings.resolved_index_dir(), tiny_settings)


def test_missing_or_unfinished_index(tmp_path, tiny_settings):
    with pytest.raises(IndexMismatchError, match="retrieval build"):
        ProductIndex.load(tmp_path / "nothing", tiny_settings)


def test_products_without_usable_photos_are_text_only(tmp_path):
    cat = make_catalog(tmp_path, DEFAULT_ROWS[:4])
    (cat / "images" / "1002.jpg").write_bytes(b"not a jpeg at all")
    (cat / "images" / "1003.jpg").unlink()
    from retrieval.settings import Settings

    s = Settings(catalog_dir=cat, index_dir=tmp_path / "ix", text_model="fake-text", image_model="fake-image")
    build_index(s, progress=False, text_encoder=FakeTextEncoder(), image_encoder=FakeImageEncoder())
    idx = ProductIndex.load(tmp_path / "ix", s)
    assert len(idx) == 4 and len(idx.image) == 2
    assert not idx.has_image[idx.iid("1002")] and idx.has_image[idx.iid("1001")]
    issues = (tmp_path / "ix" / "issues.jsonl").read_text()
    assert "1002" in issues and "1003" in issues


def test_hnsw_factory_builds_and_updates(tmp_path, tiny_settings):
    s = tiny_settings.model_copy(update={"faiss_factory": "HNSW16", "faiss_params": "efSearch=32"})
    build_index(s, progress=False, text_encoder=FakeTextEncoder(), image_encoder=FakeImageEncoder())
    idx = ProductIndex.load(s.resolved_index_dir(), s)
    assert idx.manifest["faiss"] == {"factory": "HNSW16", "params": "efSearch=32"}
    _, ids = idx.text.search(idx.text_matrix[idx.iid("1009")][None], 1)
    assert ids[0][0] == idx.iid("1009")
