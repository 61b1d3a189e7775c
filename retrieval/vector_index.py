"""A faiss index described by a factory string and search parameters, keyed by int64 ids.

Vectors are L2-normalised, so inner product is cosine similarity. The raw vectors are kept too
(for filtered exact scoring and for rebuilding), which lets ids be added, replaced and removed
without a full rebuild, whatever the index type.
"""
from __future__ import annotations

import logging
from pathlib import Path

import faiss
import numpy as np

log = logging.getLogger(__name__)


def _parse_params(params: str) -> dict[str, float]:
    """'efSearch=64,nprobe=16' -> {'efSearch': 64, 'nprobe': 16}."""
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in params.split(","))):
        key, _, value = part.partition("=")
        if not value:
            raise ValueError(f"bad faiss search parameter {part!r}; expected name=value")
        out[key.strip()] = float(value)
    return out


class VectorIndex:
    """faiss index (IndexIDMap2 around the factory's index) plus the vectors it holds."""

    def __init__(self, dim: int, factory: str = "Flat", params: str = "") -> None:
        self.dim = dim
        self.factory = factory
        self.params = params
        self._index = self._new_index()
        self._vectors = np.zeros((0, dim), np.float32)
        self._ids = np.zeros((0,), np.int64)

    def _new_index(self) -> faiss.Index:
        try:
            base = faiss.index_factory(self.dim, self.factory, faiss.METRIC_INNER_PRODUCT)
        except RuntimeError as e:
            raise ValueError(f"faiss cannot build index {self.factory!r}: {e}") from e
        self._apply_params(base)
        return faiss.IndexIDMap2(base)

    def _apply_params(self, index: faiss.Index) -> None:
        if not self.params:
            return
        ps = faiss.ParameterSpace()
        for key, value in _parse_params(self.params).items():
            ps.set_index_parameter(index, key, value)

    # ------------------------------------------------------------------ contents
    def __len__(self) -> int:
        return int(self._index.ntotal)

    @property
    def ids(self) -> np.ndarray:
        return self._ids

    @property
    def vectors(self) -> np.ndarray:
        """(n, dim) vectors in the order of ``ids``."""
        return self._vectors

    def share_rows(self, matrix: np.ndarray) -> bool:
        """Hold the vectors as ``matrix`` itself instead of a copy, when the ids are exactly
        0..n-1 and ``matrix`` holds the same vectors by id (a search process's dense matrix);
        True when shared. Later changes (add, remove) make a fresh array as before."""
        n = len(self._ids)
        if (matrix.shape != self._vectors.shape or matrix.dtype != self._vectors.dtype
                or not np.array_equal(self._ids, np.arange(n)) or not np.array_equal(matrix, self._vectors)):
            return False
        self._vectors = matrix
        return True

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors under new ids (an existing id is replaced)."""
        ids = np.asarray(ids, np.int64)
        vectors = np.ascontiguousarray(vectors, np.float32)
        if vectors.shape != (len(ids), self.dim):
            raise ValueError(f"expected vectors of shape ({len(ids)}, {self.dim}), got {vectors.shape}")
        if len(ids) == 0:
            return
        present = np.isin(ids, self._ids)
        if present.any():
            self.remove(ids[present])
        base = faiss.downcast_index(self._index.index)
        if not base.is_trained:
            self._train(np.concatenate([self._vectors, vectors]))
        self._index.add_with_ids(vectors, ids)
        self._vectors = np.concatenate([self._vectors, vectors])
        self._ids = np.concatenate([self._ids, ids])

    def _train(self, sample: np.ndarray) -> None:
        base = faiss.downcast_index(self._index.index)
        log.info("training faiss %s on %d vectors", self.factory, len(sample))
        base.train(sample)

    def remove(self, ids: np.ndarray) -> int:
        """Remove ids; returns how many were there."""
        ids = np.asarray(ids, np.int64)
        keep = ~np.isin(self._ids, ids)
        removed = int((~keep).sum())
        if not removed:
            return 0
        self._vectors, self._ids = self._vectors[keep], self._ids[keep]
        try:
            self._index.remove_ids(faiss.IDSelectorBatch(ids))
        except RuntimeError:  # some index types (HNSW) cannot remove: rebuild from the kept vectors
            self._index = self._new_index()
            if len(self._ids):
                base = faiss.downcast_index(self._index.index)
                if not base.is_trained:
                    base.train(self._vectors)
                self._index.add_with_ids(self._vectors, self._ids)
        return removed

    # ------------------------------------------------------------------ search
    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """queries (m, dim) -> (scores (m, k), ids (m, k)); missing slots have id -1."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), np.float32)
        if len(self) == 0:
            return np.full((len(queries), k), -np.inf, np.float32), np.full((len(queries), k), -1, np.int64)
        scores, ids = self._index.search(queries, k)
        return scores, ids

    def vectors_for(self, ids: np.ndarray) -> np.ndarray:
        """Stored vectors of the given ids (KeyError for an unknown id)."""
        pos = self._positions(ids)
        return self._vectors[pos]

    def _positions(self, ids: np.ndarray) -> np.ndarray:
        order = np.argsort(self._ids)
        ids = np.asarray(ids, np.int64)
        pos = np.searchsorted(self._ids[order], ids)
        pos = np.clip(pos, 0, max(len(order) - 1, 0))
        if len(ids) and (len(order) == 0 or not np.array_equal(self._ids[order][pos], ids)):
            raise KeyError("unknown ids")
        return order[pos]

    # ------------------------------------------------------------------ files
    def save(self, path: str | Path) -> None:
        """Writes <path>.faiss and <path>.npz (ids + vectors)."""
        path = Path(path)
        faiss.write_index(self._index, str(path.with_suffix(".faiss")))
        np.savez(path.with_suffix(".npz"), ids=self._ids, vectors=self._vectors)

    @classmethod
    def load(cls, path: str | Path, factory: str, params: str = "") -> "VectorIndex":
        path = Path(path)
        data = np.load(path.with_suffix(".npz"))
        vi = cls(int(data["vectors"].shape[1]), factory, params)
        vi._index = faiss.read_index(str(path.with_suffix(".faiss")))
        vi._apply_params(faiss.downcast_index(vi._index.index))
        vi._ids, vi._vectors = data["ids"], data["vectors"]
        if len(vi._ids) != vi._index.ntotal:
            raise ValueError(f"{path}: faiss holds {vi._index.ntotal} vectors but the npz {len(vi._ids)}")
        return vi
