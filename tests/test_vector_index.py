"""faiss wrapper: exact search against brute force, approximate recall against flat, updates."""
from __future__ import annotations

import numpy as np
import pytest

from nlu.encoders import l2_normalise
from retrieval.vector_index import VectorIndex


def clustered(n: int, dim: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(20, dim))
    return l2_normalise(centres[rng.integers(0, 20, n)] + 0.4 * rng.normal(size=(n, dim)))


def brute_force(db: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-(q @ db.T), axis=1, kind="stable")[:, :k]


def test_flat_equals_brute_force():
    db, q = clustered(500), clustered(20, seed=1)
    vi = VectorIndex(32)
    vi.add(np.arange(500) + 1000, db)
    scores, ids = vi.search(q, 10)
    np.testing.assert_array_equal(ids, brute_force(db, q, 10) + 1000)
    np.testing.assert_allclose(scores, np.sort(q @ db.T, axis=1)[:, ::-1][:, :10], rtol=1e-5)


@pytest.mark.parametrize("factory, params", [("HNSW32", "efSearch=256"), ("IVF16,Flat", "nprobe=8")])
def test_approximate_recall_against_flat(factory, params):
    db, q = clustered(3000), clustered(50, seed=2)
    flat, approx = VectorIndex(32), VectorIndex(32, factory, params)
    ids = np.arange(3000)
    flat.add(ids, db)
    approx.add(ids, db)
    _, truth = flat.search(q, 10)
    _, got = approx.search(q, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(truth, got)])
    assert recall >= 0.9


@pytest.mark.parametrize("factory", ["Flat", "HNSW16"])
def test_add_replace_remove_without_rebuild(factory):
    db = clustered(100)
    vi = VectorIndex(32, factory)
    vi.add(np.arange(100), db)
    assert vi.remove(np.array([5, 7, 999])) == 2
    assert len(vi) == 98
    _, ids = vi.search(db[5:6], 5)
    assert 5 not in ids[0]
    vi.add(np.array([7]), db[5:6])  # id 7 now holds vector 5
    _, ids = vi.search(db[5:6], 1)
    assert ids[0][0] == 7
    vi.add(np.array([8]), db[5:6])  # replacing an existing id keeps one copy
    assert len(vi) == 99 and list(vi.ids).count(8) == 1
    np.testing.assert_allclose(vi.vectors_for(np.array([8])), db[5:6])


def test_save_load_round_trip(tmp_path):
    db = clustered(200)
    vi = VectorIndex(32, "HNSW16", "efSearch=32")
    vi.add(np.arange(200) * 3, db)
    vi.save(tmp_path / "v")
    back = VectorIndex.load(tmp_path / "v", "HNSW16", "efSearch=32")
    np.testing.assert_array_equal(back.search(db[:5], 5)[1], vi.search(db[:5], 5)[1])


def test_errors_are_clear():
    with pytest.raises(ValueError, match="faiss cannot build"):
        VectorIndex(32, "NoSuchIndex")
    vi = VectorIndex(32)
    with pytest.raises(ValueError, match="shape"):
        vi.add(np.arange(3), np.zeros((2, 32), np.float32))
    scores, ids = vi.search(np.zeros((1, 32), np.float32), 3)
    assert (ids == -1).all()
    with pytest.raises(ValueError, match="name=value"):
        VectorIndex(32, "Flat", "efSearch")


def test_share_rows_holds_the_matrix_itself_only_when_it_is_the_same():
    rng = np.random.default_rng(3)
    db = rng.normal(size=(20, 8)).astype(np.float32)
    db /= np.linalg.norm(db, axis=1, keepdims=True)
    vi = VectorIndex(8)
    vi.add(np.arange(20), db)
    same = db.copy()
    assert vi.share_rows(same) and vi.vectors is same
    np.testing.assert_array_equal(vi.vectors_for(np.array([4, 7])), db[[4, 7]])
    other = VectorIndex(8)
    other.add(np.arange(1, 21), db)  # ids 1..20: row i is not id i
    assert not other.share_rows(db.copy())
    changed = db.copy()
    changed[0] = 0
    fresh = VectorIndex(8)
    fresh.add(np.arange(20), db)
    assert not fresh.share_rows(changed)
    vi.remove(np.array([3]))  # a change makes its own array; the shared matrix is untouched
    assert vi.vectors is not same and len(vi.vectors) == 19 and np.array_equal(same, db)
