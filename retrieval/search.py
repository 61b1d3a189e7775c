"""Constraint-aware search: dense retrieval, hard filters, soft re-ranking, reasons.

Hard filters apply to what the shopper said explicitly (type, colour, gender, brand, usage,
category, price bounds, exclusions). When they leave nothing, the least important constraints
are dropped one at a time (never exclusions) and the result says which ones. Candidates are
scored by cosine similarity of the query to the products' text and/or photo vectors.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from nlu.constraints import Constraint, ConstraintParser, ParsedQuery
from nlu.encoders import ImageDecodeError, ImageInput
from retrieval.catalog import Product
from retrieval.explain import explain
from retrieval.product_index import ProductIndex

log = logging.getLogger(__name__)

# Dropped first when a request matches nothing; exclusions are never dropped.
RELAX_ORDER = ("usage", "master_category", "sub_category", "brand", "min_price", "max_price", "color",
               "gender", "article_type")
EXACT_LIMIT = 200_000
# Usage ("for work", "gym", "ethnic") is context more than a spec: it re-ranks, never filters
# (exclusions such as "not formal" still filter).
SOFT_FIELDS = {"usage"}  # candidate sets up to this size are scored exactly with numpy


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
                 parser: ConstraintParser | None = None) -> None:
        self.index = index
        self.text_encoder = text_encoder
        self.image_encoder = image_encoder
        self.parser = parser or ConstraintParser(index.vocab)

    @classmethod
    def from_settings(cls, settings, load_image_encoder: bool = True) -> "SearchEngine":
        from nlu.encoders import ImageEncoder, TextEncoder

        index = ProductIndex.load(settings.resolved_index_dir(), settings)
        image = ImageEncoder(settings.image_model) if load_image_encoder else None
        return cls(index, TextEncoder(settings.text_model), image)

    # ------------------------------------------------------------------ public
    def search(self, text: str | None = None, image: ImageInput | None = None, k: int = 10, *,
               parsed: ParsedQuery | None = None, image_vector: np.ndarray | None = None,
               exclude_ids: Sequence[str] = (), weights: dict[str, float] | None = None) -> SearchResult:
        """Search by words, a photo, or both. ``parsed`` replaces parsing ``text`` (the dialogue
        passes its accumulated constraints); ``weights`` = {"text": wt, "image": wi}."""
        t0 = time.perf_counter()
        timings: dict[str, float] = {}
        text = (text or "").strip()
        if parsed is None:
            parsed = self.parser.parse(text)
        timings["parse"] = time.perf_counter() - t0
        if not text and image is None and image_vector is None and parsed.is_empty():
            raise SearchError("empty request: say what you are looking for or send a photo")

        # query vectors
        t = time.perf_counter()
        q_text = self._text_vector(text, parsed)
        q_image = image_vector
        if q_image is None and image is not None:
            if self.image_encoder is None:
                raise SearchError("photo search is not available (no image encoder loaded)")
            try:
                q_image = self.image_encoder.encode([image])[0]
            except ImageDecodeError as e:
                raise SearchError(f"could not use the photo: {e}") from e
        timings["encode"] = time.perf_counter() - t
        w = dict(weights) if weights else self.default_weights(q_text is not None, q_image is not None, parsed)

        # filters with relaxation
        t = time.perf_counter()
        mask, relaxed, message = self._candidates(parsed, exclude_ids)
        timings["filter"] = time.perf_counter() - t

        # scoring
        t = time.perf_counter()
        iids, scores, tsim, isim = self._score(mask, q_text, q_image, w, parsed, k)
        timings["score"] = time.perf_counter() - t

        t = time.perf_counter()
        hits = []
        for j, iid in enumerate(iids):
            p = self.index.products[iid]
            why = explain(p, parsed, text_similarity=None if tsim is None else tsim[j],
                          visual_similarity=None if isim is None else isim[j], weights=w, relaxed=relaxed)
            hits.append(Hit(p, float(scores[j]), why))
        timings["explain"] = time.perf_counter() - t
        timings["total"] = time.perf_counter() - t0
        return SearchResult(hits, parsed, relaxed, message, int(mask.sum()), timings)

    @staticmethod
    def default_weights(has_text: bool, has_image: bool, parsed: ParsedQuery) -> dict[str, float]:
        """Model-level fusion baseline: the photo leads when there is one."""
        if has_text and has_image:
            return {"text": 0.25, "image": 0.75}
        return {"text": 1.0 if has_text else 0.0, "image": 1.0 if has_image else 0.0}

    # ------------------------------------------------------------------ pieces
    def _text_vector(self, text: str, parsed: ParsedQuery) -> np.ndarray | None:
        """Encode the request as the catalog would phrase it: canonical values + leftover words."""
        words = []
        for c in parsed.constraints:
            if not c.negated:
                words.append(c.values[0])
                if c.source == "text" and c.surface and c.surface.lower() not in c.values[0].lower():
                    words.append(c.surface)  # "aviators" says more than "Sunglasses"
        if parsed.residual:
            words.append(parsed.residual)
        query = " ".join(words).strip() or text
        if not query:
            return None
        return self.text_encoder.encode([query])[0]

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

    def _score(self, mask: np.ndarray, q_text: np.ndarray | None, q_image: np.ndarray | None,
               w: dict[str, float], parsed: ParsedQuery, k: int):
        idx = self.index
        n_cand = int(mask.sum())
        if n_cand == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32), None, None
        use_image = q_image is not None and w.get("image", 0) > 0
        use_text = q_text is not None and w.get("text", 0) > 0
        if n_cand == int(idx.alive.sum()) and n_cand > EXACT_LIMIT and not (use_image and use_text):
            return self._score_faiss(q_text if use_text else q_image, "text" if use_text else "image", k)
        cand = np.flatnonzero(mask)
        if use_image:
            cand_img = cand[idx.has_image[cand]]
            if len(cand_img):  # a photo query ranks products that have photos
                cand = cand_img
        score = np.zeros(len(cand), np.float32)
        tsim = isim = None
        # matrix-vector over all rows, then pick: cheaper than copying the candidate rows
        if q_text is not None:
            tsim = (idx.text_matrix @ q_text)[cand]
            score += w.get("text", 0) * tsim
        if q_image is not None:
            isim = (idx.image_matrix @ q_image)[cand]
            score += w.get("image", 0) * isim
        score += self._bonus(cand, parsed)
        top = np.argsort(-score, kind="stable")[:k] if len(cand) <= 4 * k else \
            (lambda p: p[np.argsort(-score[p], kind="stable")])(np.argpartition(-score, k)[:k])
        return cand[top], score[top], None if tsim is None else tsim[top], None if isim is None else isim[top]

    def _score_faiss(self, q: np.ndarray, which: str, k: int):
        vi = self.index.text if which == "text" else self.index.image
        scores, ids = vi.search(q[None, :], k)
        keep = ids[0] >= 0
        sims = scores[0][keep]
        return ids[0][keep], sims, (sims if which == "text" else None), (sims if which == "image" else None)

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
