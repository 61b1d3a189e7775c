"""Four ways to fuse the parts of a request into one ranking, selectable by a setting.

- ``feature``: weighted sum of the part vectors in the joint space, then one similarity.
- ``model``: weighted sum of per-part similarity scores (the photo by its raw visual features).
- ``decision``: reciprocal-rank fusion of per-part rankings.
- ``attention``: a trained module attends over the parts (nlu.fusion) and gives the fused vector
  and per-request weights.

All return similarities over the given candidates and the weight each part got.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

STRATEGIES = ("feature", "model", "decision", "attention")
MODEL_WEIGHTS = {"text": 0.25, "photo": 0.75, "constraints": 0.25, "reference": 0.5}
RRF_K = 60


@dataclass
class QueryParts:
    """What a request holds, as vectors. Joint-space parts are (d_text,), photo_raw is (d_image,)."""

    text: np.ndarray | None = None
    photo: np.ndarray | None = None  # the photo through the joint head (None without a trained head)
    photo_raw: np.ndarray | None = None  # image features
    constraints: np.ndarray | None = None
    reference: np.ndarray | None = None

    def present(self) -> list[str]:
        return [n for n in ("text", "photo", "constraints", "reference") if self._vec(n) is not None]

    def _vec(self, name: str) -> np.ndarray | None:
        if name == "photo":
            return self.photo if self.photo is not None else self.photo_raw
        return getattr(self, name)


def _normalised(w: dict[str, float]) -> dict[str, float]:
    total = sum(w.values())
    return {k: v / total for k, v in w.items()} if total > 0 else w


def similarities(matrix: np.ndarray, q: np.ndarray, cand: np.ndarray) -> np.ndarray:
    """matrix[cand] @ q, reading only the candidate rows when they are a small share."""
    if len(cand) * 4 < len(matrix):
        return matrix[cand] @ q
    return (matrix @ q)[cand]


def part_similarities(parts: QueryParts, text_matrix: np.ndarray, image_matrix: np.ndarray,
                      cand: np.ndarray) -> dict[str, np.ndarray]:
    """Per-part cosine similarities over the candidates (photo: raw visual features)."""
    sims = {}
    for name in ("text", "constraints", "reference"):
        v = getattr(parts, name)
        if v is not None:
            sims[name] = similarities(text_matrix, v, cand)
    if parts.photo_raw is not None:
        sims["photo"] = similarities(image_matrix, parts.photo_raw, cand)
    elif parts.photo is not None:
        sims["photo"] = similarities(text_matrix, parts.photo, cand)
    return sims


def fuse_scores(strategy: str, parts: QueryParts, text_matrix: np.ndarray, image_matrix: np.ndarray,
                cand: np.ndarray, fuser=None, weights: dict[str, float] | None = None,
                ) -> tuple[np.ndarray, dict[str, float], dict[str, np.ndarray]]:
    """(scores over cand, weight per present part, per-part similarities)."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown fusion {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    present = parts.present()
    if not present:
        raise ValueError("nothing to search with")
    sims = part_similarities(parts, text_matrix, image_matrix, cand)
    if strategy == "attention" and fuser is not None and (parts.photo is not None or parts.photo_raw is None):
        q, w = fuser.fuse({n: parts._vec(n) if n != "photo" else parts.photo for n in present})
        return similarities(text_matrix, q, cand), w, sims
    if strategy == "feature" and (parts.photo is not None or parts.photo_raw is None):
        w = _normalised({n: (weights or {}).get(n, 1.0) for n in present})
        q = sum(w[n] * (parts.photo if n == "photo" else getattr(parts, n)) for n in present)
        q = q / max(float(np.linalg.norm(q)), 1e-12)
        return similarities(text_matrix, q, cand), w, sims
    if strategy == "decision" and len(sims) > 1:
        w = _normalised({n: 1.0 for n in sims})
        score = np.zeros(len(cand), np.float32)
        for n, s in sims.items():
            ranks = np.empty(len(s), np.int64)
            ranks[np.argsort(-s, kind="stable")] = np.arange(len(s))
            score += 1.0 / (RRF_K + 1 + ranks)
        return score, w, sims
    # model level (also the fallback when a trained part is missing)
    w = _normalised({n: (weights or MODEL_WEIGHTS).get(n, 1.0) for n in sims})
    score = sum(w[n] * s for n, s in sims.items())
    return np.asarray(score, np.float32), w, sims
