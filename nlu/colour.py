"""A pixel-based colour reader: the dominant non-background colour of a product photo, and names.

``dominant_colour`` drops the white studio background (near-white pixels connected to the border,
and very light grey-white pixels anywhere), clusters the remaining pixels of a small copy in CIE Lab
with k-means (k=3) and describes the biggest cluster. ``colour_features`` adds a coarse Lab
histogram of the foreground (how much of the product is which colour). ``ColourNamer`` maps those
features to the catalog's colour names (kNN, softmax regression or a small MLP, whichever is most
accurate on held-out rows). It is an alternative to the colour head of ``nlu.attributes``; the
search mixes both.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Iterable

import numpy as np
from PIL import Image

log = logging.getLogger(__name__)

FEATURE_NAMES = ("L", "a", "b", "share", "mean_L", "mean_a", "mean_b", "foreground")
FEATURE_DIM = len(FEATURE_NAMES)
HIST_BINS = (5, 7, 7)  # L, a, b bins of the foreground histogram
HIST_DIM = HIST_BINS[0] * HIST_BINS[1] * HIST_BINS[2]
COLOUR_FEATURES_DIM = FEATURE_DIM + HIST_DIM  # what colour_features() returns
FORMAT = "colour-namer"
FORMAT_VERSION = 2

# background: light and nearly colourless (Lab lightness 0..100, chroma = |(a, b)|)
BG_L, BG_CHROMA = 90.0, 10.0  # near-white, removed where connected to the border
WHITE_L, WHITE_CHROMA = 97.0, 5.0  # very light grey-white, removed anywhere
MIN_FOREGROUND = 0.02  # below this share of pixels the photo is read whole (a white product)


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB (..., 3) in [0, 255] -> CIE Lab (..., 3) under D65 (L in 0..100)."""
    c = np.asarray(rgb, dtype=np.float64) / 255.0
    c = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)  # linear RGB
    m = np.array([[0.4124564, 0.3575761, 0.1804375],
                  [0.2126729, 0.7151522, 0.0721750],
                  [0.0193339, 0.1191920, 0.9503041]])
    xyz = c @ m.T / np.array([0.95047, 1.0, 1.08883])  # (..., 3), relative to the white point
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)


def background_mask(lab: np.ndarray) -> np.ndarray:
    """(h, w, 3) Lab -> (h, w) bool: near-white pixels reachable from the border, and very light ones."""
    L, chroma = lab[..., 0], np.hypot(lab[..., 1], lab[..., 2])
    light = (L > BG_L) & (chroma < BG_CHROMA)
    border = np.zeros_like(light)
    border[0, :] = border[-1, :] = border[:, 0] = border[:, -1] = True
    region = light & border
    while True:  # flood fill through light pixels (4-neighbourhood)
        grown = region.copy()
        grown[1:] |= region[:-1]
        grown[:-1] |= region[1:]
        grown[:, 1:] |= region[:, :-1]
        grown[:, :-1] |= region[:, 1:]
        grown &= light
        if (grown == region).all():
            break
        region = grown
    return region | ((L > WHITE_L) & (chroma < WHITE_CHROMA))


def kmeans(x: np.ndarray, k: int = 3, iters: int = 20, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """x (m, d) -> (centres (k', d), assignment (m,)); k-means++ start, deterministic for a seed."""
    rng = np.random.default_rng(seed)
    k = max(1, min(k, len(np.unique(x, axis=0))))
    centres = [x[rng.integers(len(x))]]
    for _ in range(1, k):
        d2 = ((x[:, None, :] - np.asarray(centres)[None]) ** 2).sum(-1).min(1)
        centres.append(x[rng.choice(len(x), p=d2 / d2.sum())])
    c = np.asarray(centres)  # (k, d)
    for _ in range(iters):
        assign = ((x[:, None, :] - c[None]) ** 2).sum(-1).argmin(1)  # (m,)
        new = np.stack([x[assign == j].mean(0) if (assign == j).any() else c[j] for j in range(k)])
        if np.allclose(new, c):
            break
        c = new
    assign = ((x[:, None, :] - c[None]) ** 2).sum(-1).argmin(1)
    return c, assign


def dominant_colour(img: Image.Image, size: int = 64, k: int = 3, seed: int = 0) -> np.ndarray:
    """PIL photo -> float32 (8,): Lab of the biggest foreground colour cluster, its share of the
    foreground, the foreground's mean Lab, and the foreground's share of the photo (FEATURE_NAMES).

    A photo that is almost all background (a white product on white) is clustered whole.
    """
    small = img.convert("RGB")
    small.thumbnail((size, size), Image.BOX)  # downscaled copy, aspect kept
    lab = rgb_to_lab(np.asarray(small))  # (h, w, 3)
    fg = ~background_mask(lab)
    fg_share = float(fg.mean())
    pixels = lab[fg] if fg_share >= MIN_FOREGROUND else lab.reshape(-1, 3)  # (m, 3)
    centres, assign = kmeans(pixels, k=k, seed=seed)
    counts = np.bincount(assign, minlength=len(centres))
    big = int(counts.argmax())
    feat = np.concatenate([centres[big], [counts[big] / len(pixels)], pixels.mean(0), [fg_share]])
    return feat.astype(np.float32)


def colour_histogram(img: Image.Image, size: int = 48) -> np.ndarray:
    """PIL photo -> float32 (HIST_DIM,): square roots of the foreground's Lab histogram shares
    (L in 5 bins, a and b in 7 bins over -60..60)."""
    small = img.convert("RGB")
    small.thumbnail((size, size), Image.BOX)
    lab = rgb_to_lab(np.asarray(small))  # (h, w, 3)
    fg = ~background_mask(lab)
    px = lab[fg] if fg.mean() >= MIN_FOREGROUND else lab.reshape(-1, 3)  # (m, 3)
    nl, na, nb = HIST_BINS
    li = np.clip(px[:, 0] / 100 * nl, 0, nl - 1e-3).astype(int)
    ai = np.clip((px[:, 1] + 60) / 120 * na, 0, na - 1e-3).astype(int)
    bi = np.clip((px[:, 2] + 60) / 120 * nb, 0, nb - 1e-3).astype(int)
    h = np.bincount((li * na + ai) * nb + bi, minlength=HIST_DIM).astype(np.float64)
    return np.sqrt(h / max(h.sum(), 1.0)).astype(np.float32)


def colour_features(img: Image.Image) -> np.ndarray:
    """What the colour namer reads: float32 (FEATURE_DIM + HIST_DIM,) = dominant colour + histogram."""
    return np.concatenate([dominant_colour(img), colour_histogram(img)])


def dominant_colours(images: Iterable[Image.Image], **kw) -> np.ndarray:
    """Many photos -> float32 (n, 8)."""
    rows = [dominant_colour(im, **kw) for im in images]
    return np.stack(rows) if rows else np.zeros((0, FEATURE_DIM), np.float32)


class ColourNamer:
    """Colour features (n, d) -> colour names with probabilities.

    method: "knn" (k nearest training rows, distance-weighted), "softmax" (multinomial logistic
    regression), "mlp" (one hidden layer) or "auto" (each fitted on 80% of the rows, the most
    accurate on the other 20% is refitted on all rows). Features are standardised with the
    training mean and std.
    """

    METHODS = ("knn", "softmax", "mlp")

    def __init__(self, method: str = "auto", k: int = 15, seed: int = 0) -> None:
        if method not in ("auto", *self.METHODS):
            raise ValueError(f"unknown method {method!r}")
        self.method, self.k, self.seed = method, k, seed
        self.fitted_method: str | None = None
        self.classes: list[str] = []
        self.metrics: dict = {}
        self._mean = self._std = None
        self._train_x = self._train_y = None  # knn: standardised rows (m, d), class ids (m,)
        self._w = self._b = None  # softmax: (d, c), (c,)
        self._mlp: dict[str, np.ndarray] | None = None  # mlp: w1 (d, h), b1 (h,), w2 (h, c), b2 (c,)

    # ---------------------------------------------------------------------------- fitting
    def fit(self, features: np.ndarray, labels: list[str]) -> "ColourNamer":
        """Fit on rows with a non-empty label; with method "auto" pick knn or softmax by accuracy."""
        x = np.asarray(features, dtype=np.float64)
        keep = np.array([bool(v) for v in labels])
        if x.ndim != 2 or len(x) != len(labels):
            raise ValueError(f"expected features (n, d) and n labels, got {x.shape} and {len(labels)}")
        x, names = x[keep], [v for v, ok in zip(labels, keep) if ok]
        if not names:
            raise ValueError("no labelled rows")
        self.classes = sorted(set(names))
        index = {v: i for i, v in enumerate(self.classes)}
        y = np.array([index[v] for v in names], np.int64)
        method = self.method
        if method == "auto":
            rng = np.random.default_rng(self.seed)
            order = rng.permutation(len(x))
            cut = max(1, int(0.8 * len(x)))
            tr, va = order[:cut], order[cut:]
            scores = {}
            for m in self.METHODS:
                self._fit(x[tr], y[tr], m)
                scores[m] = float((self._proba(x[va]).argmax(1) == y[va]).mean()) if len(va) else 0.0
            method = max(scores, key=lambda m: (scores[m], -self.METHODS.index(m)))
            self.metrics = {"holdout_accuracy": scores, "holdout_rows": int(len(va))}
            log.info("colour namer: held-out accuracy %s -> %s", scores, method)
        self._fit(x, y, method)
        self.metrics.update({"method": method, "n_train": int(len(x)), "n_classes": len(self.classes)})
        return self

    def _fit(self, x: np.ndarray, y: np.ndarray, method: str) -> None:
        self.fitted_method = method
        self._mean, self._std = x.mean(0), np.maximum(x.std(0), 1e-6)
        z = (x - self._mean) / self._std
        self._train_x = self._train_y = self._w = self._b = self._mlp = None
        if method == "knn":
            self._train_x, self._train_y = z, y
        elif method == "softmax":
            self._w, self._b = _softmax_regression(z, y, len(self.classes), self.seed)
        else:
            self._mlp = _mlp(z, y, len(self.classes), self.seed)

    # -------------------------------------------------------------------------- prediction
    def proba(self, features: np.ndarray) -> np.ndarray:
        """(n, d) -> (n, n_classes) float32 probabilities, columns as in ``classes``."""
        if self._mean is None:
            raise RuntimeError("ColourNamer is not fitted")
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != len(self._mean):
            raise ValueError(f"expected features of shape (n, {len(self._mean)}), got {x.shape}")
        return self._proba(x).astype(np.float32)

    def _proba(self, x: np.ndarray) -> np.ndarray:
        z = (x - self._mean) / self._std
        c = len(self.classes)
        if self._w is not None or self._mlp is not None:
            if self._mlp is not None:
                m = self._mlp
                hidden = z @ m["w1"] + m["b1"]  # (n, h)
                hidden = 0.5 * hidden * (1 + np.tanh(0.7978845608 * (hidden + 0.044715 * hidden ** 3)))  # GELU
                logits = hidden @ m["w2"] + m["b2"]  # (n, c)
            else:
                logits = z @ self._w + self._b  # (n, c)
            e = np.exp(logits - logits.max(1, keepdims=True))
            return e / e.sum(1, keepdims=True)
        out = np.zeros((len(z), c))
        k = min(self.k, len(self._train_x))
        for s in range(0, len(z), 1024):
            d = np.sqrt(((z[s:s + 1024, None, :] - self._train_x[None]) ** 2).sum(-1))  # (b, m)
            nn_idx = np.argpartition(d, k - 1, axis=1)[:, :k]  # (b, k)
            w = 1.0 / (np.take_along_axis(d, nn_idx, 1) + 1e-3)
            rows = np.repeat(np.arange(len(nn_idx)), k)
            np.add.at(out[s:s + 1024], (rows, self._train_y[nn_idx].ravel()), w.ravel())
        return out / out.sum(1, keepdims=True)

    def predict(self, features: np.ndarray, top: int = 3) -> list[list[tuple[str, float]]]:
        """Per row: [(colour name, probability), ...] best first."""
        p = self.proba(features)
        best = np.argsort(-p, axis=1, kind="stable")[:, :top]
        return [[(self.classes[j], float(p[i, j])) for j in row] for i, row in enumerate(best)]

    # ----------------------------------------------------------------------------- storage
    def save(self, path: Path) -> None:
        """One JSON file (floats written exactly, so a loaded namer predicts identically)."""
        if self._mean is None:
            raise RuntimeError("ColourNamer is not fitted")
        data = {"format": FORMAT, "version": FORMAT_VERSION, "method": self.fitted_method, "k": self.k,
                "seed": self.seed, "feature_names": list(FEATURE_NAMES), "classes": self.classes,
                "mean": self._mean.tolist(), "std": self._std.tolist(), "metrics": self.metrics}
        data["feature_dim"] = int(len(self._mean))
        if self.fitted_method == "knn":
            data.update(train_x=self._train_x.tolist(), train_y=self._train_y.tolist())
        elif self.fitted_method == "softmax":
            data.update(w=self._w.tolist(), b=self._b.tolist())
        else:
            data.update(mlp={k: v.tolist() for k, v in self._mlp.items()})
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data))

    @classmethod
    def load(cls, path: Path) -> "ColourNamer":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"colour namer: {path} is missing (fit it first)")
        data = json.loads(path.read_text())
        if data.get("format") != FORMAT or data.get("version") != FORMAT_VERSION:
            raise ValueError(f"colour namer: {path} is format {data.get('format')!r} v{data.get('version')}, "
                             f"expected {FORMAT!r} v{FORMAT_VERSION}")
        self = cls(data["method"], data["k"], data["seed"])
        self.fitted_method = data["method"]
        self.classes, self.metrics = data["classes"], data.get("metrics", {})
        self._mean, self._std = np.array(data["mean"]), np.array(data["std"])
        if self.fitted_method == "knn":
            self._train_x, self._train_y = np.array(data["train_x"]), np.array(data["train_y"], np.int64)
        elif self.fitted_method == "softmax":
            self._w, self._b = np.array(data["w"]), np.array(data["b"])
        else:
            self._mlp = {k: np.array(v) for k, v in data["mlp"].items()}
        return self


def _softmax_regression(z: np.ndarray, y: np.ndarray, c: int, seed: int, steps: int = 300,
                        weight_decay: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """Full-batch multinomial logistic regression (Adam) on standardised z (m, d) -> W (d, c), b (c,)."""
    import torch

    torch.manual_seed(seed)
    zt, yt = torch.from_numpy(z), torch.from_numpy(y.astype(np.int64))
    w = torch.zeros(z.shape[1], c, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(c, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([w, b], lr=0.1)
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(zt @ w + b, yt) + weight_decay * (w ** 2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return w.detach().numpy().copy(), b.detach().numpy().copy()


def _mlp(z: np.ndarray, y: np.ndarray, c: int, seed: int, hidden: int = 256, epochs: int = 60,
         batch: int = 256) -> dict[str, np.ndarray]:
    """One hidden layer (GELU, dropout), AdamW on minibatches; weights as numpy (float64).

    On the catalog's low-resolution copies the histogram + dominant-colour features give 0.66
    held-out accuracy with this, against 0.60 with softmax regression.
    """
    import torch

    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    zt, yt = torch.from_numpy(z.astype(np.float32)), torch.from_numpy(y.astype(np.int64))
    net = torch.nn.Sequential(torch.nn.Dropout(0.2), torch.nn.Linear(z.shape[1], hidden), torch.nn.GELU(),
                              torch.nn.Dropout(0.3), torch.nn.Linear(hidden, c))
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1e-3)
    net.train()
    for _ in range(epochs):
        perm = torch.randperm(len(zt), generator=g)
        for s in range(0, len(perm), batch):
            b = perm[s:s + batch]
            loss = torch.nn.functional.cross_entropy(net(zt[b]), yt[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
    lin1, lin2 = net[1], net[4]
    return {"w1": lin1.weight.detach().double().numpy().T.copy(), "b1": lin1.bias.detach().double().numpy().copy(),
            "w2": lin2.weight.detach().double().numpy().T.copy(), "b2": lin2.bias.detach().double().numpy().copy()}
