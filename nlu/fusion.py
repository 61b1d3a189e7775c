"""Attention fusion: one query vector from the parts of a request, and how much each part counts.

A request may have up to four parts, each a vector in the joint (text) space:
``text`` (the words), ``photo`` (the shopper's photo through the joint head), ``constraints``
(what the conversation has pinned down so far) and ``reference`` (a product the shopper pointed
at). A learned query attends over the parts that are present; the weights say how much each part
counts for this request, and each part passes through a small learned value map first (so a
photo can lend its shape while the words decide the colour).
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from nlu import checkpoint

log = logging.getLogger(__name__)

PARTS = ("text", "photo", "constraints", "reference")
FORMAT = 1
FORMAT_VERSION = None  # files written so far carry no version
STEM = "fusion"  # fusion.json + fusion.safetensors


@dataclass
class FusionConfig:
    dim: int = 384
    n_parts: int = len(PARTS)
    hidden: int = 128
    temperature: float = 0.05
    lr: float = 3e-3
    weight_decay: float = 1e-4
    batch_size: int = 256
    max_epochs: int = 30
    patience: int = 4
    seed: int = 0


class AttentionFusion(nn.Module):
    """parts (b, P, d) + present mask (b, P) -> fused (b, d) L2-normalised, weights (b, P)."""

    def __init__(self, cfg: FusionConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d, h = cfg.dim, cfg.hidden
        self.part_emb = nn.Parameter(torch.zeros(cfg.n_parts, d))  # which slot a vector came from
        self.key = nn.Linear(d, h)
        self.ctx = nn.Linear(d, h)  # the query depends on the whole request
        self.q0 = nn.Parameter(torch.zeros(h))
        self.value = nn.ModuleList(nn.Linear(d, d) for _ in range(cfg.n_parts))  # per-part residual map
        for v in self.value:
            nn.init.zeros_(v.weight)
            nn.init.zeros_(v.bias)

    def forward(self, parts: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, p, d = parts.shape
        x = parts + self.part_emb[None, :p]  # (b, P, d)
        m = mask.float()[..., None]  # (b, P, 1)
        ctx = (x * m).sum(1) / m.sum(1).clamp(min=1)  # (b, d)
        q = self.q0 + self.ctx(ctx)  # (b, h)
        k = self.key(x)  # (b, P, h)
        logits = torch.einsum("bph,bh->bp", k, q) / math.sqrt(k.shape[-1])  # (b, P)
        logits = logits.masked_fill(~mask, float("-inf"))
        w = torch.softmax(logits, dim=-1)  # (b, P)
        w = torch.nan_to_num(w)  # a request with no parts gives zeros
        v = torch.stack([parts[:, i] + self.value[i](parts[:, i]) for i in range(p)], 1)  # (b, P, d)
        fused = F.normalize(torch.einsum("bp,bpd->bd", w, v), dim=-1)  # (b, d)
        return fused, w


class Fuser:
    """Numpy front of a trained AttentionFusion (no gradients)."""

    def __init__(self, model: AttentionFusion, metrics: dict | None = None) -> None:
        self.model = model.eval()
        self.config = model.cfg
        self.metrics = metrics or {}

    def fuse(self, parts: dict[str, np.ndarray | None]) -> tuple[np.ndarray, dict[str, float]]:
        """{part name: (d,) vector or None} -> fused (d,), {part name: weight} for present parts."""
        x = np.zeros((1, len(PARTS), self.config.dim), np.float32)
        mask = np.zeros((1, len(PARTS)), bool)
        for i, name in enumerate(PARTS):
            v = parts.get(name)
            if v is not None:
                x[0, i], mask[0, i] = v, True
        if not mask.any():
            raise ValueError("nothing to fuse: no part of the request is present")
        with torch.inference_mode():
            fused, w = self.model(torch.from_numpy(x), torch.from_numpy(mask))
        weights = {name: float(w[0, i]) for i, name in enumerate(PARTS) if mask[0, i]}
        return fused[0].numpy(), weights

    def save(self, folder: Path) -> None:
        """Write fusion.json (format, parts, config, metrics) and fusion.safetensors."""
        checkpoint.save(folder, STEM, self.model, {"format": FORMAT, "version": FORMAT_VERSION, "parts": PARTS,
                                                   "config": asdict(self.config), "metrics": self.metrics})

    @classmethod
    def load(cls, folder: Path) -> "Fuser":
        meta = checkpoint.read_meta(folder, STEM, "attention fusion", FORMAT, FORMAT_VERSION, FusionConfig)
        if tuple(meta.get("parts", ())) != PARTS:
            raise ValueError(f"attention fusion: {Path(folder) / STEM}.json fuses other parts: retrain")
        model = AttentionFusion(FusionConfig(**meta["config"]))
        checkpoint.load_weights(folder, STEM, "attention fusion", model)
        return cls(model, meta.get("metrics"))


def train_fusion(parts: np.ndarray, mask: np.ndarray, positives: list[np.ndarray], gallery: np.ndarray,
                 val_mask: np.ndarray, config: FusionConfig = FusionConfig(), progress: bool = True,
                 ) -> tuple[Fuser, dict]:
    """Train on generated requests.

    parts (n, P, d), mask (n, P) bool, positives[i] = gallery rows that answer request i,
    gallery (g, d) product vectors, val_mask (n,) bool held-out requests. Loss: multi-positive
    InfoNCE of the fused vector against the whole gallery. Early stopping on held-out recall@10.
    """
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    torch.set_num_threads(min(2, torch.get_num_threads()))
    model = AttentionFusion(config)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    G = torch.from_numpy(np.ascontiguousarray(gallery, np.float32))  # (g, d)
    X, M = torch.from_numpy(parts.astype(np.float32)), torch.from_numpy(mask)
    pos_mat = torch.zeros(len(parts), len(gallery), dtype=torch.bool)
    for i, p in enumerate(positives):
        pos_mat[i, torch.as_tensor(p, dtype=torch.long)] = True
    train_idx, val_idx = np.flatnonzero(~val_mask), np.flatnonzero(val_mask)
    history: list[dict] = []
    best, best_state, bad = -1.0, None, 0
    epochs = range(config.max_epochs)
    if progress:
        from tqdm.auto import tqdm

        epochs = tqdm(epochs, desc="attention fusion", unit="epoch")
    for epoch in epochs:
        t0 = time.perf_counter()
        model.train()
        perm = np.random.permutation(train_idx)
        losses = []
        for s in range(0, len(perm), config.batch_size):
            bi = torch.from_numpy(perm[s:s + config.batch_size])
            fused, _ = model(X[bi], M[bi])  # (b, d)
            logits = fused @ G.T / config.temperature  # (b, g)
            pos = pos_mat[bi]
            loss = (torch.logsumexp(logits, 1) - torch.logsumexp(logits.masked_fill(~pos, float("-inf")), 1)).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        recall = _recall_at_10(model, X[val_idx], M[val_idx], pos_mat[val_idx], G)
        history.append({"epoch": epoch, "loss": float(np.mean(losses)), "val_recall@10": recall,
                        "seconds": time.perf_counter() - t0})
        if progress:
            epochs.set_postfix(loss=f"{np.mean(losses):.3f}", r10=f"{recall:.3f}")
        if recall > best:
            best, bad = recall, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            bad += 1
            if bad >= config.patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    metrics = {"best_val_recall@10": best, "epochs": len(history), "history": history,
               "n_train": int(len(train_idx)), "n_val": int(len(val_idx)),
               # the feature-level baseline on the same held-out requests: the mean of the parts
               "feature_sum_val_recall@10": feature_sum_recall_at_10(X[val_idx], M[val_idx], pos_mat[val_idx], G)}
    return Fuser(model, metrics), metrics


def _recall_at_10(model: AttentionFusion, X: torch.Tensor, M: torch.Tensor, pos: torch.Tensor, G: torch.Tensor) -> float:
    """Share of requests with at least one right product in the top 10."""
    if len(X) == 0:
        return 0.0
    model.eval()
    with torch.inference_mode():
        fused, _ = model(X, M)
        top = (fused @ G.T).topk(10, dim=1).indices  # (n, 10)
        return float(pos.gather(1, top).any(1).float().mean())


def feature_sum_recall_at_10(X: torch.Tensor, M: torch.Tensor, pos: torch.Tensor, G: torch.Tensor) -> float:
    """:func:`_recall_at_10` of the feature-level fusion (every present part weighs the same)."""
    if len(X) == 0:
        return 0.0
    summed = (X * M.unsqueeze(-1).float()).sum(1)  # (n, d)
    summed = summed / summed.norm(dim=1, keepdim=True).clamp_min(1e-12)
    top = (summed @ G.T).topk(10, dim=1).indices  # (n, 10)
    return float(pos.gather(1, top).any(1).float().mean())
