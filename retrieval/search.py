"""Constraint-aware search: dense retrieval, hard filters, soft re-ranking, reasons.

Hard filters apply to what the shopper said explicitly (type, colour, gender, brand, usage,
category, price bounds, exclusions). When they leave nothing, the least important constraints
are dropped one at a time (never exclusions) and the result says which ones. Candidates are
scored by cosine similarity of the query to the products' text and/or photo vectors.
"""
from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from nlu.constraints import Constraint, ConstraintParser, ParsedQuery
from nlu.encoders import ImageDecodeError, ImageInput, load_image
from retrieval.catalog import Product
from retrieval.explain import explain
from retrieval.fusion import STRATEGIES, QueryParts, fuse_scores
from retrieval.product_index import ProductIndex
from retrieval.settings import check_photo_zoom

log = logging.getLogger(__name__)

# Dropped first when a request matches nothing; exclusions are never dropped.
RELAX_ORDER = ("usage", "master_category", "sub_category", "brand", "min_price", "max_price", "color",
               "gender", "article_type")
EXACT_LIMIT = 200_000
# Usage ("for work", "gym", "ethnic") is context more than a spec: it re-ranks, never filters
# (exclusions such as "not formal" still filter).
SOFT_FIELDS = {"usage"}  # candidate sets up to this size are scored exactly with numpy


# How much the photo's predicted attributes count (x log-probability), where the words are silent.
PRIOR_WEIGHTS = {"article_type": 0.15, "color": 0.1, "gender": 0.05}


# Neighbours among the catalog's shopper-like photo copies that vote on a photo's type, how
# sharply their similarity counts, and how much their vote weighs against the trained heads.
# Measured on held-out catalog products' low-res copies (photos mirrored as in encode_photo,
# gallery without them): type 0.834 -> 0.837 with the vote; colour would drop 0.617 -> 0.597, so
# colour stays with the heads and the pixel namer. Dev photo queries: 0.48 -> 0.55 nDCG@10.
GALLERY_K, GALLERY_TEMPERATURE, GALLERY_WEIGHT = 25, 0.05, 1.0
# A shopper's photo is read as several views whose features and tail probabilities are averaged:
# itself, its middle PHOTO_ZOOM (sides cut, scaled back to the photo's size) and the mirror image
# of each. On the 955 held-out products' real 60x80 thumbnails (bench_photo_heldout): photo
# nDCG@10 0.621 with the photo and its mirror, 0.632 with the zoomed view too (type 0.848 -> 0.860,
# colour 0.723 -> 0.729); zoom 0.80 / 0.94 / two zooms gave 0.630 / 0.633 / 0.633; a padded
# (zoomed-out) view lowered it (0.618). Each view is one more encoder pass (~20 ms).
PHOTO_ZOOM = 0.88
# With the fine-tuned photo tail reading the photo (same held-out copies, real mirror images):
# type 0.847 alone, 0.850 with the vote at 0.3, 0.843 at 1.0; colour 0.664 alone, 0.711 mixed
# with the pixel namer (heads x pixels: 0.666); type and colour both right 0.561 -> 0.607.
GALLERY_WEIGHT_WITH_TAIL = 0.3
GALLERY_FIELDS = ("article_type",)
# Photos (by content) whose vectors and attributes are kept: each refinement of a photo search
# ("in blue", "cheaper") sends the same photo again, which then costs no encoding.
PHOTO_CACHE_SIZE = 256


class PhotoGallery:
    """The catalog's shopper-like low-resolution photo copies (``<index>/lowres.npz``, written by
    ``python -m retrieval train``) with their products' labels: a shopper's photo asks its nearest
    copies what it is (:meth:`votes`), which complements the trained heads on real small photos."""

    def __init__(self, vectors: np.ndarray, labels: dict[str, np.ndarray]) -> None:
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)  # (n, d_image), L2-normalised
        self.labels = labels  # field -> (n,) values ("" for none)

    @classmethod
    def from_index(cls, index) -> "PhotoGallery | None":
        """None when the copies were never encoded, or none is left; copies of removed products
        are left out."""
        from retrieval.train import LOWRES_FILE

        path = index.path / LOWRES_FILE
        if not path.exists():
            return None
        data = np.load(path)
        ids, vectors = data["ids"], data["vectors"]
        keep = (ids < len(index.alive)) & index.alive[np.minimum(ids, len(index.alive) - 1)]
        if not keep.all():  # (a copy only then: 49 MB at 10k products)
            ids, vectors = ids[keep], vectors[keep]
        if not len(ids):
            return None
        labels = {}
        for f in GALLERY_FIELDS:
            values = np.array(list(index.vocab.values[f]) + [""], dtype=object)
            labels[f] = values[index.codes[f][ids]]  # code -1 (no value) picks ""
        return cls(vectors, labels)

    def votes(self, features: np.ndarray, field: str, classes: Sequence[str], k: int = GALLERY_K,
              temperature: float = GALLERY_TEMPERATURE) -> np.ndarray:
        """(len(classes),) share of the similarity-weighted vote of the ``k`` nearest copies."""
        sims = self.vectors @ np.asarray(features, np.float32)
        k = min(k, len(sims))
        near = np.argpartition(-sims, k - 1)[:k] if k < len(sims) else np.arange(len(sims))
        weights = np.exp((sims[near] - sims[near].max()) / temperature)
        position = {c: i for i, c in enumerate(classes)}
        out = np.zeros(len(classes), np.float64)
        for label, w in zip(self.labels[field][near], weights):
            if label in position:
                out[position[label]] += w
        total = out.sum()
        return out / total if total > 0 else out


class MultimodalModels:
    """The trained parts (joint head, attribute heads, colour namer, attention fusion) and the
    gallery of shopper-like catalog photo copies."""

    def __init__(self, joint, heads, fuser, namer=None, metrics: dict | None = None,
                 gallery: PhotoGallery | None = None, tail=None):
        self.joint, self.heads, self.fuser, self.namer = joint, heads, fuser, namer
        self.metrics = metrics or {}
        self.gallery = gallery
        self.tail = tail  # nlu.photo_tail.PhotoTail, or None (then the heads read photos)

    @classmethod
    def load(cls, folder, index=None) -> "MultimodalModels | None":
        """None when nothing was trained yet (the search then uses plain image features).
        With ``index``, its low-resolution photo copies vote on photo attributes too."""
        import json
        from pathlib import Path

        folder = Path(folder)
        if not (folder / "metrics.json").exists():
            return None
        from nlu.attributes import AttributeHeads
        from nlu.colour import ColourNamer
        from nlu.fusion import Fuser
        from nlu.joint import JointSpace

        metrics = json.loads((folder / "metrics.json").read_text())
        from retrieval.train import MODELS_VERSION

        if metrics.get("models_version") != MODELS_VERSION:
            log.warning("models in %s are version %s, this code needs %s: photo search uses plain image features "
                        "until `python -m retrieval train` runs", folder, metrics.get("models_version"), MODELS_VERSION)
            return None
        namer = ColourNamer.load(folder / "colour_namer.json") if (folder / "colour_namer.json").exists() else None
        gallery = PhotoGallery.from_index(index) if index is not None else None
        from nlu.photo_tail import STEM, PhotoTail

        tail = PhotoTail.load(folder) if (folder / f"{STEM}.json").exists() else None
        return cls(JointSpace.load(folder), AttributeHeads.load(folder), Fuser.load(folder), namer, metrics, gallery,
                   tail)

    def photo_attributes(self, features: np.ndarray, pil=None, maps: np.ndarray | None = None) -> dict:
        """{"proba": {field: (classes, probs)}, "top": {field: [(value, p), ...]}} for one photo:
        the fine-tuned tail's probabilities (views' ``maps`` averaged) or else the heads', the colour
        mixed with the pixel namer's (geometric mean), the type mixed with the vote of the nearest
        catalog photo copies (product of experts)."""
        proba = {}
        if self.tail is not None and maps is not None:
            proba = {f: (self.tail.classes[f], p.mean(axis=0)) for f, p in self.tail.proba(maps).items()}
        if set(self.heads.classes) - set(proba):
            proba = {f: (self.heads.classes[f], p[0]) for f, p in self.heads.proba(features[None]).items()
                     if f not in proba} | proba
        if self.namer is not None and pil is not None:
            # both colour readers: geometric mean of the pixel namer and the head
            from nlu.colour import colour_features

            pixel = dict(zip(self.namer.classes, self.namer.proba(colour_features(pil)[None])[0]))
            head = dict(zip(*proba["color"]))
            classes = sorted(set(pixel) | set(head))
            mix = np.array([np.sqrt((pixel.get(c, 0) + 1e-3) * (head.get(c, 0) + 1e-3)) for c in classes])
            proba["color"] = (classes, (mix / mix.sum()).astype(np.float32))
        if self.gallery is not None:
            weight = GALLERY_WEIGHT_WITH_TAIL if self.tail is not None and maps is not None else GALLERY_WEIGHT
            for f in GALLERY_FIELDS:
                if f in proba:
                    classes, p = proba[f]
                    votes = self.gallery.votes(features, f, classes)
                    logit = np.log(np.asarray(p, np.float64) + 1e-3) + weight * np.log(votes + 0.02)
                    mixed = np.exp(logit - logit.max())
                    proba[f] = (classes, (mixed / mixed.sum()).astype(np.float32))
        top = {f: [(c, round(float(p[j]), 3)) for j in np.argsort(-p)[:3] for c in [classes[j]]]
               for f, (classes, p) in proba.items()}
        return {"proba": proba, "top": top}


class SearchError(ValueError):
    """A request that cannot be searched (empty, or an unreadable photo); the message says why."""


@dataclass
class Hit:
    product: Product
    score: float
    why: dict

    @property
    def reason(self) -> str:
        return self.why["reason"]

    def to_dict(self) -> dict:
        return {"id": self.product.id, "score": round(float(self.score), 5), "why": self.why}


@dataclass
class SearchResult:
    hits: list[Hit]
    parsed: ParsedQuery
    relaxed: list[dict] = field(default_factory=list)
    message: str | None = None
    n_candidates: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    photo: dict | None = None  # what the photo looks like: {"top": {field: [(value, p), ...]}, ...}

    def ids(self) -> list[str]:
        return [h.product.id for h in self.hits]


def describe(c: dict) -> str:
    """'colour Red', 'under $50' ... for messages."""
    if c["field"] == "max_price":
        return f"under ${c['value']:g}"
    if c["field"] == "min_price":
        return f"over ${c['value']:g}"
    return f"{c['field'].replace('_', ' ')} {c['surface'] or c['value']}"


class SearchEngine:
    """Searches one ProductIndex. Encoders come from outside (real or fakes in tests)."""

    def __init__(self, index: ProductIndex, text_encoder, image_encoder=None,
                 parser: ConstraintParser | None = None, models: "MultimodalModels | None" = None,
                 fusion: str = "decision", prior_weights: dict[str, float] | None = None,
                 photo_flip: bool = True, photo_zoom: float | None = PHOTO_ZOOM) -> None:
        self.index = index
        self.photo_flip = photo_flip
        self.photo_zoom = check_photo_zoom(photo_zoom)
        # sha256 of a photo's bytes -> (image vector, joint vector, attributes), least recent first
        self._photo_cache: OrderedDict[str, tuple] = OrderedDict()
        self._photo_lock = threading.Lock()
        self.text_encoder = text_encoder
        self.image_encoder = image_encoder
        self.parser = parser or ConstraintParser(index.vocab)
        self.models = models
        if fusion not in STRATEGIES:
            raise ValueError(f"unknown fusion {fusion!r}; choose one of {', '.join(STRATEGIES)}")
        self.fusion = fusion
        self.prior_weights = dict(PRIOR_WEIGHTS if prior_weights is None else prior_weights)

    @classmethod
    def from_settings(cls, settings, load_image_encoder: bool = True) -> "SearchEngine":
        import torch

        from nlu.encoders import ImageEncoder, TextEncoder

        if settings.torch_threads > 0:
            torch.set_num_threads(settings.torch_threads)

        index = ProductIndex.load(settings.resolved_index_dir(), settings)
        image = ImageEncoder(settings.image_model) if load_image_encoder else None
        models = MultimodalModels.load(index.path / "models", index) if load_image_encoder else None
        return cls(index, TextEncoder(settings.text_model), image, models=models, fusion=settings.fusion,
                   photo_zoom=settings.photo_zoom or None)

    # ------------------------------------------------------------------ public
    def search(self, text: str | None = None, image: ImageInput | None = None, k: int = 10, *,
               parsed: ParsedQuery | None = None, image_vector: np.ndarray | None = None,
               reference_id: str | None = None, exclude_ids: Sequence[str] = (),
               weights: dict[str, float] | None = None, fusion: str | None = None) -> SearchResult:
        """Search by words, a photo, a product pointed at, or any mix.

        ``parsed`` replaces parsing ``text`` (the dialogue passes its accumulated constraints,
        marked source="dialogue"); ``fusion`` picks the strategy (default: the engine's);
        ``weights`` overrides the fixed weights of the feature and model strategies.
        """
        t0 = time.perf_counter()
        timings: dict[str, float] = {}
        text = (text or "").strip()
        if parsed is None:
            parsed = self.parser.parse(text)
        timings["parse"] = time.perf_counter() - t0
        ref_iid = None
        if reference_id is not None:
            ref_iid = self.index.iid(reference_id)
            if ref_iid is None:
                raise SearchError(f"unknown product {reference_id!r}")
        if not text and image is None and image_vector is None and ref_iid is None and parsed.is_empty():
            raise SearchError("empty request: say what you are looking for or send a photo")

        t = time.perf_counter()
        parts, photo = self._parts(text, parsed, image, image_vector, ref_iid)
        timings["encode"] = time.perf_counter() - t

        t = time.perf_counter()
        mask, relaxed, message = self._candidates(parsed, [*exclude_ids, *([reference_id] if reference_id else [])])
        timings["filter"] = time.perf_counter() - t

        t = time.perf_counter()
        iids, scores, sims, w = self._rank(mask, parts, parsed, photo, k, fusion or self.fusion, weights)
        timings["score"] = time.perf_counter() - t

        t = time.perf_counter()
        hits = []
        for j, iid in enumerate(iids):
            p = self.index.products[iid]
            why = explain(p, parsed, text_similarity=sims["text"][j] if "text" in sims else None,
                          visual_similarity=sims["photo"][j] if "photo" in sims else None, weights=w,
                          relaxed=relaxed, photo=photo)
            hits.append(Hit(p, float(scores[j]), why))
        timings["explain"] = time.perf_counter() - t
        timings["total"] = time.perf_counter() - t0
        return SearchResult(hits, parsed, relaxed, message, int(mask.sum()), timings, photo=photo)

    # ------------------------------------------------------------------ pieces
    def encode_photo(self, pil) -> np.ndarray:
        """A shopper's photo as one image vector: the mean of its views' features (:meth:`views`),
        L2-normalised (a shoe pointing left or right is the same shoe). With the mirror image, on
        held-out catalog products' low-res copies the heads read type 0.803 -> 0.834 and colour
        0.578 -> 0.617; each view costs one more forward pass (~20 ms)."""
        return self._encode_views(pil)[0]

    def views(self, pil) -> list:
        """The photo, its middle ``photo_zoom`` scaled back to the photo's size, and the mirror
        image of each (``photo_flip``)."""
        from PIL import Image, ImageOps

        views = [pil]
        if self.photo_zoom is not None:
            w, h = pil.size
            cw, ch = max(1, int(w * self.photo_zoom)), max(1, int(h * self.photo_zoom))
            left, top = (w - cw) // 2, (h - ch) // 2
            zoomed = pil.crop((left, top, left + cw, top + ch))
            # a small photo is scaled back up as measured; a large one is scaled down by the encoder anyway
            views.append(zoomed.resize((w, h), Image.BICUBIC) if max(w, h) <= 512 else zoomed)
        if self.photo_flip:
            views += [ImageOps.mirror(v) for v in views]
        return views

    def _encode_views(self, pil) -> tuple[np.ndarray, np.ndarray | None]:
        """(image vector, maps of each view for the photo tail, or None without a tail)."""
        views = self.views(pil)
        tail = self.models.tail if self.models is not None else None
        if tail is not None:
            vecs, maps = self.image_encoder.encode_tapped(views, tail.config.tap)
        else:
            vecs, maps = self.image_encoder.encode(views), None
        mean = vecs.mean(axis=0)
        return (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32), maps

    def _encode_words(self, words: list[str]) -> np.ndarray | None:
        query = " ".join(w for w in words if w).strip()
        return self.text_encoder.encode([query])[0] if query else None

    def _parts(self, text: str, parsed: ParsedQuery, image, image_vector, ref_iid) -> tuple[QueryParts, dict | None]:
        """The request as vectors: words, photo (raw and joint), earlier constraints, reference."""
        said, pinned = [], []
        for c in parsed.constraints:
            if c.negated:
                continue
            if c.source in ("dialogue", "photo"):
                pinned.append(c.values[0])
                continue
            said.append(c.values[0])
            if c.source == "text" and c.surface and c.surface.lower() not in c.values[0].lower():
                said.append(c.surface)  # "aviators" says more than "Sunglasses"
        if parsed.residual:
            said.append(parsed.residual)
        if not said and text and not parsed.constraints and image is None and image_vector is None:
            said.append(text)
        parts = QueryParts(text=self._encode_words(said), constraints=self._encode_words(pinned))
        if ref_iid is not None:
            parts.reference = self.index.text_matrix[ref_iid]
        photo = None
        if image is not None or image_vector is not None:
            parts.photo_raw, parts.photo, photo = self._photo(image, image_vector)
        return parts, photo

    def _photo(self, image, image_vector) -> tuple[np.ndarray, np.ndarray | None, dict | None]:
        """(image vector, joint-space vector, attributes) of the request's photo; a photo sent
        as bytes again (a refinement of a photo search) comes from the cache, not the encoder."""
        key = hashlib.sha256(image).hexdigest() if image_vector is None and isinstance(image, (bytes, bytearray)) \
            else None
        with self._photo_lock:
            cached = self._photo_cache.get(key) if key else None
            if cached is not None:
                self._photo_cache.move_to_end(key)
        if cached is not None:
            return cached
        pil = maps = None
        if image_vector is None:
            if self.image_encoder is None:
                raise SearchError("photo search is not available (no image encoder loaded)")
            try:
                pil = load_image(image)
                image_vector, maps = self._encode_views(pil)
            except ImageDecodeError as e:
                raise SearchError(f"could not use the photo: {e}") from e
        raw = np.asarray(image_vector, np.float32)
        joint = attributes = None
        if self.models is not None:
            joint = self.models.joint.project(raw[None])[0]
            attributes = self.models.photo_attributes(raw, pil, maps)
        if key:
            with self._photo_lock:
                self._photo_cache[key] = (raw, joint, attributes)
                while len(self._photo_cache) > PHOTO_CACHE_SIZE:
                    self._photo_cache.popitem(last=False)
        return raw, joint, attributes

    def forget_photos(self) -> None:
        """Empty the photo cache (benchmarks measuring new photos)."""
        with self._photo_lock:
            self._photo_cache.clear()

    def _rank(self, mask: np.ndarray, parts: QueryParts, parsed: ParsedQuery, photo: dict | None, k: int,
              fusion: str, weights: dict[str, float] | None):
        idx = self.index
        if not mask.any():
            return np.zeros(0, np.int64), np.zeros(0, np.float32), {}, {}
        cand = np.flatnonzero(mask)
        if parts.photo_raw is not None:
            with_photo = cand[idx.has_image[cand]]
            if len(with_photo):  # a photo query ranks products that have photos
                cand = with_photo
        if not parts.present():  # only prices or exclusions: the matches rank by price preference
            score, w, sims = np.zeros(len(cand), np.float32), {}, {}
        else:
            score, w, sims = fuse_scores(fusion, parts, idx.text_matrix, idx.image_matrix, cand,
                                         fuser=self.models.fuser if self.models else None, weights=weights)
        score = score + self._bonus(cand, parsed)
        if photo is not None:
            score = score + self._photo_prior(cand, parsed, photo)
        top = np.argsort(-score, kind="stable")[:k] if len(cand) <= 4 * k else \
            (lambda p: p[np.argsort(-score[p], kind="stable")])(np.argpartition(-score, k)[:k])
        return cand[top], score[top], {n: s[top] for n, s in sims.items()}, w

    def _photo_prior(self, cand: np.ndarray, parsed: ParsedQuery, photo: dict) -> np.ndarray:
        """log-probability of each candidate's type/colour/gender under the photo's attributes,
        for the attributes the words did not settle."""
        idx = self.index
        prior = np.zeros(len(cand), np.float32)
        for f, weight in self.prior_weights.items():
            if parsed.wanted(f) or f not in photo["proba"]:
                continue
            classes, probs = photo["proba"][f]
            lookup = dict(zip(classes, probs))
            table = np.array([lookup.get(v, 0.0) for v in idx.vocab.values[f]] + [0.0], np.float32)
            codes = idx.codes[f][cand]  # -1 (no value) picks the trailing 0
            prior += weight * np.log(table[codes] + 1e-3)
        return prior

    def _mask(self, parsed: ParsedQuery, drop: set[str], exclude_ids: Sequence[str]) -> np.ndarray:
        idx = self.index
        mask = idx.alive.copy()
        for f, codes in idx.codes.items():
            lookup = idx.code_of[f]
            if f not in drop and f not in SOFT_FIELDS:
                wanted = parsed.wanted(f)
                if wanted:
                    mask &= np.isin(codes, [lookup.get(v, -2) for v in wanted])
            excluded = parsed.excluded(f)
            if excluded:
                mask &= ~np.isin(codes, [lookup.get(v, -2) for v in excluded])
        with np.errstate(invalid="ignore"):
            if parsed.max_price is not None and "max_price" not in drop:
                mask &= idx.price <= parsed.max_price
            if parsed.min_price is not None and "min_price" not in drop:
                mask &= idx.price >= parsed.min_price
        for pid in exclude_ids:
            iid = idx.iid(pid)
            if iid is not None:
                mask[iid] = False
        return mask

    def _present(self, parsed: ParsedQuery) -> list[dict]:
        out = []
        for c in parsed.constraints:
            if not c.negated and c.field not in SOFT_FIELDS and c.field not in {o["field"] for o in out}:
                out.append({"field": c.field, "value": " or ".join(parsed.wanted(c.field)), "surface": c.surface})
        if parsed.min_price is not None:
            out.append({"field": "min_price", "value": parsed.min_price, "surface": ""})
        if parsed.max_price is not None:
            out.append({"field": "max_price", "value": parsed.max_price, "surface": ""})
        return out

    def _candidates(self, parsed: ParsedQuery, exclude_ids: Sequence[str]) -> tuple[np.ndarray, list[dict], str | None]:
        mask = self._mask(parsed, set(), exclude_ids)
        if mask.any():
            return mask, [], None
        present = sorted(self._present(parsed), key=lambda c: RELAX_ORDER.index(c["field"]))
        asked = ", ".join(describe(c) for c in present) or "your request"
        # one constraint at a time, least important first; then cumulatively
        for c in present:
            m = self._mask(parsed, {c["field"]}, exclude_ids)
            if m.any():
                return m, [c], (f"Nothing matches all of {asked}. Without {describe(c)} there are "
                                f"{int(m.sum())}.")
        dropped: list[dict] = []
        for c in present:
            dropped.append(c)
            m = self._mask(parsed, {d["field"] for d in dropped}, exclude_ids)
            if m.any():
                return m, dropped, (f"Nothing matches all of {asked}. Without "
                                    f"{', '.join(describe(d) for d in dropped)} there are {int(m.sum())}.")
        return mask, dropped, f"Nothing in the catalog matches {asked}."

    def _bonus(self, cand: np.ndarray, parsed: ParsedQuery) -> np.ndarray:
        """Soft preferences: the preferred value of a multi-valued constraint, cheap/premium."""
        idx = self.index
        bonus = np.zeros(len(cand), np.float32)
        for f in idx.codes:
            wanted = parsed.wanted(f)
            if f in SOFT_FIELDS and wanted:
                bonus += 0.1 * np.isin(idx.codes[f][cand], [idx.code_of[f].get(v, -2) for v in wanted])
            elif len(wanted) > 1:
                bonus += 0.05 * (idx.codes[f][cand] == idx.code_of[f].get(wanted[0], -2))
        if parsed.price_pref and len(cand) > 1:
            prices = idx.price[cand]
            finite = np.isfinite(prices)
            ranks = np.full(len(cand), 0.5, np.float32)
            if finite.sum() > 1:
                order = np.argsort(np.argsort(prices[finite]))
                ranks[finite] = order / (finite.sum() - 1)
            bonus += 0.3 * ((1 - ranks) if parsed.price_pref == "low" else ranks)
        return bonus


def with_constraints(parsed: ParsedQuery, extra: list[Constraint]) -> ParsedQuery:
    """A copy of parsed with more constraints (photo attributes, dialogue state)."""
    return ParsedQuery(parsed.text, [*parsed.constraints, *extra], parsed.min_price, parsed.max_price,
                       parsed.price_pref, parsed.residual)
