"""Attribute heads: article type, colour, gender and usage predicted from frozen image features.

One softmax head per field on the (standardised) 1280-d EfficientNet-Lite0 features; linear by
default (softmax regression), optionally one hidden layer. Labels are the catalog's values as
strings; "" means unknown and the row is ignored for that field.

Rare classes: a value seen in fewer than ``min_count`` training rows gets no output (the head
cannot predict it); its training rows are ignored for that field (not mapped to an "other" class,
which the bot could not use). On validation such rows count as errors in ``accuracy`` and are
reported as ``n_val_unpredictable``.

Arrays follow ``nlu.encoders``: float32 (n, d). The package never imports ``retrieval``: labels
come in as plain lists.
"""
from __future__ import annotations

import copy
import logging
import math
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from nlu import checkpoint

log = logging.getLogger(__name__)

FORMAT = "attribute-heads"
FORMAT_VERSION = 1
STEM = "attributes"  # attributes.json + attributes.safetensors
IGNORE = -100  # target index of rows without a usable label


@dataclass
class AttributeConfig:
    fields: tuple[str, ...] = ("article_type", "color", "gender", "usage")
    min_count: int = 3  # classes with fewer training rows are not predicted (their rows are ignored)
    lr: float = 0.01
    weight_decay: float = 1e-4
    epochs: int = 60
    batch_size: int = 1024
    seed: int = 0
    hidden: int = 0  # 0 = linear (softmax regression) heads on the features
    dropout: float = 0.1  # only with hidden > 0
    patience: int = 8  # per field: epochs without a lower validation loss before that head stops
    image_dim: int = 1280


class AttributeNet(nn.Module):
    """(b, image_dim) features -> {field: (b, n_classes) logits}."""

    def __init__(self, config: AttributeConfig, n_classes: dict[str, int]) -> None:
        super().__init__()
        d = config.image_dim
        self.register_buffer("input_mean", torch.zeros(d))
        self.register_buffer("input_std", torch.ones(d))

        def head(c: int) -> nn.Module:
            if config.hidden > 0:
                return nn.Sequential(nn.Linear(d, config.hidden), nn.GELU(), nn.Dropout(config.dropout),
                                     nn.Linear(config.hidden, c))
            return nn.Linear(d, c)

        self.heads = nn.ModuleDict({f: head(c) for f, c in n_classes.items()})

    def forward(self, x: torch.Tensor, only: list[str] | None = None) -> dict[str, torch.Tensor]:
        x = (x - self.input_mean) / self.input_std  # (b, image_dim)
        return {f: h(x) for f, h in self.heads.items() if only is None or f in only}


class AttributeHeads:
    """Trained heads: probabilities and top values per field."""

    def __init__(self, net: AttributeNet, config: AttributeConfig, classes: dict[str, list[str]],
                 metrics: dict | None = None) -> None:
        self.net = net.eval()
        self.config = config
        self.classes = classes
        self.metrics: dict = metrics or {}

    def proba(self, image_features: np.ndarray, batch_size: int = 4096) -> dict[str, np.ndarray]:
        """(n, image_dim) -> {field: (n, n_classes) float32 probabilities}, columns as in ``classes``."""
        x = np.asarray(image_features, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.config.image_dim:
            raise ValueError(f"expected image features of shape (n, {self.config.image_dim}), got {x.shape}")
        out = {f: np.zeros((len(x), len(c)), np.float32) for f, c in self.classes.items()}
        self.net.eval()
        with torch.inference_mode():
            for s in range(0, len(x), batch_size):
                for f, logits in self.net(torch.from_numpy(x[s:s + batch_size])).items():
                    out[f][s:s + batch_size] = logits.softmax(-1).numpy()
        return out

    def predict(self, image_features: np.ndarray, top: int = 3) -> list[dict[str, list[tuple[str, float]]]]:
        """Per row: {field: [(value, probability), ...]} best first, ``top`` values per field."""
        probs = self.proba(image_features)
        n = len(image_features)
        rows: list[dict[str, list[tuple[str, float]]]] = [{} for _ in range(n)]
        for f, p in probs.items():
            k = min(top, p.shape[1])
            best = np.argsort(-p, axis=1, kind="stable")[:, :k]  # (n, k)
            for i in range(n):
                rows[i][f] = [(self.classes[f][j], float(p[i, j])) for j in best[i]]
        return rows

    def save(self, folder: Path) -> None:
        """Write attributes.json (format, config, classes, metrics) and attributes.safetensors."""
        checkpoint.save(folder, STEM, self.net, {"format": FORMAT, "version": FORMAT_VERSION,
                                                 "config": asdict(self.config), "classes": self.classes,
                                                 "metrics": self.metrics})

    @classmethod
    def load(cls, folder: Path) -> "AttributeHeads":
        """Read heads written by save(); raises FileNotFoundError / ValueError with the reason."""
        meta = checkpoint.read_meta(folder, STEM, "attribute heads", FORMAT, FORMAT_VERSION, AttributeConfig)
        raw = dict(meta["config"])
        raw["fields"] = tuple(raw.get("fields", ()))
        config = AttributeConfig(**raw)
        classes = {f: list(meta["classes"][f]) for f in config.fields if f in meta["classes"]}
        net = AttributeNet(config, {f: len(c) for f, c in classes.items()})
        checkpoint.load_weights(folder, STEM, "attribute heads", net,
                                f"the config and classes in {Path(folder) / STEM}.json")
        return cls(net, config, classes, meta.get("metrics", {}))


# ------------------------------------------------------------------------------------ training


def _encode_labels(values: list[str], train: np.ndarray, min_count: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    """-> (classes sorted by training frequency, targets (n,) with IGNORE for "" / rare, labelled (n,) bool)."""
    vals = np.asarray([v if isinstance(v, str) else "" for v in values], dtype=object)
    counts = Counter(vals[train & (vals != "")])
    classes = [c for c, k in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if k >= min_count]
    index = {c: i for i, c in enumerate(classes)}
    targets = np.array([index.get(v, IGNORE) for v in vals], np.int64)
    return classes, targets, vals != ""


def _accuracy(p: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """p (n, c) probabilities, y (n,) targets (IGNORE = a class the head cannot predict) -> (top1, top3)."""
    if len(y) == 0:
        return float("nan"), float("nan")
    k = min(3, p.shape[1])
    top = np.argsort(-p, axis=1, kind="stable")[:, :k]
    return float((top[:, 0] == y).mean()), float((top == y[:, None]).any(1).mean())


def train_attributes(image_features: np.ndarray, labels: dict[str, list[str]], val_mask: np.ndarray,
                     config: AttributeConfig = AttributeConfig(), progress: bool = True,
                     row_kind: np.ndarray | None = None, threads: int = 1) -> tuple[AttributeHeads, dict]:
    """Train one head per field; per-field early stopping on validation loss (best weights kept).

    image_features (n, image_dim); labels[field][i] is row i's value ("" = unknown); val_mask (n,)
    bool marks held-out rows (split by product); row_kind (n,) "full"/"low" adds per-kind metrics.
    threads: torch CPU threads (at most 2; 1 is fastest on a busy machine). Returns (heads, metrics).
    """
    x_all = np.ascontiguousarray(image_features, dtype=np.float32)
    n = len(x_all)
    if x_all.shape != (n, config.image_dim):
        raise ValueError(f"expected image features of shape (n, {config.image_dim}), got {x_all.shape}")
    val_mask = np.asarray(val_mask, bool)
    missing = [f for f in config.fields if f not in labels]
    if missing or len(val_mask) != n or any(len(labels[f]) != n for f in config.fields):
        raise ValueError(f"need one label per row for every field (missing {missing}) and one val_mask entry per row")
    prev_threads = torch.get_num_threads()
    torch.set_num_threads(max(1, min(threads, 2)))
    try:
        return _train(x_all, labels, val_mask, config, progress, row_kind)
    finally:
        torch.set_num_threads(prev_threads)


def _train(x_all: np.ndarray, labels: dict[str, list[str]], val_mask: np.ndarray, config: AttributeConfig,
           progress: bool, row_kind: np.ndarray | None) -> tuple[AttributeHeads, dict]:
    from tqdm.auto import tqdm

    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    train = ~val_mask
    classes, targets, labelled = {}, {}, {}
    for f in config.fields:
        classes[f], targets[f], labelled[f] = _encode_labels(labels[f], train, config.min_count)
        if not classes[f]:
            raise ValueError(f"field {f!r} has no class with at least {config.min_count} training rows")
    fields_ = list(config.fields)
    tr, va = np.flatnonzero(train), np.flatnonzero(val_mask)
    x_tr, x_va = torch.from_numpy(x_all[tr]), torch.from_numpy(x_all[va])
    y_tr = {f: torch.from_numpy(targets[f][tr]) for f in fields_}
    y_va = {f: torch.from_numpy(targets[f][va]) for f in fields_}

    net = AttributeNet(config, {f: len(c) for f, c in classes.items()})
    net.input_mean.copy_(x_tr.mean(0))
    net.input_std.copy_(x_tr.std(0).clamp_min(1e-6))
    decay = [p for p in net.parameters() if p.ndim >= 2]
    no_decay = [p for p in net.parameters() if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=config.lr)
    bs = config.batch_size
    steps = max(1, math.ceil(len(tr) / bs))
    total = steps * config.epochs
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))

    has_val = len(va) > 0
    best = {f: {"loss": math.inf, "epoch": 0, "state": copy.deepcopy(net.heads[f].state_dict())} for f in fields_}
    active = list(fields_)
    history: list[dict] = []
    bar = tqdm(range(1, config.epochs + 1), desc="attribute heads", unit="epoch", disable=not progress)
    for epoch in bar:
        net.train()
        order = torch.from_numpy(rng.permutation(len(tr)))
        tot = {f: 0.0 for f in active}
        for s in range(steps):
            idx = order[s * bs:(s + 1) * bs]
            logits = net(x_tr[idx], only=active)
            loss = torch.zeros(())
            for f in active:
                y = y_tr[f][idx]
                m = int((y != IGNORE).sum())
                if m:
                    lf = F.cross_entropy(logits[f], y, ignore_index=IGNORE, reduction="sum") / m
                    loss = loss + lf
                    tot[f] += lf.item() / steps
            opt.zero_grad(set_to_none=True)
            if loss.requires_grad:  # a batch may have no label for any active field
                loss.backward()
                opt.step()
            sched.step()

        row: dict = {"epoch": epoch, "train_loss": tot, "val_loss": {}}
        if has_val:
            net.eval()
            with torch.inference_mode():
                logits = net(x_va, only=active)
            for f in active:
                y = y_va[f]
                ok = y != IGNORE
                vl = F.cross_entropy(logits[f][ok], y[ok]).item() if ok.any() else math.inf
                row["val_loss"][f] = vl
                if vl < best[f]["loss"]:
                    best[f] = {"loss": vl, "epoch": epoch, "state": copy.deepcopy(net.heads[f].state_dict())}
            # a field whose validation loss has not improved for `patience` epochs stops training
            for f in [f for f in active if epoch - best[f]["epoch"] >= config.patience]:
                active.remove(f)
                for p in net.heads[f].parameters():
                    p.requires_grad_(False)
        history.append(row)
        bar.set_postfix(active=len(active), **{f[:6]: f"{v:.3f}" for f, v in row["val_loss"].items()})
        if not active:
            break
    bar.close()

    if has_val:
        for f in fields_:
            net.heads[f].load_state_dict(best[f]["state"])
    heads = AttributeHeads(net, config, classes)
    metrics = _evaluate(heads, x_all, targets, labelled, train, val_mask, row_kind)
    for f in fields_:
        metrics["fields"][f].update({"best_epoch": best[f]["epoch"] if has_val else len(history),
                                     "val_loss": best[f]["loss"] if has_val else float("nan")})
    metrics["epochs_run"] = len(history)
    metrics["history"] = history
    heads.metrics = metrics
    for f, m in metrics["fields"].items():
        log.info("attribute %s: %d classes, val accuracy %.3f (top-3 %.3f, majority %.3f), best epoch %d",
                 f, m["n_classes"], m["accuracy"], m["top3_accuracy"], m["majority_accuracy"], m["best_epoch"])
    return heads, metrics


def _evaluate(heads: AttributeHeads, x: np.ndarray, targets: dict[str, np.ndarray], labelled: dict[str, np.ndarray],
              train: np.ndarray, val_mask: np.ndarray, row_kind: np.ndarray | None) -> dict:
    """Validation accuracy / top-3 accuracy per field (labelled rows; unpredictable classes count as errors)."""
    va = np.flatnonzero(val_mask)
    probs = heads.proba(x[va]) if len(va) else {f: np.zeros((0, len(c)), np.float32) for f, c in heads.classes.items()}
    kinds = np.asarray(row_kind)[va] if row_kind is not None else None
    out: dict = {"n_train_rows": int(train.sum()), "n_val_rows": int(len(va)), "fields": {}}
    for f, p in probs.items():
        y, lab = targets[f][va], labelled[f][va]
        acc, top3 = _accuracy(p[lab], y[lab])
        majority = float((y[lab] == 0).mean()) if lab.any() else float("nan")  # classes[0] = most frequent
        m = {"n_classes": len(heads.classes[f]), "n_train": int((targets[f][train] != IGNORE).sum()),
             "n_val": int(lab.sum()), "n_val_unpredictable": int((lab & (y == IGNORE)).sum()),
             "accuracy": acc, "top3_accuracy": top3, "majority_accuracy": majority}
        if kinds is not None:
            m["by_kind"] = {}
            for kind in sorted(set(kinds.tolist())):
                sel = lab & (kinds == kind)
                a, t3 = _accuracy(p[sel], y[sel])
                m["by_kind"][kind] = {"n": int(sel.sum()), "accuracy": a, "top3_accuracy": t3}
        out["fields"][f] = m
    return out
