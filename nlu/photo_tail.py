"""Photo tail: the image encoder's last blocks fine-tuned to read type, colour, gender and usage
from shoppers' photos.

Linear heads on frozen pooled features (nlu.attributes) read only what ImageNet training kept in
the last layer. The tail copies the encoder's blocks ``tap..end`` and its 1x1 head convolution,
fine-tunes them with one softmax head per field on the *input maps of block ``tap``* (cached once
for the shopper-like copies of the catalog photos, so training never runs the frozen front of the
network), and keeps batch-norm statistics frozen. At query time the encoder hands over the same
maps (``ImageEncoder.encode_tapped``), and the tail costs a few milliseconds.

Shapes: maps (b, C, h, w) (EfficientNet-Lite0, tap 13: (b, 192, 7, 7)) -> {field: (b, n_classes)}.
Labels are the catalog's values as strings ("" = unknown, ignored); a value with fewer than
``min_count`` training rows gets no output. The package never imports ``retrieval``.
"""
from __future__ import annotations

import copy
import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from nlu import checkpoint
from nlu.attributes import IGNORE, _encode_labels

log = logging.getLogger(__name__)

FORMAT = "photo-tail"
FORMAT_VERSION = 1
STEM = "photo_tail"  # photo_tail.json + photo_tail.safetensors


@dataclass
class TailConfig:
    arch: str = "efficientnet-lite0"
    tap: int = 13  # the first fine-tuned block; its input maps are the tail's input
    fields: tuple[str, ...] = ("article_type", "color", "gender", "usage")
    field_weights: tuple[float, ...] = (1.0, 1.0, 0.3, 0.3)  # loss weights, as fields
    min_count: int = 5  # classes with fewer training rows are not predicted
    epochs: int = 6
    batch_size: int = 128
    lr_body: float = 3e-4  # peak learning rates of the one-cycle schedule
    lr_heads: float = 2e-3
    weight_decay: float = 1e-2
    dropout: float = 0.2
    flip: bool = True  # mirror half of the training maps (a shoe pointing left or right)
    seed: int = 0


def _network(arch: str) -> nn.Module:
    """An untrained EfficientNet of ``arch`` (its blocks are copied; weights come from elsewhere)."""
    from efficientnet_lite_pytorch import EfficientNet

    return EfficientNet.from_name(arch, num_classes=1000)


class TailNet(nn.Module):
    """(b, C, h, w) input maps of block ``tap`` -> {field: (b, n_classes) logits}."""

    def __init__(self, config: TailConfig, n_classes: dict[str, int], network: nn.Module | None = None) -> None:
        super().__init__()
        net = network if network is not None else _network(config.arch)
        if not 0 < config.tap < len(net._blocks):
            raise ValueError(f"tap {config.tap}: {config.arch} has blocks 0..{len(net._blocks) - 1}")
        self.blocks = nn.ModuleList(copy.deepcopy(b) for b in net._blocks[config.tap:])
        self.conv_head = copy.deepcopy(net._conv_head)
        self.bn = copy.deepcopy(net._bn1)
        self.act = copy.deepcopy(net._swish)
        d = net._conv_head.out_channels  # 1280
        self.dropout = nn.Dropout(config.dropout)
        self.heads = nn.ModuleDict({f: nn.Linear(d, c) for f, c in n_classes.items()})

    def features(self, maps: torch.Tensor) -> torch.Tensor:
        x = maps  # (b, C, h, w)
        for block in self.blocks:
            x = block(x, drop_connect_rate=None)
        x = self.act(self.bn(self.conv_head(x)))  # (b, 1280, h, w)
        return x.mean(dim=(2, 3))  # (b, 1280)

    def forward(self, maps: torch.Tensor) -> dict[str, torch.Tensor]:
        z = self.dropout(self.features(maps))
        return {f: h(z) for f, h in self.heads.items()}

    def train(self, mode: bool = True) -> "TailNet":
        """Training mode everywhere except batch norm, whose statistics stay the encoder's."""
        super().train(mode)
        for m in self.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()
        return self


class PhotoTail:
    """A trained tail: probabilities per field for photos given as tapped maps."""

    def __init__(self, net: TailNet, config: TailConfig, classes: dict[str, list[str]],
                 metrics: dict | None = None) -> None:
        self.net = net.eval()
        self.config = config
        self.classes = classes
        self.metrics: dict = metrics or {}

    def proba(self, maps: np.ndarray, batch_size: int = 256) -> dict[str, np.ndarray]:
        """(n, C, h, w) maps -> {field: (n, n_classes) float32}; with several views of one photo
        (the photo and its mirror image), average the rows afterwards."""
        x = np.asarray(maps)
        if x.ndim != 4:
            raise ValueError(f"expected maps of shape (n, C, h, w), got {x.shape}")
        out = {f: np.zeros((len(x), len(c)), np.float32) for f, c in self.classes.items()}
        self.net.eval()
        with torch.inference_mode():
            for s in range(0, len(x), batch_size):
                batch = torch.from_numpy(np.ascontiguousarray(x[s:s + batch_size], dtype=np.float32))
                for f, logits in self.net(batch).items():
                    out[f][s:s + batch_size] = logits.softmax(-1).numpy()
        return out

    def save(self, folder: Path) -> None:
        checkpoint.save(folder, STEM, self.net, {"format": FORMAT, "version": FORMAT_VERSION,
                                                 "config": asdict(self.config), "classes": self.classes,
                                                 "metrics": self.metrics})

    @classmethod
    def load(cls, folder: Path) -> "PhotoTail":
        meta = checkpoint.read_meta(folder, STEM, "photo tail", FORMAT, FORMAT_VERSION, TailConfig)
        raw = dict(meta["config"])
        raw["fields"] = tuple(raw.get("fields", ()))
        raw["field_weights"] = tuple(raw.get("field_weights", ()))
        config = TailConfig(**raw)
        classes = {f: list(meta["classes"][f]) for f in config.fields if f in meta["classes"]}
        net = TailNet(config, {f: len(c) for f, c in classes.items()})
        checkpoint.load_weights(folder, STEM, "photo tail", net, f"the config and classes in {Path(folder) / STEM}.json")
        return cls(net, config, classes, meta.get("metrics", {}))


# ------------------------------------------------------------------------------------ training


def train_tail(maps: np.ndarray, labels: dict[str, list[str]], val_mask: np.ndarray, network: nn.Module,
               config: TailConfig = TailConfig(), progress: bool = True, plot_path: Path | None = None,
               threads: int | None = None) -> tuple[PhotoTail, dict]:
    """Fine-tune the tail of ``network`` (the frozen encoder, copied, not changed) on tapped maps.

    maps (n, C, h, w) (float16 is fine, memory-mapped is fine); labels[field][i] row i's value;
    val_mask (n,) held-out rows (by product). The weights of the epoch with the best held-out
    accuracy (type and colour, flip-averaged) are kept. Returns (tail, metrics).
    """
    from tqdm.auto import tqdm

    n = len(maps)
    val_mask = np.asarray(val_mask, bool)
    if len(val_mask) != n or any(len(labels.get(f, ())) != n for f in config.fields):
        raise ValueError("need one label per row for every field and one val_mask entry per row")
    prev_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        torch.manual_seed(config.seed)
        rng = np.random.default_rng(config.seed)
        train = ~val_mask
        classes, targets = {}, {}
        for f in config.fields:
            classes[f], targets[f], _ = _encode_labels(labels[f], train, config.min_count)
            if not classes[f]:
                raise ValueError(f"field {f!r} has no class with at least {config.min_count} training rows")
        weights = dict(zip(config.fields, config.field_weights))
        x = torch.from_numpy(np.ascontiguousarray(maps, dtype=np.float16))  # (n, C, h, w), ~180 MB at 10k
        y = {f: torch.from_numpy(t) for f, t in targets.items()}
        tr, va = np.flatnonzero(train), np.flatnonzero(val_mask)

        net = TailNet(config, {f: len(c) for f, c in classes.items()}, network)
        body = [p for name, p in net.named_parameters() if not name.startswith("heads.")]
        opt = torch.optim.AdamW([{"params": body, "lr": config.lr_body},
                                 {"params": net.heads.parameters(), "lr": config.lr_heads}],
                                weight_decay=config.weight_decay)
        bs = config.batch_size
        steps = max(1, math.ceil(len(tr) / bs))
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[config.lr_body, config.lr_heads],
                                                    total_steps=steps * config.epochs, pct_start=0.15)
        history: list[dict] = []
        best = {"score": -1.0, "epoch": 0, "state": copy.deepcopy(net.state_dict())}
        for epoch in range(1, config.epochs + 1):
            net.train()
            order = rng.permutation(tr)
            total = 0.0
            bar = tqdm(range(steps), desc=f"photo tail {epoch}/{config.epochs}", unit="batch", disable=not progress)
            for s in bar:
                idx = torch.from_numpy(order[s * bs:(s + 1) * bs])
                xb = x[idx].float()  # (b, C, h, w)
                if config.flip:
                    flip = torch.from_numpy(rng.random(len(idx)) < 0.5)
                    xb[flip] = xb[flip].flip(-1)
                logits = net(xb)
                loss = torch.zeros(())
                for f in config.fields:
                    yf = y[f][idx]
                    if (yf != IGNORE).any():
                        loss = loss + weights[f] * F.cross_entropy(logits[f], yf, ignore_index=IGNORE)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                total += loss.item()
                bar.set_postfix(loss=f"{total / (s + 1):.3f}")
            bar.close()
            row = {"epoch": epoch, "train_loss": total / steps}
            if len(va):
                acc, val_loss = _evaluate(PhotoTail(net, config, classes), x[va], {f: t[va] for f, t in targets.items()})
                row.update(val_accuracy=acc, val_loss=val_loss)
                score = float(np.mean([acc[f] for f in config.fields[:2]]))
                if score > best["score"]:
                    best = {"score": score, "epoch": epoch, "state": copy.deepcopy(net.state_dict())}
                log.info("photo tail epoch %d: loss %.3f, held-out accuracy %s", epoch, row["train_loss"],
                         {f: round(a, 3) for f, a in acc.items()})
            history.append(row)
        if len(va):
            net.load_state_dict(best["state"])
        tail = PhotoTail(net.eval(), config, classes)
        metrics: dict = {"n_train_rows": int(len(tr)), "n_val_rows": int(len(va)),
                         "best_epoch": best["epoch"] if len(va) else config.epochs, "history": history,
                         "n_classes": {f: len(c) for f, c in classes.items()}}
        if len(va):
            metrics["accuracy"] = history[best["epoch"] - 1]["val_accuracy"]
        tail.metrics = {k: v for k, v in metrics.items() if k != "history"}
        if plot_path is not None and history:
            plot_history(history, Path(plot_path), metrics["best_epoch"])
        return tail, metrics
    finally:
        torch.set_num_threads(prev_threads)


def _evaluate(tail: PhotoTail, maps: torch.Tensor, targets: dict[str, np.ndarray]) -> tuple[dict, dict]:
    """Held-out accuracy (photo and mirror averaged) and loss per field, over the rows whose value
    the tail can predict (unknown values and classes too rare to have an output are left out)."""
    x = maps.float().numpy()
    p = tail.proba(x)
    pf = tail.proba(x[..., ::-1])
    acc, loss = {}, {}
    for f, t in targets.items():
        labelled = t != IGNORE
        if not labelled.any():
            acc[f], loss[f] = float("nan"), float("nan")
            continue
        mean = (p[f] + pf[f]) / 2
        acc[f] = float((mean[labelled].argmax(1) == t[labelled]).mean())
        loss[f] = float(-np.log(mean[labelled, t[labelled]] + 1e-9).mean())
    return acc, loss


def plot_history(history: list[dict], path: Path, best_epoch: int | None = None) -> None:
    """Training loss and held-out accuracy per epoch, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.plot(epochs, [h["train_loss"] for h in history], marker="o", label="train (weighted sum)")
    ax1.set_xlabel("epoch"), ax1.set_ylabel("loss"), ax1.set_title("photo tail: loss"), ax1.legend()
    if history and "val_accuracy" in history[0]:
        for f in history[0]["val_accuracy"]:
            ax2.plot(epochs, [h["val_accuracy"][f] for h in history], marker="o", label=f)
        if best_epoch:
            ax2.axvline(best_epoch, color="grey", linestyle="--", label="kept")
    ax2.set_xlabel("epoch"), ax2.set_ylabel("held-out accuracy"), ax2.set_title("photo tail: accuracy"), ax2.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
