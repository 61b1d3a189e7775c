"""Peak memory of a search process with the fashion-10k index loaded.

What it measures
----------------
A fresh Python subprocess (so nothing from this process counts) reports its peak resident set
size (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) and its current RSS (``VmRSS``) at four
points:

1. ``start``: the bare interpreter;
2. ``after import``: numpy, torch, faiss, sentence-transformers, PIL and the project modules
   (``retrieval.search``, ``nlu.encoders``, ``retrieval.product_index``) imported;
3. ``after load``: ``SearchEngine.from_settings(Settings())`` (index + text encoder + image encoder);
4. ``after 50 searches``: 25 typed and 25 photo requests (catalog photos), alternating.

It also lists the big arrays the loaded index holds (vectors in the VectorIndex objects, the
faiss indexes, the dense per-iid matrices the search scores from), to show where the memory goes.
Memory is not affected much by the other jobs on the (shared) machine, but it is noted anyway.

Run
---
    .venv/bin/python bench/bench_memory.py           # needs var/index/fashion-10k (python -m retrieval build)

Writes ``bench/results/memory.json`` and prints a table (MB = 2**20 bytes).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
MB = 1024 * 1024
from _common import SHARED_NOTE, machine_info as _machine_info  # noqa: E402


def machine_info() -> dict:
    return _machine_info(import_modules=False)  # importing torch here would raise the peak measured


def _rss_now_mb() -> float:
    with open("/proc/self/status") as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1]) / 1024
    return float("nan")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def child(n_searches: int) -> dict:
    """Runs in the fresh subprocess; returns the figures as a dict (printed as JSON)."""
    stages = []

    def mark(name: str, t0: float) -> None:
        stages.append({"stage": name, "peak_rss_mb": round(_peak_mb(), 1), "rss_mb": round(_rss_now_mb(), 1),
                       "seconds": round(time.perf_counter() - t0, 2)})

    t = time.perf_counter()
    mark("start (bare interpreter)", t)

    t = time.perf_counter()
    sys.path.insert(0, str(ROOT))
    import faiss  # noqa: F401
    import numpy as np
    import PIL.Image  # noqa: F401
    import sentence_transformers  # noqa: F401
    import torch

    import nlu.encoders  # noqa: F401
    import retrieval.product_index  # noqa: F401
    from retrieval.search import SearchEngine
    from retrieval.settings import Settings
    mark("after import", t)

    t = time.perf_counter()
    settings = Settings()
    if not (settings.resolved_index_dir() / "manifest.json").exists():
        raise SystemExit(f"no index at {settings.resolved_index_dir()}: run `.venv/bin/python -m retrieval build`")
    engine = SearchEngine.from_settings(settings)
    mark("after load (SearchEngine.from_settings)", t)

    idx = engine.index
    arrays = {
        # a VectorIndex holding the dense matrix itself (share_rows) costs nothing extra
        "text VectorIndex vectors" + (" (= text_matrix)" if idx.text.vectors is idx.text_matrix else ""):
            0 if idx.text.vectors is idx.text_matrix else idx.text.vectors.nbytes,
        "image VectorIndex vectors" + (" (= image_matrix)" if idx.image.vectors is idx.image_matrix else ""):
            0 if idx.image.vectors is idx.image_matrix else idx.image.vectors.nbytes,
        "text faiss index (ntotal*dim*4)": len(idx.text) * idx.text.dim * 4,
        "image faiss index (ntotal*dim*4)": len(idx.image) * idx.image.dim * 4,
        "ProductIndex.text_matrix": idx.text_matrix.nbytes,
        "ProductIndex.image_matrix": idx.image_matrix.nbytes,
        "attribute codes + price": sum(a.nbytes for a in idx.codes.values()) + idx.price.nbytes,
    }
    gallery = getattr(getattr(engine, "models", None), "gallery", None)
    if gallery is not None:  # the shopper-like photo copies that vote on a photo's type
        arrays["photo gallery (low-res copies)"] = gallery.vectors.nbytes
    text_params = sum(p.numel() * p.element_size() for p in engine.text_encoder._model.parameters())
    image_params = sum(p.numel() * p.element_size() for p in engine.image_encoder._net.parameters())

    t = time.perf_counter()
    texts = ["red tshirts for men under 40", "black watches for women", "sandals", "jeans not blue",
             "something comfy for the beach", "Nike sports shoes", "formal shirts for men under $50",
             "handbags for women, no Baggit", "casual shoes between 20 and 60 dollars", "kurtas for women"]
    photos = [p.image for p in idx.products if p is not None and p.image][::97][: n_searches]
    done = 0
    for i in range(n_searches):
        if i % 2 == 0:
            engine.search(text=texts[(i // 2) % len(texts)], k=10)
        else:
            engine.search(image=photos[(i // 2) % len(photos)], k=10)
        done += 1
    mark(f"after {done} searches (text and photo)", t)

    return {"stages": stages, "n_products": len(idx), "n_with_image": int(idx.has_image.sum()),
            "index_dir": str(settings.resolved_index_dir()),
            "multimodal_models_loaded": getattr(engine, "models", None) is not None,
            "index_arrays_mb": {k: round(v / MB, 1) for k, v in arrays.items()},
            "model_params_mb": {"text": round(text_params / MB, 1), "image": round(image_params / MB, 1)},
            "torch_threads": torch.get_num_threads(), "numpy": np.__version__}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--searches", type=int, default=50)
    ap.add_argument("--out", type=Path, default=RESULTS / "memory.json")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.child:
        import logging

        logging.basicConfig(level=logging.ERROR)
        print("__RESULT__" + json.dumps(child(args.searches)))
        return 0

    # this process stays small (nothing heavy imported): the child's ru_maxrss starts from its
    # parent's peak (fork+exec), so a big parent would hide the child's own baseline
    info = machine_info()
    proc = subprocess.run([sys.executable, __file__, "--child", "--searches", str(args.searches)],
                          cwd=ROOT, capture_output=True, text=True)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("__RESULT__")), None)
    if proc.returncode != 0 or line is None:
        print(proc.stdout[-3000:], proc.stderr[-3000:], file=sys.stderr)
        return proc.returncode or 1
    data = json.loads(line[len("__RESULT__"):])
    info["parent_peak_rss_mb_at_spawn"] = round(_peak_mb(), 1)
    info["loadavg_end"] = list(os.getloadavg())

    stages = data["stages"]
    result = {
        "benchmark": "memory",
        "machine": info,
        "what": "max RSS (resource.getrusage ru_maxrss) of a fresh search process, fashion-10k loaded",
        **data,
        "summary": {
            "peak_after_import_mb": stages[1]["peak_rss_mb"],
            "peak_after_load_mb": stages[2]["peak_rss_mb"],
            f"peak_after_{args.searches}_searches_mb": stages[3]["peak_rss_mb"],
            "load_added_mb": round(stages[2]["peak_rss_mb"] - stages[1]["peak_rss_mb"], 1),
            "index_arrays_total_mb": round(sum(data["index_arrays_mb"].values()), 1),
        },
        "note": SHARED_NOTE,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))

    print(f"Search process memory, {data['n_products']} products ({data['n_with_image']} with a photo)")
    print(f"  {'stage':<42}{'peak RSS MB':>12}{'RSS now MB':>12}{'seconds':>9}")
    for s in stages:
        print(f"  {s['stage']:<42}{s['peak_rss_mb']:>12.1f}{s['rss_mb']:>12.1f}{s['seconds']:>9.2f}")
    print("\n  arrays held by the loaded index (MB):")
    for k, v in data["index_arrays_mb"].items():
        print(f"    {k:<36}{v:>8.1f}")
    print(f"    {'total':<36}{sum(data['index_arrays_mb'].values()):>8.1f}")
    print(f"  model parameters (MB): text {data['model_params_mb']['text']}, image {data['model_params_mb']['image']}")
    print(f"\nNOTE: {SHARED_NOTE}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
