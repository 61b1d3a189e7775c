"""Fusion strategies and the attention module (synthetic vectors, no models)."""
from __future__ import annotations

import numpy as np
import torch

from nlu.encoders import l2_normalise
from nlu.fusion import PARTS, AttentionFusion, Fuser, FusionConfig, train_fusion
from retrieval.composed import Answers, Request, answers, generate
from retrieval.fusion import STRATEGIES, QueryParts, fuse_scores
from tests.fixtures import DEFAULT_ROWS


def gallery(n=200, d=32, seed=0):
    rng = np.random.default_rng(seed)
    return l2_normalise(rng.normal(size=(n, d))), l2_normalise(rng.normal(size=(n, 48)))


def test_attention_shapes_weights_and_round_trip(tmp_path):
    cfg = FusionConfig(dim=32, hidden=16)
    model = AttentionFusion(cfg)
    x = torch.randn(5, len(PARTS), 32)
    mask = torch.tensor([[1, 1, 0, 0], [1, 0, 0, 0], [0, 1, 1, 1], [1, 1, 1, 1], [0, 0, 0, 1]], dtype=torch.bool)
    fused, w = model(x, mask)
    assert fused.shape == (5, 32) and w.shape == (5, len(PARTS))
    torch.testing.assert_close(fused.norm(dim=1), torch.ones(5))
    torch.testing.assert_close(w.sum(1), torch.ones(5))
    assert (w[~mask] == 0).all()
    fuser = Fuser(model, {"note": "x"})
    fuser.save(tmp_path)
    back = Fuser.load(tmp_path)
    parts = {"text": x[0, 0].numpy(), "photo": x[0, 1].numpy()}
    v1, w1 = fuser.fuse(parts)
    v2, w2 = back.fuse(parts)
    np.testing.assert_allclose(v1, v2, atol=1e-6)
    assert w1 == w2 and set(w1) == {"text", "photo"} and back.metrics == {"note": "x"}


def test_strategies_agree_on_single_part_requests():
    T, I = gallery()
    cand = np.arange(len(T))
    fuser = Fuser(AttentionFusion(FusionConfig(dim=32, hidden=16)))  # untrained: value maps are zero
    q = T[7] + 0.1
    q /= np.linalg.norm(q)
    rankings = []
    for strategy in STRATEGIES:
        scores, w, _ = fuse_scores(strategy, QueryParts(text=q), T, I, cand, fuser=fuser)
        assert list(w) == ["text"] and abs(w["text"] - 1) < 1e-6
        rankings.append(list(np.argsort(-scores)[:10]))
    assert all(r == rankings[0] for r in rankings) and rankings[0][0] == 7


def test_model_and_decision_use_both_parts():
    T, I = gallery()
    cand = np.arange(len(T))
    # product 5 is second-best for the words and for the photo; 3 best for words only, 9 for photo only
    text = l2_normalise((T[3] + 0.9 * T[5])[None])[0]
    photo = l2_normalise((I[9] + 0.9 * I[5])[None])[0]
    for strategy in ("model", "decision"):
        scores, w, sims = fuse_scores(strategy, QueryParts(text=text, photo_raw=photo), T, I, cand,
                                      weights={"text": 1.0, "photo": 1.0})
        assert np.argmax(scores) == 5, strategy
        assert set(w) == {"text", "photo"} and set(sims) == {"text", "photo"}


def test_attention_learns_to_take_colour_from_words():
    """Synthetic composed requests: product = type vector + colour vector. The photo carries the
    reference's type and colour, the words a new colour; the answer has the photo's type and the
    words' colour. A plain sum mixes both colours; trained attention should beat it."""
    rng = np.random.default_rng(0)
    d, n_types, n_cols = 32, 8, 6
    tv, cv = rng.normal(size=(n_types, d)), rng.normal(size=(n_cols, d))
    types, cols = np.repeat(np.arange(n_types), n_cols), np.tile(np.arange(n_cols), n_types)
    G = l2_normalise(tv[types] + cv[cols])
    n = 1500
    ref_t, ref_c = rng.integers(0, n_types, n), rng.integers(0, n_cols, n)
    new_c = (ref_c + rng.integers(1, n_cols, n)) % n_cols
    parts = np.zeros((n, len(PARTS), d), np.float32)
    parts[:, 0] = l2_normalise(cv[new_c] + 0.1 * rng.normal(size=(n, d)))
    parts[:, 1] = l2_normalise(tv[ref_t] + 4 * cv[ref_c] + 0.1 * rng.normal(size=(n, d)))  # colour dominates
    mask = np.zeros((n, len(PARTS)), bool)
    mask[:, :2] = True
    positives = [np.array([ref_t[i] * n_cols + new_c[i]]) for i in range(n)]
    val = np.arange(n) >= 1200
    fuser, metrics = train_fusion(parts, mask, positives, G, val, FusionConfig(dim=d, hidden=16, max_epochs=25),
                                  progress=False)
    plain = l2_normalise(parts[val, 0] + parts[val, 1])
    plain_hit = np.mean([(G @ q).argmax() == p[0] for q, p in zip(plain, np.array(positives, dtype=object)[val])])
    fused_hit = np.mean([(G @ fuser.fuse({"text": parts[i, 0], "photo": parts[i, 1]})[0]).argmax() == positives[i][0]
                         for i in np.flatnonzero(val)])
    assert metrics["history"][-1]["loss"] < metrics["history"][0]["loss"]
    assert fused_hit > plain_hit + 0.1, (fused_hit, plain_hit)


def test_generated_requests_have_real_answers():
    rows = [dict(r) for r in DEFAULT_ROWS] + [
        {**DEFAULT_ROWS[0], "id": "x1", "color": "Blue"}, {**DEFAULT_ROWS[0], "id": "x2", "color": "Blue"},
        {**DEFAULT_ROWS[0], "id": "x3", "color": "Blue"}, {**DEFAULT_ROWS[0], "id": "x4", "color": "Red"},
        {**DEFAULT_ROWS[0], "id": "x5", "color": "Red"}]
    iids = np.arange(len(rows))
    reqs = generate(rows, iids, 200, seed=0)
    assert len(reqs) == 200 and {r.kind for r in reqs} >= {"photo", "photo+colour", "text"}
    grouped = Answers(rows, iids)
    for r in reqs + [Request("text", 0, want={"gender": rows[0]["gender"]})]:  # (no type/colour: a full scan)
        got = answers(r, rows, iids)
        assert np.array_equal(grouped(r), got)  # the grouped lookup finds what the brute-force scan finds
        assert all(all(rows[i][k] == v for k, v in r.want.items()) for i in got)
        if r.kind == "photo":
            assert r.ref in got
        if r.kind == "photo+colour":
            assert rows[r.ref]["color"] != r.want["color"] and r.words


def test_feature_sum_recall_matches_a_brute_force_count():
    import torch

    from nlu.fusion import feature_sum_recall_at_10

    rng = np.random.default_rng(3)
    X = rng.normal(size=(30, 4, 8)).astype(np.float32)
    M = rng.random((30, 4)) < 0.6
    M[:, 0] = True
    G = rng.normal(size=(50, 8)).astype(np.float32)
    pos = rng.random((30, 50)) < 0.05
    hits = 0
    for i in range(30):  # the mean of the present parts, its 10 nearest products, any right one?
        q = X[i][M[i]].sum(0)
        top = np.argsort(-(G @ (q / np.linalg.norm(q))))[:10]
        hits += bool(pos[i, top].any())
    got = feature_sum_recall_at_10(torch.from_numpy(X), torch.from_numpy(M), torch.from_numpy(pos), torch.from_numpy(G))
    assert abs(got - hits / 30) < 1e-6 and 0 < got < 1
