"""Benchmark faiss index types for the shopping assistant's product search.

What it measures
----------------
Our product texts are embedded with MiniLM (384-d, L2-normalised), and search is
by inner product (= cosine).  This script compares, on synthetic vectors of the
same shape, the index types we could use:

* ``Flat``                exact search; its results are the ground truth;
* ``HNSW32``              graph index, efSearch in {16, 32, 64, 128};
* ``IVF{nlist},Flat``     inverted file, nlist ~ 4*sqrt(n), nprobe in {1, 4, 16, 64};
* ``IVF{nlist},SQ8``      same coarse quantizer, vectors stored as 8-bit scalars
                          (4x less memory), same nprobe values.

For every (index, search parameter) it reports:

* build time in seconds (train + add, once per index);
* index memory in bytes (length of ``faiss.serialize_index``);
* recall@10: mean |top10 ∩ exact top10| / 10 against ``Flat``;
* queries/s with single-query calls (batch size 1, which is how the chat server
  searches) and with one batched call over all queries; median of 3 repeats.

It also times single-query ``Flat`` search on subsets of 10k, 44k and 100k
vectors, which backs the project's rule: exact ``Flat`` by default up to ~100k
products, ``HNSW32`` beyond.

Data
----
Uniform random vectors on the 384-d sphere have no neighbourhood structure, which
is unlike real embeddings.  We generate clustered data instead, in two levels
like a catalogue: 100 category directions drawn uniformly on the sphere, 2,000
gaussian cluster centres around them (20 per category; sibling clusters overlap,
cosine ~0.9 between their centres), and each point is ``centre + noise``,
normalised.  The noise is gaussian with a decaying spectrum (variance ~ 1/(i+1)
over the axes, in a different axis order per cluster), so the data has a low
intrinsic dimension like real sentence embeddings; its norm varies per cluster
(tight and loose clusters).  Queries are fresh points drawn the same way (not
database points).  Everything comes from a fixed seed; the database is
generated in chunks.

With well-separated clusters (no category level) IVF lists line up with the
clusters and IVF looks unrealistically good (recall@10 = 1.0 at nprobe=4), while
HNSW with efConstruction=40 leaves some clusters badly connected; the overlapping
clusters here are a fairer stand-in for product embeddings.  HNSW is built with
efConstruction=80 (faiss default 40): on this data it lifts recall at equal
efSearch and removes queries that find none of their true neighbours.

Run
---
    .venv/bin/python bench/bench_faiss.py                 # n = 1,000,000 (~7 min on 2 cores)
    .venv/bin/python bench/bench_faiss.py --n 100000      # quick run

Outputs a table on stdout, ``bench/results/faiss.json`` (all figures + machine
info) and ``bench/results/faiss.md`` (markdown table + recommendation).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import faiss
import numpy as np
from tqdm import tqdm

K = 10
N_CLUSTERS = 2_000
N_CATEGORIES = 100
CENTRE_SPREAD = 0.3  # norm of a cluster centre's offset from its category (sibling cos ~0.9)
NOISE_NORM_RANGE = (0.5, 1.0)  # per-cluster norm of the noise vector (centre has norm 1)
CHUNK = 100_000
REPEATS = 3
SINGLE_QUERY_BUDGET_S = 2.0  # per repeat; slow indexes are timed on fewer queries
MIN_SINGLE_QUERIES = 30
SUBSET_SIZES = (10_000, 44_000, 100_000)
HNSW_M = 32
HNSW_EF_SEARCH = (16, 32, 64, 128)
IVF_NPROBE = (1, 4, 16, 64)
IVF_TRAIN_PER_LIST = 50
RECALL_TARGET = 0.95
FLAT_RULE_MAX_N = 100_000
METRIC = faiss.METRIC_INNER_PRODUCT


@dataclass
class Result:
    """One row of the results table: an index with one search setting."""

    index: str
    param: str
    build_s: float
    memory_bytes: int
    recall_at_10: float
    qps_single: float
    latency_single_ms: float
    single_queries_timed: int
    qps_batch: float


@dataclass
class Run:
    """Everything written to the JSON file."""

    machine: dict
    config: dict
    results: list[Result] = field(default_factory=list)
    flat_subsets: list[dict] = field(default_factory=list)
    recommendation: str = ""
    total_runtime_s: float = 0.0


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --------------------------------------------------------------------------- data


class ClusteredSphere:
    """Two-level gaussian clusters on the unit sphere (categories -> clusters -> points).

    Cluster centres are spread around N_CATEGORIES category directions, so that
    sibling clusters overlap the way related products do.  Point noise has a
    decaying spectrum over the axes, permuted per cluster, so each cluster
    varies along its own few main directions.
    """

    def __init__(self, dim: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.dim = dim
        categories = normalise(rng.standard_normal((N_CATEGORIES, dim), dtype=np.float32))
        spread = rng.standard_normal((N_CLUSTERS, dim), dtype=np.float32)
        spread *= CENTRE_SPREAD / np.sqrt(dim)
        self.centres = normalise(categories[np.arange(N_CLUSTERS) % N_CATEGORIES] + spread)
        spectrum = 1.0 / np.sqrt(np.arange(1, dim + 1, dtype=np.float32))
        spectrum /= np.linalg.norm(spectrum)
        self.axis_scale = np.stack([rng.permutation(spectrum) for _ in range(N_CLUSTERS)])
        noise_norm = rng.uniform(*NOISE_NORM_RANGE, size=(N_CLUSTERS, 1)).astype(np.float32)
        self.axis_scale *= noise_norm

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        labels = rng.integers(0, N_CLUSTERS, size=n)
        x = rng.standard_normal((n, self.dim), dtype=np.float32)
        x *= self.axis_scale[labels]
        x += self.centres[labels]
        return normalise(x)


def normalise(x: np.ndarray) -> np.ndarray:
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def make_data(n: int, n_queries: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Database (generated in chunks into one array) and fresh queries."""
    gen = ClusteredSphere(dim, seed)
    rng_db = np.random.default_rng(seed + 1)
    xb = np.empty((n, dim), dtype=np.float32)
    for start in tqdm(range(0, n, CHUNK), desc="generate", unit="chunk"):
        stop = min(start + CHUNK, n)
        xb[start:stop] = gen.sample(stop - start, rng_db)
    xq = gen.sample(n_queries, np.random.default_rng(seed + 2))
    return xb, xq


# ----------------------------------------------------------------------- timing


def add_chunked(index: faiss.Index, xb: np.ndarray, desc: str) -> None:
    for start in tqdm(range(0, len(xb), CHUNK), desc=desc, unit="chunk"):
        index.add(xb[start : start + CHUNK])


def index_bytes(index: faiss.Index) -> int:
    return int(faiss.serialize_index(index).nbytes)


def time_batch(index: faiss.Index, xq: np.ndarray) -> tuple[float, np.ndarray]:
    """Median queries/s of one batched search call, and the result ids."""
    times, ids = [], None
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        _, ids = index.search(xq, K)
        times.append(time.perf_counter() - t0)
    return len(xq) / statistics.median(times), ids


def time_single(index: faiss.Index, xq: np.ndarray) -> tuple[float, int]:
    """Median queries/s of one-query-per-call search, and how many queries were timed.

    Slow indexes (Flat at 1M) are timed on the first queries that fit in
    SINGLE_QUERY_BUDGET_S per repeat, but never fewer than MIN_SINGLE_QUERIES.
    """
    t0 = time.perf_counter()
    for i in range(5):  # warm-up and speed estimate
        index.search(xq[i : i + 1], K)
    per_query = (time.perf_counter() - t0) / 5
    n = int(min(len(xq), max(MIN_SINGLE_QUERIES, SINGLE_QUERY_BUDGET_S / per_query)))
    times = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        for i in range(n):
            index.search(xq[i : i + 1], K)
        times.append(time.perf_counter() - t0)
    return n / statistics.median(times), n


def recall_at_k(ids: np.ndarray, truth: np.ndarray) -> float:
    hits = sum(len(np.intersect1d(a, b, assume_unique=True)) for a, b in zip(ids, truth))
    return hits / (K * len(truth))


def measure(
    name: str,
    param: str,
    index: faiss.Index,
    build_s: float,
    memory: int,
    xq: np.ndarray,
    truth: np.ndarray | None,
) -> tuple[Result, np.ndarray]:
    qps_batch, ids = time_batch(index, xq)
    qps_single, n_single = time_single(index, xq)
    recall = 1.0 if truth is None else recall_at_k(ids, truth)
    res = Result(
        index=name,
        param=param,
        build_s=round(build_s, 2),
        memory_bytes=memory,
        recall_at_10=round(recall, 4),
        qps_single=round(qps_single, 1),
        latency_single_ms=round(1000 / qps_single, 3),
        single_queries_timed=n_single,
        qps_batch=round(qps_batch, 1),
    )
    log(f"{name:<16} {param:<12} recall@10={recall:.3f} single={qps_single:,.0f} q/s "
        f"batch={qps_batch:,.0f} q/s")
    return res, ids


# ---------------------------------------------------------------------- indexes


def bench_flat(xb: np.ndarray, xq: np.ndarray) -> tuple[Result, np.ndarray]:
    index = faiss.index_factory(xb.shape[1], "Flat", METRIC)
    t0 = time.perf_counter()
    add_chunked(index, xb, "Flat add")
    build_s = time.perf_counter() - t0
    res, truth = measure("Flat", "exact", index, build_s, index_bytes(index), xq, None)
    return res, truth


def bench_hnsw(
    xb: np.ndarray, xq: np.ndarray, truth: np.ndarray, ef_construction: int
) -> list[Result]:
    factory = f"HNSW{HNSW_M}"
    index = faiss.index_factory(xb.shape[1], factory, METRIC)
    index.hnsw.efConstruction = ef_construction
    t0 = time.perf_counter()
    add_chunked(index, xb, f"{factory} add (efC={ef_construction})")
    build_s = time.perf_counter() - t0
    log(f"{factory} built in {build_s:.1f}s")
    memory = index_bytes(index)
    results = []
    for ef in HNSW_EF_SEARCH:
        index.hnsw.efSearch = ef
        results.append(measure(factory, f"efSearch={ef}", index, build_s, memory, xq, truth)[0])
    return results


def train_sample(xb: np.ndarray, nlist: int, seed: int) -> np.ndarray:
    n_train = min(len(xb), IVF_TRAIN_PER_LIST * nlist)
    rows = np.sort(np.random.default_rng(seed + 3).choice(len(xb), n_train, replace=False))
    return xb[rows]


def bench_ivf(
    factory: str,
    xb: np.ndarray,
    xq: np.ndarray,
    truth: np.ndarray,
    xt: np.ndarray,
    kmeans_iters: int,
    centroids: np.ndarray | None,
    quantizer_train_s: float,
) -> tuple[list[Result], np.ndarray, float]:
    """Build and measure an IVF index.

    If ``centroids`` is given, the coarse quantizer is reused from an earlier IVF
    build (k-means is not re-run), and its training time is added to build_s so
    that build_s still means "time to build this index from scratch".
    Returns results, the coarse centroids and the quantizer training time.
    """
    index = faiss.index_factory(xb.shape[1], factory, METRIC)
    ivf = faiss.extract_index_ivf(index)
    ivf.cp.niter = kmeans_iters
    t0 = time.perf_counter()
    if centroids is not None:
        ivf.quantizer.add(centroids)  # quantizer is trained: IVF.train only trains the codec
    log(f"{factory}: training on {len(xt):,} vectors")
    index.train(xt)
    train_s = time.perf_counter() - t0
    if centroids is None:
        quantizer_train_s = train_s
        centroids = ivf.quantizer.reconstruct_n(0, ivf.nlist)
    else:
        train_s += quantizer_train_s
    t0 = time.perf_counter()
    add_chunked(index, xb, f"{factory} add")
    build_s = train_s + time.perf_counter() - t0
    log(f"{factory} built in {build_s:.1f}s (train {train_s:.1f}s)")
    memory = index_bytes(index)
    results = []
    for nprobe in IVF_NPROBE:
        ivf.nprobe = nprobe
        results.append(measure(factory, f"nprobe={nprobe}", index, build_s, memory, xq, truth)[0])
    return results, centroids, quantizer_train_s


def bench_flat_subsets(xb: np.ndarray, xq: np.ndarray) -> list[dict]:
    """Single-query latency of exact Flat search on catalogue-sized subsets."""
    rows = []
    for size in SUBSET_SIZES:
        if size >= len(xb):
            continue
        index = faiss.IndexFlatIP(xb.shape[1])
        index.add(xb[:size])
        qps, n_timed = time_single(index, xq)
        rows.append({"n": size, "qps_single": round(qps, 1),
                     "latency_single_ms": round(1000 / qps, 3), "single_queries_timed": n_timed})
        log(f"Flat subset n={size:,}: {1000 / qps:.2f} ms/query")
    return rows


# ---------------------------------------------------------------------- reports


def machine_info() -> dict:
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "faiss_threads": faiss.omp_get_max_threads(),
        "faiss_version": faiss.__version__,
        "faiss_compile_options": faiss.get_compile_options(),
        "numpy_version": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_avg_1_5_15_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def fmt_bytes(n: int) -> str:
    return f"{n / 2**20:,.0f} MiB" if n >= 2**20 else f"{n / 2**10:,.0f} KiB"


TABLE_HEADER = ("index", "param", "build s", "memory", "recall@10",
                "single q/s", "single ms", "batch q/s")


def table_rows(results: list[Result]) -> list[tuple[str, ...]]:
    return [(r.index, r.param, f"{r.build_s:.1f}", fmt_bytes(r.memory_bytes),
             f"{r.recall_at_10:.3f}", f"{r.qps_single:,.0f}", f"{r.latency_single_ms:.3f}",
             f"{r.qps_batch:,.0f}") for r in results]


def text_table(results: list[Result]) -> str:
    rows = [TABLE_HEADER, *table_rows(results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(TABLE_HEADER))]
    line = lambda row: "  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                                 for i, (c, w) in enumerate(zip(row, widths)))
    return "\n".join([line(rows[0]), "  ".join("-" * w for w in widths),
                      *map(line, rows[1:])])


def markdown_table(header: tuple[str, ...], rows: list[tuple[str, ...]], n_text: int = 2) -> str:
    """Markdown table; the first ``n_text`` columns are left-aligned, the rest right."""
    out = ["| " + " | ".join(header) + " |",
           "|" + "|".join("---" if i < n_text else "---:" for i in range(len(header))) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def recommend(run: Run) -> str:
    """Recommendation computed from the measurements."""
    flat = next(r for r in run.results if r.index == "Flat")
    n = run.config["n"]
    ok = [r for r in run.results if r.index != "Flat" and r.recall_at_10 >= RECALL_TARGET]
    lines = []
    if ok:
        best = max(ok, key=lambda r: r.qps_single)
        lines.append(
            f"At n={n:,}, the fastest approximate config with recall@10 >= {RECALL_TARGET} is "
            f"{best.index} ({best.param}): recall@10 {best.recall_at_10:.3f}, "
            f"{best.latency_single_ms:.2f} ms/query single-query "
            f"({best.qps_single / flat.qps_single:,.0f}x faster than Flat's "
            f"{flat.latency_single_ms:.1f} ms), {fmt_bytes(best.memory_bytes)} "
            f"(Flat {fmt_bytes(flat.memory_bytes)}), built in {best.build_s:.0f}s.")
        smallest = min(ok, key=lambda r: r.memory_bytes)
        if smallest is not best:
            lines.append(
                f"The smallest config reaching the target is {smallest.index} ({smallest.param}): "
                f"{fmt_bytes(smallest.memory_bytes)}, recall@10 {smallest.recall_at_10:.3f}, "
                f"{smallest.latency_single_ms:.2f} ms/query.")
    else:
        lines.append(f"At n={n:,} no approximate config reached recall@10 >= {RECALL_TARGET}.")
    hnsw_ok = [r for r in ok if r.index.startswith("HNSW")]
    if hnsw_ok:
        h = hnsw_ok[0]  # lowest efSearch reaching the target (rows are in efSearch order)
        lines.append(
            f"HNSW{HNSW_M} reaches the target from {h.param} "
            f"({h.latency_single_ms:.2f} ms/query, recall@10 {h.recall_at_10:.3f}).")
    lat = {row["n"]: row["latency_single_ms"] for row in run.flat_subsets}
    lat[n] = flat.latency_single_ms
    lat_txt = ", ".join(f"{size:,}: {ms:.2f} ms" for size, ms in sorted(lat.items()))
    at_rule = lat.get(FLAT_RULE_MAX_N)
    rule_txt = (f", where one exact query costs at most {at_rule:.1f} ms on this machine"
                if at_rule else "")
    lines.append(
        f"Exact Flat single-query latency by catalogue size: {lat_txt}. "
        f"Project rule: exact Flat (IndexFlatIP: recall 1.0, no training, no tuning) by default "
        f"for catalogues up to ~{FLAT_RULE_MAX_N:,} products{rule_txt}; HNSW{HNSW_M} beyond "
        f"that, with efSearch chosen from the table above for recall@10 >= {RECALL_TARGET}.")
    return "\n".join(lines)


def contention_note(run: Run) -> str:
    """Warn when other processes competed for the CPUs during the run."""
    m = run.machine
    loads = m["load_avg_1_5_15_at_start"][:1] + m.get("load_avg_1_5_15_at_end", [0])[:1]
    if max(loads) <= m["nproc"]:
        return ""
    return (f"Warning: the machine was shared during this run (1-min load average "
            f"{loads[0]:.1f} at start, {loads[-1]:.1f} at end, on {m['nproc']} cores): "
            f"absolute speeds are pessimistic; recall, memory and the ratios between "
            f"indexes are more reliable.")


def write_outputs(run: Run, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = asdict(run)
    out.write_text(json.dumps(payload, indent=2) + "\n")
    cfg, m = run.config, run.machine
    subset_rows = [(f"{r['n']:,}", f"{r['latency_single_ms']:.3f}", f"{r['qps_single']:,.0f}")
                   for r in run.flat_subsets]
    md = [
        f"# faiss index benchmark (n={cfg['n']:,}, dim={cfg['dim']}, {cfg['queries']:,} queries)",
        "",
        f"Generated by `bench/bench_faiss.py`. Machine: {m['cpu']}, nproc={m['nproc']}, "
        f"faiss {m['faiss_version']} with {m['faiss_threads']} OpenMP threads. "
        f"Synthetic clustered, L2-normalised vectors ({cfg['n_categories']} categories x "
        f"{cfg['n_clusters'] // cfg['n_categories']} overlapping gaussian clusters), "
        f"inner-product metric. "
        f"HNSW efConstruction={cfg['hnsw_ef_construction']}; IVF nlist={cfg['nlist']} trained on "
        f"{cfg['ivf_train_size']:,} vectors (k-means {cfg['kmeans_iters']} iterations); "
        f"the SQ8 index reuses the IVF,Flat coarse quantizer, its build time includes that "
        f"training. Speeds are medians of {REPEATS} repeats; single = one query per call. "
        f"Total runtime {run.total_runtime_s / 60:.1f} min.",
        "",
        *([f"> {contention_note(run)}", ""] if contention_note(run) else []),
        markdown_table(TABLE_HEADER, table_rows(run.results)),
        "",
        "## Exact Flat, single-query latency on subsets",
        "",
        markdown_table(("n", "ms/query", "q/s"), subset_rows, n_text=0),
        "",
        "## Recommendation",
        "",
        *[f"- {line}" for line in run.recommendation.splitlines()],
        "",
    ]
    out.with_suffix(".md").write_text("\n".join(md))


# ------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=1_000_000, help="database size")
    p.add_argument("--queries", type=int, default=1_000)
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--out", type=Path, default=Path("bench/results/faiss.json"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2, help="faiss OpenMP threads")
    p.add_argument("--ef-construction", type=int, default=80,
                   help="HNSW efConstruction (faiss default is 40; 80 builds a better-connected "
                        "graph on clustered data for ~1.5x the build time)")
    p.add_argument("--kmeans-iters", type=int, default=10, help="IVF k-means iterations")
    p.add_argument("--no-sq8", action="store_true", help="skip the IVF,SQ8 index")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    t_start = time.perf_counter()
    faiss.omp_set_num_threads(args.threads)
    nlist = 2 ** round(math.log2(4 * math.sqrt(args.n)))  # 4096 at 1M, 1024 at 100k
    run = Run(machine=machine_info(), config={
        "n": args.n, "dim": args.dim, "queries": args.queries, "seed": args.seed, "k": K,
        "threads": args.threads, "n_categories": N_CATEGORIES, "n_clusters": N_CLUSTERS,
        "centre_spread": CENTRE_SPREAD, "noise_norm_range": NOISE_NORM_RANGE,
        "hnsw_m": HNSW_M, "hnsw_ef_construction": args.ef_construction, "nlist": nlist,
        "ivf_train_size": min(args.n, IVF_TRAIN_PER_LIST * nlist),
        "kmeans_iters": args.kmeans_iters, "repeats": REPEATS,
        "single_query_budget_s": SINGLE_QUERY_BUDGET_S,
    })
    log(f"faiss {faiss.__version__}, {args.threads} threads, n={args.n:,}, dim={args.dim}, "
        f"queries={args.queries:,}, nlist={nlist}, HNSW efConstruction={args.ef_construction}")

    xb, xq = make_data(args.n, args.queries, args.dim, args.seed)
    flat, truth = bench_flat(xb, xq)
    run.results.append(flat)
    run.flat_subsets = bench_flat_subsets(xb, xq)
    run.results += bench_hnsw(xb, xq, truth, args.ef_construction)

    xt = train_sample(xb, nlist, args.seed)
    ivf_flat = f"IVF{nlist},Flat"
    results, centroids, q_train_s = bench_ivf(
        ivf_flat, xb, xq, truth, xt, args.kmeans_iters, None, 0.0)
    run.results += results
    if not args.no_sq8:
        run.results += bench_ivf(f"IVF{nlist},SQ8", xb, xq, truth, xt, args.kmeans_iters,
                                 centroids, q_train_s)[0]

    run.total_runtime_s = round(time.perf_counter() - t_start, 1)
    run.machine["load_avg_1_5_15_at_end"] = [round(x, 2) for x in os.getloadavg()]
    run.recommendation = recommend(run)
    print()
    print(text_table(run.results))
    print()
    print(run.recommendation)
    print(f"\nTotal runtime: {run.total_runtime_s / 60:.1f} min")
    if contention_note(run):
        print(contention_note(run))
    write_outputs(run, args.out)
    log(f"wrote {args.out} and {args.out.with_suffix('.md')}")


if __name__ == "__main__":
    main(sys.argv[1:])
