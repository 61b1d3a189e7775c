"""Train the multimodal parts on the served catalog: ``python -m retrieval train``.

Stages (each shows progress; outputs go to ``<index>/models/``):
1. shopper-like low-resolution copies of every catalog photo, encoded once (``<index>/lowres.npz``);
2. the joint space: a projection head from image features into the text space (nlu.joint);
3. photo attributes: type, colour, gender and usage heads (nlu.attributes), the photo tail (the
   image encoder's last blocks fine-tuned for the same fields on the copies' cached block maps,
   with ``TAIL_COPIES`` copies of each training photo, nlu.photo_tail), and a pixel colour namer
   (nlu.colour) on the copies' colour features;
4. attention fusion trained on requests generated from the catalog (retrieval.composed).
Only the served catalog is used, with a held-out 10% of its products for validation.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path

import numpy as np

from retrieval.product_index import ProductIndex
from retrieval.settings import Settings

log = logging.getLogger(__name__)

# Bumped when a trained part changes its inputs or file format (2: colour namer reads a colour
# histogram too; 3: the photo tail, lowres.npz holds the copies' colour features; 4: the photo tail
# trains on TAIL_COPIES copies); models of another version are retrained by `ensure_models`.
MODELS_VERSION = 4
#: The encoded shopper-like copies of the catalog photos, in the index folder (ids + vectors).
LOWRES_FILE = "lowres.npz"
#: ... and the input maps of one block of the image encoder for the same copies (float16).
LOWRES_MAPS_FILE = "lowres_maps_tap{tap}.npy"
#: The block whose input the fine-tuned photo tail starts from (nlu.photo_tail).
TAIL_TAP = 13
#: Shopper-like copies of each training product's photo the photo tail learns from: the copy of
#: lowres.npz and TAIL_COPIES - 1 more (other crops, margins, sizes and JPEG qualities), whose
#: block maps are cached in TAIL_COPY_FILE. 2 against 1, same 6 epochs (so twice the steps),
#: measured on held-out products (bench/bench_photo_heldout.py): tail type 0.861 -> 0.870, colour
#: 0.654 -> 0.681 on their low-res copies; with their real 60x80 thumbnails as query photos, photo
#: nDCG@10 0.603 -> 0.621 and "like this but in <colour>" 0.873 -> 0.879 (about 950 queries each).
#: The dev set's 40 photo queries 0.554 -> 0.560, its 40 composed 0.960 -> 0.935 (one query: a
#: top read as a T-shirt, 0.56 to 0.42). It costs one more encoding pass (~3 min on 2 cores) and
#: doubles the tail's training (290 -> 644 s). The same steps over 2 copies in 3 epochs gave
#: nothing (0.599).
TAIL_COPIES = 2
TAIL_COPY_FILE = "lowres_maps_tap{tap}_copy{copy}.npz"


def held_out(product_id: str, share: float = 0.1) -> bool:
    """A stable split by product id (the same on every machine and run)."""
    return int(hashlib.sha1(product_id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < share


def _copy_rng(seed: int, iid: int) -> np.random.Generator:
    """The random stream of copy ``seed`` of product row ``iid`` (the same on every run)."""
    return np.random.default_rng(seed * 1_000_003 + int(iid))


def lowres_features(index: ProductIndex, image_encoder=None, progress: bool = True, seed: int = 0,
                    tap: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(iids, (n, d_image) features of one shopper-like copy per photo), cached in the index folder.
    With ``tap``, the input maps of that encoder block are kept too (:func:`lowres_maps`)."""
    path = index.path / LOWRES_FILE
    iids = np.flatnonzero(index.has_image)
    maps_path = index.path / LOWRES_MAPS_FILE.format(tap=tap)
    if path.exists() and (tap is None or maps_path.exists()):
        data = np.load(path)
        maps_fit = tap is None or len(np.load(maps_path, mmap_mode="r")) == len(iids)
        if np.array_equal(data["ids"], iids) and "colour" in data.files and maps_fit:
            return data["ids"], data["vectors"]
        log.info("catalog photos changed since %s was written: encoding again", path)
    from nlu.augment import shopper_copy
    from nlu.colour import COLOUR_FEATURES_DIM, colour_features

    if image_encoder is None:
        from nlu.encoders import ImageEncoder
        image_encoder = ImageEncoder(index.manifest["image"]["model"])
    paths = [index.products[i].image for i in iids]
    colours = np.zeros((len(iids), COLOUR_FEATURES_DIM), np.float32)  # the pixel colour namer's input

    def copy(img, i: int):
        out = shopper_copy(img, _copy_rng(seed, iids[i]))
        colours[i] = colour_features(out)
        return out
    if tap is None:
        vecs, _ = image_encoder.encode_files(paths, progress=progress, transform=copy)
    else:
        vecs, _, maps = image_encoder.encode_files(paths, progress=progress, transform=copy, tap=tap)
        np.save(maps_path, maps)
    np.savez(path, ids=iids, vectors=vecs, colour=colours)
    return iids, vecs


def lowres_maps(index: ProductIndex, tap: int) -> np.ndarray:
    """(n, C, h, w) float16 input maps of block ``tap`` for the copies of :func:`lowres_features`
    (memory-mapped)."""
    return np.load(index.path / LOWRES_MAPS_FILE.format(tap=tap), mmap_mode="r")


def tail_copy_maps(index: ProductIndex, iids: np.ndarray, copy: int, tap: int, image_encoder,
                   progress: bool = True) -> np.ndarray:
    """(len(iids), C, h, w) float16 input maps of block ``tap`` for another shopper-like copy
    (number ``copy`` >= 1; copy 0 is :func:`lowres_features`'s) of each of ``iids``' photos, for
    the photo tail. Cached in the index folder (``TAIL_COPY_FILE``) and encoded again when the
    rows differ."""
    from nlu.augment import shopper_copy

    if copy < 1:
        raise ValueError("copy 0 is lowres_features' copy")
    iids = np.asarray(iids, np.int64)
    path = index.path / TAIL_COPY_FILE.format(tap=tap, copy=copy)
    if path.exists():
        with np.load(path) as data:
            if np.array_equal(data["ids"], iids):
                return data["maps"]
        log.info("catalog photos changed since %s was written: encoding again", path)
    _, _, maps = image_encoder.encode_files([index.products[i].image for i in iids], progress=progress,
                                            transform=lambda img, i: shopper_copy(img, _copy_rng(copy, iids[i])),
                                            tap=tap)
    np.savez(path, ids=iids, maps=maps)
    return maps


def train_all(settings: Settings, progress: bool = True, image_encoder=None, text_encoder=None,
              fusion_requests: int = 30000, quick: bool = False, tail: bool | None = None) -> dict:
    """Run every stage; returns the metrics written to models/metrics.json. ``tail``: fine-tune
    the photo tail (nlu.photo_tail); None = when the image encoder can (the real one can)."""
    from nlu.attributes import AttributeConfig, train_attributes
    from nlu.fusion import FusionConfig, train_fusion
    from nlu.joint import JointConfig, train_joint

    t_start = time.perf_counter()
    index = ProductIndex.load(settings.resolved_index_dir(), settings)
    out = index.path / "models"
    out.mkdir(exist_ok=True)
    metrics: dict = {"catalog": index.manifest["catalog"]["name"], "seconds": {}}

    if image_encoder is None:
        from nlu.encoders import ImageEncoder
        image_encoder = ImageEncoder(index.manifest["image"]["model"])
    if tail is None:
        tail = hasattr(image_encoder, "network") and hasattr(image_encoder, "encode_tapped")
    t = time.perf_counter()
    low_ids, low_vecs = lowres_features(index, image_encoder, progress, tap=TAIL_TAP if tail else None)
    metrics["seconds"]["lowres_features"] = time.perf_counter() - t

    # rows: full-res and low-res features of every product with a photo
    full_ids = np.flatnonzero(index.has_image)
    feats = np.concatenate([index.image_matrix[full_ids], low_vecs])
    groups = np.concatenate([full_ids, low_ids])
    kind = np.array(["full"] * len(full_ids) + ["low"] * len(low_ids))
    val_products = {i for i in full_ids if held_out(index.products[i].id)}
    val_mask = np.array([g in val_products for g in groups])
    metrics["split"] = {"products": int(len(full_ids)), "held_out_products": len(val_products), "rows": int(len(groups))}

    t = time.perf_counter()
    jcfg = JointConfig(image_dim=feats.shape[1], text_dim=index.text_matrix.shape[1],
                       max_epochs=3 if quick else JointConfig.max_epochs)
    joint, jhist = train_joint(feats, index.text_matrix[groups], groups, val_mask, jcfg, progress=progress,
                               plot_path=out / "joint_curve.png", row_kind=kind)
    joint.save(out)
    metrics["joint"] = joint.metrics
    metrics["seconds"]["joint"] = time.perf_counter() - t

    t = time.perf_counter()
    acfg = AttributeConfig(image_dim=feats.shape[1], epochs=3 if quick else AttributeConfig.epochs)
    labels = {f: [getattr(index.products[g], f) for g in groups] for f in acfg.fields}
    heads, ametrics = train_attributes(feats, labels, val_mask, acfg, progress=progress, row_kind=kind)
    heads.save(out)
    metrics["attributes"] = ametrics
    metrics["seconds"]["attributes"] = time.perf_counter() - t

    tail_file = out / "photo_tail.json"
    if tail:
        from nlu.photo_tail import TailConfig, train_tail

        t = time.perf_counter()
        tcfg = TailConfig(arch=index.manifest["image"]["model"], tap=TAIL_TAP,
                          epochs=1 if quick else TailConfig.epochs, min_count=1 if quick else TailConfig.min_count)
        low_val = np.array([i in val_products for i in low_ids])
        train_ids = low_ids[~low_val]  # more copies of the training products only
        t_copies = time.perf_counter()
        maps = [lowres_maps(index, TAIL_TAP)] + [tail_copy_maps(index, train_ids, k, TAIL_TAP, image_encoder, progress)
                                                for k in range(1, TAIL_COPIES)]
        metrics["seconds"]["tail_copies"] = time.perf_counter() - t_copies
        tail_ids = np.concatenate([low_ids] + [train_ids] * (len(maps) - 1))
        tail_val = np.concatenate([low_val] + [np.zeros(len(train_ids), bool)] * (len(maps) - 1))
        tail_labels = {f: [getattr(index.products[i], f) for i in tail_ids] for f in tcfg.fields}
        photo_tail, tmetrics = train_tail(np.concatenate(maps) if len(maps) > 1 else maps[0], tail_labels, tail_val,
                                          image_encoder.network, tcfg, progress=progress,
                                          plot_path=out / "photo_tail_curve.png")
        photo_tail.save(out)
        metrics["photo_tail"] = tmetrics | {"copies": len(maps)}
        metrics["seconds"]["photo_tail"] = time.perf_counter() - t - metrics["seconds"]["tail_copies"]
    elif tail_file.exists():  # an old tail must not outlive the heads it was measured with
        tail_file.unlink()
        tail_file.with_suffix(".safetensors").unlink(missing_ok=True)

    t = time.perf_counter()
    metrics["colour"] = _train_colour(index, low_ids, val_products, heads, low_vecs, out)
    metrics["seconds"]["colour"] = time.perf_counter() - t

    t = time.perf_counter()
    n_requests = min(fusion_requests // (10 if quick else 1), 20 * len(full_ids))
    parts, mask, positives, req_val, gallery_ids = _fusion_data(index, joint, low_ids, low_vecs, val_products,
                                                               n_requests, text_encoder)
    fcfg = FusionConfig(dim=index.text_matrix.shape[1], max_epochs=2 if quick else FusionConfig.max_epochs)
    fuser, fmetrics = train_fusion(parts, mask, positives, index.text_matrix[gallery_ids], req_val, fcfg,
                                   progress=progress)
    fuser.save(out)
    metrics["fusion"] = {k: v for k, v in fmetrics.items() if k != "history"} | {"history": fmetrics["history"]}
    metrics["seconds"]["fusion"] = time.perf_counter() - t
    metrics["seconds"]["total"] = time.perf_counter() - t_start
    metrics["index_checksum"] = index.manifest["catalog"]["checksum"]
    metrics["models_version"] = MODELS_VERSION
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1, default=float))
    return metrics


def _train_colour(index, low_ids, val_products, heads, low_vecs, out: Path) -> dict:
    """Pixel colour namer vs the colour head, on held-out low-resolution copies; keep the better."""
    from nlu.colour import ColourNamer

    data = np.load(index.path / LOWRES_FILE)  # colour features of the same copies (lowres_features)
    if not np.array_equal(data["ids"], low_ids):
        raise RuntimeError(f"{index.path / LOWRES_FILE} changed during training")
    rows = list(data["colour"])
    labels = [index.products[i].color for i in low_ids]
    is_val = [i in val_products for i in low_ids]
    X, is_val = np.stack(rows), np.array(is_val)
    namer = ColourNamer().fit(X[~is_val], [lab for lab, v in zip(labels, is_val) if not v])
    pred = [row[0][0] for row in namer.predict(X[is_val], top=1)] if is_val.any() else []
    val_labels = [lab for lab, v in zip(labels, is_val) if v]
    pixel_acc = float(np.mean([p == t for p, t in zip(pred, val_labels)])) if val_labels else 0.0
    proba = heads.proba(low_vecs[is_val])["color"] if is_val.any() else np.zeros((0, 1))
    head_pred = [heads.classes["color"][j] for j in proba.argmax(1)]
    head_acc = float(np.mean([p == t for p, t in zip(head_pred, val_labels)])) if val_labels else 0.0
    namer.save(out / "colour_namer.json")
    choice = "pixels" if pixel_acc > head_acc else "head"
    return {"pixel_accuracy_lowres": pixel_acc, "head_accuracy_lowres": head_acc, "chosen": choice}


def _fusion_data(index, joint, low_ids, low_vecs, val_products, n: int, text_encoder):
    from nlu.fusion import PARTS
    from retrieval.composed import Answers, generate

    if text_encoder is None:
        from nlu.encoders import TextEncoder
        text_encoder = TextEncoder(index.manifest["text"]["model"])
    rows = [p.to_dict() if p is not None else {} for p in index.products]
    low_pos = {int(i): j for j, i in enumerate(low_ids)}
    train_p = np.array([i for i in low_ids if i not in val_products])
    val_p = np.array([i for i in low_ids if i in val_products])
    reqs = generate(rows, train_p, n, seed=1) + generate(rows, val_p, max(200, n // 10), seed=2)
    is_val = np.array([r.ref in val_products for r in reqs])
    words = sorted({r.words for r in reqs if r.words} | {r.constraint_words for r in reqs if r.constraint_words})
    from nlu.constraints import ConstraintParser

    parser = ConstraintParser(index.vocab)
    cleaned = {}
    for w in words:  # encode what the search encodes: canonical values and leftover words
        q = parser.parse(w)
        cleaned[w] = " ".join([c.values[0] for c in q.constraints if not c.negated] + [q.residual]).strip() or w
    vec = dict(zip(words, text_encoder.encode([cleaned[w] for w in words])))
    photos = joint.project(low_vecs)
    gallery_ids = np.flatnonzero(index.alive)
    gpos = {int(i): j for j, i in enumerate(gallery_ids)}
    d = index.text_matrix.shape[1]
    parts = np.zeros((len(reqs), len(PARTS), d), np.float32)
    mask = np.zeros((len(reqs), len(PARTS)), bool)
    positives = []
    answer = Answers(rows, gallery_ids)
    for k, r in enumerate(reqs):
        if r.words:
            parts[k, 0], mask[k, 0] = vec[r.words], True
        if r.use_photo:
            parts[k, 1], mask[k, 1] = photos[low_pos[r.ref]], True
        if r.constraint_words:
            parts[k, 2], mask[k, 2] = vec[r.constraint_words], True
        if r.use_reference:
            parts[k, 3], mask[k, 3] = index.text_matrix[r.ref], True
        positives.append(np.array([gpos[i] for i in answer(r)], np.int64))
    keep = np.array([len(p) > 0 for p in positives])
    return parts[keep], mask[keep], [p for p, k in zip(positives, keep) if k], is_val[keep], gallery_ids

