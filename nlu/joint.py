"""A projection head from frozen image features into the frozen text space (LiT-style).

No pretrained image-text model is available offline, so we learn one small head that maps
EfficientNet-Lite0 image features (1280-d) into the all-MiniLM-L6-v2 text space (384-d). The text
side stays frozen; the head is trained with a symmetric InfoNCE loss on in-batch negatives.

Rows are (image feature, text vector) pairs. A product contributes several rows (its catalog photo
and shopper-like low-resolution copies); rows of the same product, and rows whose text vectors are
identical (many products share a title), are never negatives of each other: they are removed from
the softmax denominator (the row's own pair stays the single positive).

Arrays in and out follow ``nlu.encoders``: float32, rows L2-normalised, shape (n, d).
"""
from __future__ import annotations

import copy
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

FORMAT = "joint-head"
FORMAT_VERSION = 1
STEM = "joint_head"  # joint_head.json + joint_head.safetensors
SAME_TEXT_COS = 0.999  # text vectors this close are "the same text"
MAX_LOGIT_SCALE = 100.0  # temperature >= 0.01, as in CLIP


@dataclass
class JointConfig:
    image_dim: int = 1280
    text_dim: int = 384
    hidden: int = 1024  # 0 = linear projection; >0 = one hidden layer MLP (GELU, dropout)
    dropout: float = 0.1
    init_temperature: float = 0.07  # learnable logit scale, clamped to [1, 100]
    lr: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 512
    max_epochs: int = 40
    patience: int = 5  # epochs without a better mean recall@10 before stopping
    seed: int = 0


class ProjectionHead(nn.Module):
    """(b, image_dim) image features -> (b, text_dim) unit vectors; holds the logit scale."""

    def __init__(self, config: JointConfig) -> None:
        super().__init__()
        self.config = config
        # input standardisation, fitted on the training rows (the features are non-negative and
        # L2-normalised, so every dimension is tiny and off-centre)
        self.register_buffer("input_mean", torch.zeros(config.image_dim))
        self.register_buffer("input_std", torch.ones(config.image_dim))
        if config.hidden > 0:
            self.net = nn.Sequential(
                nn.Linear(config.image_dim, config.hidden),
                nn.GELU(),
                nn.Dropout(config.dropout),
                nn.Linear(config.hidden, config.text_dim),
            )
        else:
            self.net = nn.Linear(config.image_dim, config.text_dim)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / config.init_temperature)))

    def fit_input_stats(self, x: torch.Tensor) -> None:
        """Set the input standardisation from training features x (n, image_dim)."""
        self.input_mean.copy_(x.mean(0))
        self.input_std.copy_(x.std(0).clamp_min(1e-6))

    def scale(self) -> torch.Tensor:
        """exp(logit_scale), clamped to [1, MAX_LOGIT_SCALE]; 1 / temperature."""
        return self.logit_scale.clamp(0.0, math.log(MAX_LOGIT_SCALE)).exp()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.input_mean) / self.input_std  # (b, image_dim)
        return F.normalize(self.net(x), dim=-1)  # (b, text_dim)


def info_nce(img: torch.Tensor, txt: torch.Tensor, same: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE with in-batch negatives; other positives are masked out of the denominator.

    img, txt: (b, d) unit vectors, row i of each is a pair; same: (b, b) bool, symmetric, True where
    rows i and j are the same product or have the same text (they are then not negatives).
    """
    b = img.shape[0]
    eye = torch.eye(b, dtype=torch.bool, device=img.device)
    logits = scale * img @ txt.T  # (b, b): image i vs text j
    logits = logits.masked_fill(same & ~eye, float("-inf"))
    target = torch.arange(b, device=img.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def _same_mask(gid: torch.Tensor, txt: torch.Tensor) -> torch.Tensor:
    """(b,) group ids, (b, d) text vectors -> (b, b) bool: same product or same text."""
    return (gid[:, None] == gid[None, :]) | (txt @ txt.T > SAME_TEXT_COS)


class JointSpace:
    """A trained projection head: image features -> text space."""

    def __init__(self, head: ProjectionHead, metrics: dict | None = None) -> None:
        self.head = head.eval()
        self.config: JointConfig = head.config
        self.metrics: dict = metrics or {}

    @property
    def temperature(self) -> float:
        return 1.0 / self.head.scale().item()

    def project(self, image_features: np.ndarray, batch_size: int = 4096) -> np.ndarray:
        """(n, image_dim) image features -> (n, text_dim) float32 unit vectors."""
        x = np.asarray(image_features, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.config.image_dim:
            raise ValueError(f"expected image features of shape (n, {self.config.image_dim}), got {x.shape}")
        out = np.zeros((len(x), self.config.text_dim), np.float32)
        self.head.eval()
        with torch.inference_mode():
            for s in range(0, len(x), batch_size):
                out[s:s + batch_size] = self.head(torch.from_numpy(x[s:s + batch_size])).numpy()
        return out

    def save(self, folder: Path) -> None:
        """Write joint_head.json (format, config, metrics) and joint_head.safetensors."""
        checkpoint.save(folder, STEM, self.head, {"format": FORMAT, "version": FORMAT_VERSION,
                                                  "config": asdict(self.config), "metrics": self.metrics})

    @classmethod
    def load(cls, folder: Path) -> "JointSpace":
        """Read a head written by save(); raises FileNotFoundError / ValueError with the reason."""
        meta = checkpoint.read_meta(folder, STEM, "joint head", FORMAT, FORMAT_VERSION, JointConfig)
        config = JointConfig(**meta["config"])
        head = ProjectionHead(config)
        checkpoint.load_weights(folder, STEM, "joint head", head,
                                f"its config (hidden={config.hidden}, dims {config.image_dim}->{config.text_dim})")
        return cls(head, meta.get("metrics", {}))


# ------------------------------------------------------------------------------------ training


def _recall_at_10(q: np.ndarray, cands: np.ndarray, q_prod: np.ndarray, c_prod: np.ndarray,
                  equiv: np.ndarray, k: int = 10) -> float:
    """Share of queries (n, d) with an equivalent product among the top k candidates (m, d)."""
    if len(q) == 0 or len(cands) == 0:
        return float("nan")
    sims = q @ cands.T  # (n, m)
    k = min(k, cands.shape[0])
    top = np.argpartition(-sims, k - 1, axis=1)[:, :k]  # (n, k)
    hits = equiv[q_prod[:, None], c_prod[top]].any(axis=1)
    return float(hits.mean())


class _Validation:
    """Held-out products: text->image and image->text recall@10, and the validation loss."""

    def __init__(self, x: np.ndarray, t: np.ndarray, gid: np.ndarray, is_full: np.ndarray) -> None:
        self.x, self.t, self.gid = x, t, gid
        prods, first, self.row_prod = np.unique(gid, return_index=True, return_inverse=True)
        self.n_products = len(prods)
        self.prod_text = t[first]  # (p, text_dim): one text vector per product
        self.equiv = (self.prod_text @ self.prod_text.T) > SAME_TEXT_COS  # (p, p), diagonal True
        np.fill_diagonal(self.equiv, True)
        self.full_rows = np.flatnonzero(is_full)
        low = np.flatnonzero(~is_full)
        self.low_rows = low if len(low) else np.arange(len(gid))  # no low-res rows: use all rows

    def recalls(self, proj: np.ndarray) -> tuple[float, float]:
        """proj: (n_val, text_dim) projected rows -> (text->image, image->text) recall@10."""
        p = np.arange(self.n_products)
        t2i = _recall_at_10(self.prod_text, proj[self.full_rows], p, self.row_prod[self.full_rows], self.equiv)
        i2t = _recall_at_10(proj[self.low_rows], self.prod_text, self.row_prod[self.low_rows], p, self.equiv)
        return t2i, i2t


def _row_kind_default(gid: np.ndarray) -> np.ndarray:
    """Without row kinds: the first row of each product is full-res, the others low-res."""
    is_full = np.zeros(len(gid), bool)
    is_full[np.unique(gid, return_index=True)[1]] = True
    return is_full


def train_joint(image_features: np.ndarray, text_vectors: np.ndarray, groups: np.ndarray, val_mask: np.ndarray,
                config: JointConfig = JointConfig(), progress: bool = True, plot_path: Path | None = None,
                row_kind: np.ndarray | None = None, threads: int = 1) -> tuple[JointSpace, dict]:
    """Train a projection head; early stopping on the mean of the two held-out recalls@10.

    image_features (n, image_dim), text_vectors (n, text_dim): row i is a pair. groups (n,): the
    product of each row (any hashable dtype). val_mask (n,) bool: rows of held-out products.
    row_kind (n,) of "full"/"low": which rows are catalog photos; default: the first row of each
    product is "full", the others "low". threads: torch CPU threads while training (at most 2; on a
    busy machine 1 is several times faster than 2, OpenMP threads spin against other jobs).
    Returns (JointSpace with the best weights, metrics); metrics["history"] has one dict per epoch.
    """
    x_all = np.ascontiguousarray(image_features, dtype=np.float32)
    t_all = np.ascontiguousarray(text_vectors, dtype=np.float32)
    n = len(x_all)
    if x_all.shape != (n, config.image_dim) or t_all.shape != (n, config.text_dim):
        raise ValueError(f"expected ({n}, {config.image_dim}) image and ({n}, {config.text_dim}) text arrays, "
                         f"got {x_all.shape} and {t_all.shape}")
    val_mask = np.asarray(val_mask, bool)
    gid = np.unique(np.asarray(groups), return_inverse=True)[1].astype(np.int64)  # (n,) 0..p-1
    if len(gid) != n or len(val_mask) != n:
        raise ValueError("groups and val_mask must have one entry per row")
    is_full = (np.asarray(row_kind) == "full") if row_kind is not None else _row_kind_default(gid)
    if np.intersect1d(gid[val_mask], gid[~val_mask]).size:
        log.warning("some products have rows on both sides of the validation split: recalls are optimistic")

    prev_threads = torch.get_num_threads()
    torch.set_num_threads(max(1, min(threads, 2)))
    try:
        return _train(x_all, t_all, gid, val_mask, is_full, config, progress, plot_path)
    finally:
        torch.set_num_threads(prev_threads)


def _train(x_all: np.ndarray, t_all: np.ndarray, gid: np.ndarray, val_mask: np.ndarray, is_full: np.ndarray,
           config: JointConfig, progress: bool, plot_path: Path | None) -> tuple[JointSpace, dict]:
    from tqdm.auto import tqdm

    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    tr = np.flatnonzero(~val_mask)
    va = np.flatnonzero(val_mask)
    x_tr, t_tr, g_tr = (torch.from_numpy(a[tr]) for a in (x_all, t_all, gid))
    x_va, t_va, g_va = (torch.from_numpy(a[va]) for a in (x_all, t_all, gid))
    val = _Validation(x_all[va], t_all[va], gid[va], is_full[va]) if len(va) else None
    val_order = torch.from_numpy(rng.permutation(len(va)))  # fixed batches for a comparable val loss

    head = ProjectionHead(config)
    head.fit_input_stats(x_tr)
    decay = [p for p in head.parameters() if p.ndim >= 2]
    no_decay = [p for p in head.parameters() if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=config.lr)
    bs = config.batch_size
    steps_per_epoch = max(1, len(tr) // bs)  # drop the last short batch (fewer negatives)
    total = steps_per_epoch * config.max_epochs
    cosine = lambda s: 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(s, total) / total))  # noqa: E731
    sched = torch.optim.lr_scheduler.LambdaLR(opt, cosine)  # cosine decay to 5% of lr over max_epochs

    history: list[dict] = []
    best = {"score": -1.0, "epoch": 0, "state": copy.deepcopy(head.state_dict()), "t2i": float("nan"),
            "i2t": float("nan")}
    start = time.perf_counter()
    bar = tqdm(range(1, config.max_epochs + 1), desc="joint head", unit="epoch", disable=not progress)
    for epoch in bar:
        t0 = time.perf_counter()
        head.train()
        order = torch.from_numpy(rng.permutation(len(tr)))
        losses = []
        for s in range(steps_per_epoch):
            idx = order[s * bs:(s + 1) * bs] if len(tr) >= bs else order
            txt = t_tr[idx]
            loss = info_nce(head(x_tr[idx]), txt, _same_mask(g_tr[idx], txt), head.scale())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            with torch.no_grad():
                head.logit_scale.clamp_(0.0, math.log(MAX_LOGIT_SCALE))
            losses.append(loss.item())

        row = {"epoch": epoch, "train_loss": float(np.mean(losses)), "val_loss": float("nan"),
               "recall_t2i": float("nan"), "recall_i2t": float("nan"), "temperature": 1 / head.scale().item()}
        if val is not None:
            head.eval()
            with torch.inference_mode():
                proj = torch.cat([head(x_va[s:s + 4096]) for s in range(0, len(va), 4096)])  # (n_val, text_dim)
                vl = []
                for s in range(0, len(va), bs):
                    idx = val_order[s:s + bs]
                    if len(idx) > 1:
                        vl.append(info_nce(proj[idx], t_va[idx], _same_mask(g_va[idx], t_va[idx]), head.scale()).item())
            row["val_loss"] = float(np.mean(vl)) if vl else float("nan")
            row["recall_t2i"], row["recall_i2t"] = val.recalls(proj.numpy())
        row["seconds"] = time.perf_counter() - t0
        history.append(row)
        bar.set_postfix(loss=f"{row['train_loss']:.3f}", val=f"{row['val_loss']:.3f}",
                        t2i=f"{row['recall_t2i']:.3f}", i2t=f"{row['recall_i2t']:.3f}")
        log.debug("joint epoch %d: %s", epoch, row)

        score = 0.5 * (row["recall_t2i"] + row["recall_i2t"]) if val is not None else float(epoch)
        if score > best["score"]:
            best = {"score": score, "epoch": epoch, "state": copy.deepcopy(head.state_dict()),
                    "t2i": row["recall_t2i"], "i2t": row["recall_i2t"]}
        elif epoch - best["epoch"] >= config.patience:
            break
    bar.close()

    head.load_state_dict(best["state"])
    seconds = time.perf_counter() - start
    metrics = {
        "best_epoch": best["epoch"], "best_recall_t2i": best["t2i"], "best_recall_i2t": best["i2t"],
        "best_recall_mean": best["score"] if val is not None else float("nan"),
        "epochs_run": len(history), "stopped_early": len(history) < config.max_epochs,
        "train_seconds": round(seconds, 2), "temperature": 1 / head.scale().item(),
        "n_train_rows": int(len(tr)), "n_val_rows": int(len(va)),
        "n_train_products": int(len(np.unique(gid[tr]))), "n_val_products": int(val.n_products if val else 0),
        "history": history,
    }
    log.info("joint head: best epoch %d/%d, recall@10 t2i %.3f i2t %.3f, %.1fs", best["epoch"], len(history),
             best["t2i"], best["i2t"], seconds)
    if plot_path is not None:
        plot_history(history, Path(plot_path), best["epoch"])
    return JointSpace(head, metrics), metrics


def plot_history(history: list[dict], path: Path, best_epoch: int | None = None) -> None:
    """Two panels: train/val loss and held-out recall@10 per epoch, saved as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [h["epoch"] for h in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.plot(ep, [h["train_loss"] for h in history], label="train")
    ax1.plot(ep, [h["val_loss"] for h in history], label="validation")
    ax1.set(xlabel="epoch", ylabel="symmetric InfoNCE", title="loss")
    ax2.plot(ep, [h["recall_t2i"] for h in history], label="text -> image (full-res)")
    ax2.plot(ep, [h["recall_i2t"] for h in history], label="image (low-res) -> text")
    ax2.set(xlabel="epoch", ylabel="recall@10", title="held-out products", ylim=(0, 1))
    for ax in (ax1, ax2):
        if best_epoch:
            ax.axvline(best_epoch, color="grey", ls=":", lw=1)
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
