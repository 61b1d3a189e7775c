"""Index build throughput vs. the image encoder's own throughput.

What it measures
----------------
1. A full index build of a catalog with :func:`retrieval.product_index.build_index` and the
   real encoders (MiniLM text, EfficientNet-Lite0 photos), written to a temporary index folder
   under ``var/bench/`` (deleted afterwards unless ``--keep``). Throughput is
   ``products / BuildReport.seconds`` (the whole call: catalog load with photo checks, model
   loading, text and photo encoding, faiss, vocabulary, saving). The ``BuildReport.timings``
   breakdown (load_catalog, text_encode, image_encode, faiss) is reported, plus "other" (the
   rest of the wall time: model loading, hashing, vocabulary, writing the folder).
2. The image encoder alone: only the network forward (``ImageEncoder._features``) on batches
   that were decoded and pre-processed beforehand, same batch size as the build (default 32),
   on a sample of >= 512 of the same photos. Measured in passes before and after the build
   (the machine is shared, so both halves see similar background load); the median pass is
   used. Decode+preprocess throughput (one thread) is reported too, to explain the gap.

The headline is ``ratio = build products/s / encoder images/s``; target >= 0.9 (a build should
cost little more than running the network over the photos). Because the machine is shared and
the load changes minute by minute, two noise-robust companions are reported as well: the same
ratio in CPU time (products per CPU-second of the build process / images per CPU-second of the
forward passes), and the share of the build's wall time spent inside the network forward
(the build's image encoder is created here and passed to ``build_index`` with its forward calls
timed; the text encoder is still created by ``build_index``).

``--limit N`` builds on the first N products: a temporary catalog folder under ``var/bench/``
holds a ``products.csv`` with the first N rows and an ``images/`` folder of symlinks to the real
photo files (``load_catalog`` checks image paths textually, so links inside the folder pass, and
``Path.is_file``/PIL follow them). Default: the whole fashion-10k catalog (9,572 products),
read in place.

Run
---
    .venv/bin/python bench/bench_build.py                 # full fashion-10k (several minutes)
    .venv/bin/python bench/bench_build.py --limit 1000    # quick run

Writes ``bench/results/build.json`` (figures + machine info) and prints a table.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from retrieval.settings import Settings  # noqa: E402

BENCH_VAR = ROOT / "var" / "bench"
RESULTS = ROOT / "bench" / "results"
TARGET_RATIO = 0.9
from _common import SHARED_NOTE, code_version, machine_info  # noqa: E402


# ------------------------------------------------------------------------------ machine info
# ------------------------------------------------------------------------------ subset catalog
def make_subset(catalog_dir: Path, csv_name: str, limit: int, dest: Path) -> int:
    """products.csv with the first ``limit`` data rows + images/ symlinks to the real files."""
    dest.mkdir(parents=True)
    src_root = catalog_dir.resolve()
    n = 0
    with open(src_root / csv_name, newline="", encoding="utf-8-sig") as fin, \
            open(dest / csv_name, "w", newline="", encoding="utf-8") as fout:
        reader = csv.reader(fin)
        writer = csv.writer(fout)
        header = next(reader)
        writer.writerow(header)
        img_col = next((i for i, h in enumerate(header) if h.strip().casefold() == "image"), None)
        for row in reader:
            if n >= limit:
                break
            writer.writerow(row)
            n += 1
            if img_col is None or img_col >= len(row) or not row[img_col].strip():
                continue
            rel = row[img_col].strip()
            target = src_root / rel
            link = dest / rel
            if target.is_file() and not link.exists():
                link.parent.mkdir(parents=True, exist_ok=True)
                os.symlink(target, link)
    return n


# ------------------------------------------------------------------------------ encoder alone
def encoder_passes(encoder, batches: list[np.ndarray], repeats: int) -> list[tuple[float, float]]:
    """(images/s, images per CPU-second) of the network forward only, one pair per pass."""
    n = sum(len(b) for b in batches)
    out = []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        for b in batches:
            encoder._features(b)
        out.append((n / (time.perf_counter() - t), n / max(time.process_time() - c, 1e-9)))
    return out


def prepare_batches(paths: list[str], batch_size: int, image_size: int) -> tuple[list[np.ndarray], float]:
    from nlu.encoders import load_image, preprocess

    t = time.perf_counter()
    arrays = [preprocess(load_image(p), image_size) for p in paths]
    decode_ips = len(arrays) / (time.perf_counter() - t)
    batches = [np.stack(arrays[i:i + batch_size]) for i in range(0, len(arrays), batch_size)]
    return batches, decode_ips


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--catalog", type=Path, default=None, help="catalog folder (default: settings, fashion-10k)")
    ap.add_argument("--limit", type=int, default=None, help="build on the first N products only")
    ap.add_argument("--batch-size", type=int, default=32, help="image batch size (build and encoder bench)")
    ap.add_argument("--sample", type=int, default=512, help="photos in the encoder-only sample (>= 512)")
    ap.add_argument("--repeats", type=int, default=2,
                    help="encoder-only passes before and after the build (each)")
    ap.add_argument("--torch-threads", type=int, default=None,
                    help="torch.set_num_threads(N) for the whole run (default: torch's own choice)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary catalog/index folders")
    ap.add_argument("--out", type=Path, default=RESULTS / "build.json")
    args = ap.parse_args(argv)
    if args.sample < 512:
        ap.error("--sample must be >= 512")

    import logging

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("retrieval.product_index").setLevel(logging.ERROR)  # per-photo warnings

    if args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)
    base = Settings(batch_size=args.batch_size)
    catalog_dir = Path(args.catalog or base.catalog_dir).resolve()
    info = machine_info()
    info["code"] = code_version()
    BENCH_VAR.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="build-", dir=BENCH_VAR))
    try:
        if args.limit:
            sub = work / f"{catalog_dir.name}-first{args.limit}"
            n_rows = make_subset(catalog_dir, base.catalog_csv, args.limit, sub)
            build_catalog = sub
            print(f"subset catalog: {n_rows} rows, photos symlinked, in {sub}")
        else:
            build_catalog = catalog_dir
        settings = base.model_copy(update={"catalog_dir": build_catalog, "index_dir": work / "index"})

        # photos for the encoder-only measurement: the first products that have a readable photo
        from nlu.encoders import ImageEncoder
        from retrieval.catalog import load_catalog

        cat = load_catalog(build_catalog, settings.catalog_columns or None, csv_name=settings.catalog_csv,
                           check_images="exists")
        paths = [p.image for p in cat if p.image][: args.sample]
        if len(paths) < args.sample:
            print(f"note: only {len(paths)} photos available for the encoder sample")
        print(f"decoding + preprocessing {len(paths)} photos for the encoder-only measurement ...")
        encoder = ImageEncoder(settings.image_model)
        batches, decode_ips = prepare_batches(paths, args.batch_size, encoder.image_size)
        encoder._features(batches[0])  # warm-up
        before = encoder_passes(encoder, batches, args.repeats)
        print("encoder-only passes before the build: " + ", ".join(f"{x:.1f}" for x, _ in before) + " img/s")

        # the build; the image encoder is a fresh one whose forward calls are timed inside the
        # build (same conditions as the build itself); the text encoder is created by build_index
        from retrieval.product_index import build_index

        build_encoder = ImageEncoder(settings.image_model)
        forward = {"s": 0.0, "cpu_s": 0.0, "images": 0}
        plain_features = build_encoder._features

        def timed_features(pixels: np.ndarray) -> np.ndarray:
            t0, c0 = time.perf_counter(), time.process_time()
            out = plain_features(pixels)
            forward["s"] += time.perf_counter() - t0
            forward["cpu_s"] += time.process_time() - c0
            forward["images"] += len(pixels)
            return out

        build_encoder._features = timed_features
        print(f"building the index of {build_catalog} ({len(cat)} products) into {settings.index_dir} ...")
        t, c = time.perf_counter(), time.process_time()
        report = build_index(settings, rebuild=True, progress=False, image_encoder=build_encoder)
        wall, build_cpu = time.perf_counter() - t, time.process_time() - c
        print(report.summary())

        after = encoder_passes(encoder, batches, args.repeats)
        print("encoder-only passes after the build: " + ", ".join(f"{x:.1f}" for x, _ in after) + " img/s")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    passes = [x for x, _ in before + after]
    cpu_passes = [y for _, y in before + after]
    enc_ips = statistics.median(passes)
    enc_ipcs = statistics.median(cpu_passes)
    build_ppcs = report.n_products / build_cpu
    in_build_ips = forward["images"] / forward["s"] if forward["s"] else None
    forward_share = forward["s"] / report.seconds
    build_pps = report.n_products / report.seconds
    n_images = report.n_products - report.image_errors
    timings = {k: round(v, 3) for k, v in report.timings.items()}
    other = report.seconds - sum(report.timings.values())
    image_stage_ips = n_images / report.timings["image_encode"] if report.timings.get("image_encode") else None
    text_stage_ps = report.n_products / report.timings["text_encode"] if report.timings.get("text_encode") else None
    ratio = build_pps / enc_ips
    info["loadavg_end"] = list(os.getloadavg())

    result = {
        "benchmark": "build",
        "machine": info,
        "config": {"catalog": str(catalog_dir), "limit": args.limit, "batch_size": args.batch_size,
                   "torch_threads": args.torch_threads or "default",
                   "encoder_sample": len(paths), "encoder_passes": len(passes),
                   "text_model": settings.text_model, "image_model": settings.image_model,
                   "faiss_factory": settings.faiss_factory, "check_images": settings.check_images},
        "build": {"n_products": report.n_products, "n_with_image": n_images,
                  "image_errors": report.image_errors, "catalog_issues": report.catalog_issues,
                  "seconds": round(report.seconds, 3), "wall_seconds": round(wall, 3),
                  "products_per_s": round(build_pps, 2), "timings_s": timings,
                  "other_s": round(other, 3),
                  "image_stage_images_per_s": None if image_stage_ips is None else round(image_stage_ips, 2),
                  "text_stage_products_per_s": None if text_stage_ps is None else round(text_stage_ps, 2),
                  "cpu_seconds": round(build_cpu, 1),
                  "products_per_cpu_s": round(build_ppcs, 2),
                  "forward_in_build_s": round(forward["s"], 2),
                  "forward_in_build_cpu_s": round(forward["cpu_s"], 2),
                  "forward_in_build_images_per_s": None if in_build_ips is None else round(in_build_ips, 2),
                  "forward_share_of_build": round(forward_share, 3),
                  "image_encoder": "created before the build and passed in (its forward calls timed); "
                                   "text encoder created by build_index"},
        "encoder": {"images_per_s_median": round(enc_ips, 2),
                    "passes_images_per_s": [round(x, 2) for x in passes],
                    "images_per_cpu_s_median": round(enc_ipcs, 2),
                    "passes_images_per_cpu_s": [round(x, 2) for x in cpu_passes],
                    "decode_preprocess_images_per_s_1thread": round(decode_ips, 2),
                    "what": "network forward only (ImageEncoder._features) on pre-decoded, "
                            "pre-processed batches"},
        "summary": {"build_products_per_s": round(build_pps, 2),
                    "encoder_images_per_s": round(enc_ips, 2),
                    "ratio_build_over_encoder": round(ratio, 3),
                    "target_ratio": TARGET_RATIO, "meets_target": bool(ratio >= TARGET_RATIO),
                    "image_stage_over_encoder": None if image_stage_ips is None else round(image_stage_ips / enc_ips, 3),
                    "ratio_cpu_time": round(build_ppcs / enc_ipcs, 3),
                    "forward_share_of_build": round(forward_share, 3),
                    "build_seconds": round(report.seconds, 1)},
        "note": SHARED_NOTE,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))

    # ------------------------------------------------------------------ table
    s = report.seconds
    print()
    print(f"Index build, {report.n_products} products ({catalog_dir.name}"
          f"{f', first {args.limit}' if args.limit else ''}), batch {args.batch_size}")
    print(f"  {'stage':<26}{'seconds':>10}{'share':>8}")
    for k in ("load_catalog", "text_encode", "image_encode", "faiss"):
        v = report.timings.get(k, 0.0)
        print(f"  {k:<26}{v:>10.2f}{v / s:>8.1%}")
    print(f"  {'other (models, save, ...)':<26}{other:>10.2f}{other / s:>8.1%}")
    print(f"  {'total':<26}{s:>10.2f}")
    print()
    print(f"  build throughput           {build_pps:8.1f} products/s")
    if image_stage_ips:
        print(f"  build image_encode stage   {image_stage_ips:8.1f} images/s (decode + forward, overlapped)")
    if text_stage_ps:
        print(f"  build text_encode stage    {text_stage_ps:8.1f} products/s")
    print(f"  encoder forward only       {enc_ips:8.1f} images/s (median of {len(passes)} passes "
          f"over {len(paths)} photos; range {min(passes):.1f}-{max(passes):.1f})")
    print(f"  decode+preprocess, 1 thread{decode_ips:8.1f} images/s")
    print(f"  ratio build/encoder        {ratio:8.3f}  (target >= {TARGET_RATIO}: "
          f"{'met' if ratio >= TARGET_RATIO else 'NOT met'})")
    print("  noise-robust companions:")
    print(f"    per CPU-second: build {build_ppcs:.1f} products, encoder {enc_ipcs:.1f} images "
          f"-> ratio {build_ppcs / enc_ipcs:.3f}")
    if in_build_ips:
        print(f"    network forward inside the build: {forward['s']:.1f} s of {report.seconds:.1f} s "
              f"({forward_share:.1%}; {in_build_ips:.1f} images/s while it ran)")
    print()
    print(f"NOTE: {SHARED_NOTE}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
