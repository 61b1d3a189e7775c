"""Held-out catalog products: how well each photo reader and mix reads type and colour, and how
attention fusion compares with the feature-level sum, on the served catalog's held-out 10%.

* Photo readers: every held-out product's shopper-like low-res copy (the same copy training
  encoded, seed 0; the models never trained on these products) goes through the query-time path
  (``SearchEngine._encode_views``: the photo, its middle and their mirror images). Accuracy of type and colour from
  the linear heads, the photo tail, the gallery vote of the nearest training copies (held-out
  copies left out of the gallery), the pixel colour namer, and their mixes (geometric means). This
  is how the mixing weights in ``retrieval/search.py`` were chosen.
* Real thumbnails: the same held-out products' own 60x80 thumbnails, where the catalog folder has
  a ``fashion-44k/thumbs.zip`` beside it (the evaluation's query photos are thumbnails of that
  kind, of products outside the catalog). Read only, never trained on: photo search through the
  engine (the product itself excluded, the gallery without held-out copies), scored like
  ``score.py`` (relevant: same article type and colour), with a bootstrap interval. 931 queries
  against the dev set's 40 photo queries: the better estimate of photo nDCG@10. Also composed:
  the same photo with "like this but in <colour>" (another colour the catalog has for its type).
* Fusion: the held-out generated requests of training (``retrieval.train._fusion_data``),
  recall@10 of the fused vector alone (no filters) for attention and for the feature-level sum,
  overall and by which parts a request has.

    .venv/bin/python bench/bench_photo_heldout.py     # needs a trained index (python -m retrieval train)

Writes bench/results/photo_heldout.json and photo_heldout.md.
"""
from __future__ import annotations

import json
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
OUT = ROOT / "bench" / "results"


def _d(classes, p) -> dict:
    return dict(zip(classes, np.asarray(p, np.float64)))


def _mix(*dists: dict, w: list[float] | None = None) -> dict:
    w = w or [1.0] * len(dists)
    keys = set().union(*dists)
    return {c: sum(wi * np.log(d.get(c, 0.0) + 1e-3) for wi, d in zip(w, dists)) for c in keys}


def _top(d: dict) -> str:
    return max(d, key=d.get)


@contextmanager
def held_out_gallery(engine) -> Iterator[np.ndarray]:
    """The engine's type-vote gallery without the held-out products' copies (no held-out copy
    votes for itself) while the block runs; yields the held-out products' rows."""
    from retrieval.search import PhotoGallery
    from retrieval.train import LOWRES_FILE, held_out

    m, idx = engine.models, engine.index
    ids = np.load(idx.path / LOWRES_FILE)["ids"]
    val = np.array([held_out(idx.products[i].id) for i in ids])
    g = m.gallery
    if g is not None:
        m.gallery = PhotoGallery(g.vectors[~val], {f: g.labels[f][~val] for f in g.labels})
    try:
        yield ids[val]
    finally:
        m.gallery = g


def readers(engine) -> dict:
    from PIL import Image

    from nlu.augment import shopper_copy
    from nlu.colour import colour_features

    m, idx = engine.models, engine.index
    rows = []
    with held_out_gallery(engine) as val_ids:
        for i in val_ids:
            p = idx.products[i]
            pil = shopper_copy(Image.open(p.image).convert("RGB"), np.random.default_rng(int(i)))  # training's copy
            vec, maps = engine._encode_views(pil)
            heads = {f: _d(m.heads.classes[f], pr[0]) for f, pr in m.heads.proba(vec[None]).items()}
            tail = {f: _d(m.tail.classes[f], pr.mean(0)) for f, pr in m.tail.proba(maps).items()} \
                if m.tail is not None and maps is not None else None
            pixels = _d(m.namer.classes, m.namer.proba(colour_features(pil)[None])[0]) if m.namer else None
            votes = _d(m.heads.classes["article_type"], m.gallery.votes(vec, "article_type",
                                                                        m.heads.classes["article_type"]) + 0.02)
            rows.append((p.article_type, p.color, heads, tail, pixels, votes))

    def acc(field: str, fn) -> float:
        return round(float(np.mean([fn(r) == (r[0] if field == "type" else r[1]) for r in rows])), 4)

    table = {
        ("type", "heads"): lambda r: _top(r[2]["article_type"]),
        ("type", "heads + vote 1.0 (without tail)"): lambda r: _top(_mix(r[2]["article_type"], r[5])),
        ("colour", "heads"): lambda r: _top(r[2]["color"]),
    }
    if rows and rows[0][4] is not None:
        table[("colour", "pixels")] = lambda r: _top(r[4])
        table[("colour", "heads x pixels (without tail)")] = lambda r: _top(_mix(r[2]["color"], r[4]))
    if rows and rows[0][3] is not None:
        table[("type", "tail")] = lambda r: _top(r[3]["article_type"])
        for w in (0.3, 0.5, 1.0):
            table[("type", f"tail + vote {w}")] = lambda r, w=w: _top(_mix(r[3]["article_type"], r[5], w=[1, w]))
        table[("colour", "tail")] = lambda r: _top(r[3]["color"])
        if rows[0][4] is not None:
            for w in (0.3, 0.5, 1.0):
                table[("colour", f"tail x pixels {w}")] = lambda r, w=w: _top(_mix(r[3]["color"], r[4], w=[1, w]))
    out = {"n": len(rows), "type": {}, "colour": {}}
    for (field, name), fn in table.items():
        out[field][name] = acc(field, fn)
    return out


THUMBS = Path("fashion-44k") / "thumbs.zip"


_GAINS = 1 / np.log2(np.arange(10) + 2)  # DCG discount of ranks 1..10


def _ndcg10(rel: np.ndarray, n_rel: int) -> float:
    """nDCG@10 of a ranked list's relevance flags (rel, up to 10) with n_rel relevant in the catalog."""
    return float((_GAINS[:len(rel)] * rel).sum() / _GAINS[:min(n_rel, 10)].sum())


def thumbnails(engine, catalog_dir: Path, seed: int = 0) -> dict | None:
    """Photo search with the held-out products' real thumbnails (None without thumbs.zip)."""
    import zipfile
    from collections import Counter

    path = Path(catalog_dir).resolve().parent / THUMBS
    if not path.exists():
        return None
    idx = engine.index
    combo = Counter((p.article_type, p.color) for p in idx.products)
    rows, composed, missing = [], [], 0
    rng = np.random.default_rng(seed)
    with held_out_gallery(engine) as val_ids, zipfile.ZipFile(path) as z:
        names = set(z.namelist())
        for i in val_ids:
            p = idx.products[i]
            name = f"images/{p.id}.jpg"
            if name not in names:
                missing += 1
                continue
            photo = z.read(name)
            r = engine.search(image=photo, k=10, exclude_ids=[p.id])
            top = {f: r.photo["proba"][f][0][int(np.argmax(r.photo["proba"][f][1]))] for f in ("article_type", "color")}
            rel = np.array([h.product.article_type == p.article_type and h.product.color == p.color
                            for h in r.hits], bool)
            n_rel = combo[(p.article_type, p.color)] - 1  # the query's own product is excluded
            rows.append((top["article_type"] == p.article_type, top["color"] == p.color,
                         _ndcg10(rel, n_rel) if n_rel > 0 else None,
                         float(rel.mean()) if len(rel) else 0.0, bool(len(rel) and rel[0])))
            # composed: the same photo and another colour the catalog has for this type
            others = sorted(c for t, c in combo if t == p.article_type and c != p.color and c)
            if others:
                colour = others[rng.integers(len(others))]
                r = engine.search(f"like this but in {colour.lower()}", image=photo, k=10, exclude_ids=[p.id])
                rel = np.array([h.product.article_type == p.article_type and h.product.color == colour
                                for h in r.hits], bool)
                composed.append(_ndcg10(rel, combo[(p.article_type, colour)]))
    scored = [r for r in rows if r[2] is not None]
    nd = np.array([r[2] for r in scored])
    boot = np.random.default_rng(seed).choice(nd, (1000, len(nd))).mean(1)
    return {"thumbs": str(path), "n": len(rows), "n_scored": len(scored), "missing": missing,
            "type": round(float(np.mean([r[0] for r in rows])), 4),
            "colour": round(float(np.mean([r[1] for r in rows])), 4),
            "both": round(float(np.mean([r[0] and r[1] for r in rows])), 4),
            "ndcg10": round(float(nd.mean()), 4), "ndcg10_95": [round(float(x), 4) for x in np.percentile(boot, [2.5, 97.5])],
            "p10": round(float(np.mean([r[3] for r in scored])), 4),
            "hit1": round(float(np.mean([r[4] for r in scored])), 4),
            "composed_n": len(composed), "composed_ndcg10": round(float(np.mean(composed)), 4) if composed else None}


def fusion(engine) -> dict:
    import torch

    from nlu.fusion import PARTS, _recall_at_10, feature_sum_recall_at_10
    from retrieval.train import LOWRES_FILE, _fusion_data, held_out

    idx, m = engine.index, engine.models
    low = np.load(idx.path / LOWRES_FILE)
    val_products = {i for i in np.flatnonzero(idx.has_image) if held_out(idx.products[i].id)}
    parts, mask, positives, req_val, gallery_ids = _fusion_data(idx, m.joint, low["ids"], low["vectors"],
                                                               val_products, 30000, engine.text_encoder)
    v = np.flatnonzero(req_val)
    G = torch.from_numpy(np.ascontiguousarray(idx.text_matrix[gallery_ids], np.float32))
    X, M = torch.from_numpy(parts[v]), torch.from_numpy(mask[v])
    pos = torch.zeros(len(v), len(gallery_ids), dtype=torch.bool)
    for k, i in enumerate(v):
        pos[k, torch.as_tensor(positives[i])] = True
    out = {"n": int(len(v)), "attention": round(_recall_at_10(m.fuser.model, X, M, pos, G), 4),
           "feature_sum": round(feature_sum_recall_at_10(X, M, pos, G), 4), "by_parts": {}}
    keys = [" + ".join(PARTS[j] for j in np.flatnonzero(row)) for row in mask[v]]
    for key in sorted(set(keys)):
        s = torch.from_numpy(np.array([k == key for k in keys]))
        out["by_parts"][key] = {"n": int(s.sum()), "attention": round(_recall_at_10(m.fuser.model, X[s], M[s], pos[s], G), 4),
                                "feature_sum": round(feature_sum_recall_at_10(X[s], M[s], pos[s], G), 4)}
    return out


def main() -> int:
    from _common import machine_info

    from retrieval.search import SearchEngine
    from retrieval.settings import Settings

    engine = SearchEngine.from_settings(Settings())
    if engine.models is None:
        print("no trained models: run `.venv/bin/python -m retrieval train` first", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    res = {"readers": readers(engine), "thumbnails": thumbnails(engine, Settings().catalog_dir),
           "fusion": fusion(engine), "seconds": round(time.perf_counter() - t0, 1),
           "machine": machine_info()}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "photo_heldout.json").write_text(json.dumps(res, indent=1))
    r, f = res["readers"], res["fusion"]
    md = ["# Held-out catalog products (the served catalog's 10% the models never trained on)", "",
          f"## Photo readers: accuracy on {r['n']} held-out shopper-like copies (photo, its middle and their mirror images)", "",
          "| field | reader | accuracy |", "|---|---|---|"]
    md += [f"| {field} | {name} | {a:.3f} |" for field in ("type", "colour") for name, a in r[field].items()]
    t = res["thumbnails"]
    if t is not None:
        md += ["", f"## Photo search with {t['n']} held-out products' real 60x80 thumbnails (read, never trained on)", "",
               "Each product's own thumbnail from `fashion-44k/thumbs.zip` as the query photo, the product itself "
               "excluded; relevant: same article type and colour (as `score.py`). The dev set has 40 photo queries.", "",
               "| measure | value |", "|---|---|",
               f"| type top-1 | {t['type']:.3f} |", f"| colour top-1 | {t['colour']:.3f} |",
               f"| type and colour both right | {t['both']:.3f} |",
               f"| nDCG@10 (n={t['n_scored']}) | {t['ndcg10']:.3f} (95% bootstrap {t['ndcg10_95'][0]:.3f}-{t['ndcg10_95'][1]:.3f}) |",
               f"| P@10 | {t['p10']:.3f} |", f"| hit@1 | {t['hit1']:.3f} |"]
        if t.get("composed_n"):
            md += [f"| composed nDCG@10 (\"like this but in <colour>\", another colour the catalog has for the type; "
                   f"relevant: same type, that colour; n={t['composed_n']}) | {t['composed_ndcg10']:.3f} |"]
    md += ["", f"## Fusion: recall@10 of the fused vector alone on {f['n']} held-out generated requests", "",
           "| parts | n | attention | feature-level sum |", "|---|---|---|---|",
           f"| all | {f['n']} | {f['attention']:.3f} | {f['feature_sum']:.3f} |"]
    md += [f"| {k} | {v['n']} | {v['attention']:.3f} | {v['feature_sum']:.3f} |" for k, v in f["by_parts"].items()]
    md += ["", "Reproduce: `.venv/bin/python bench/bench_photo_heldout.py`."]
    (OUT / "photo_heldout.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
