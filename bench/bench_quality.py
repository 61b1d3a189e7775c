"""Retrieval quality on the shared development queries, against simple baselines.

Runs the project's batch command (``python -m retrieval search``) on ``../shared/eval/dev-queries.jsonl``
(photos materialized first), scores it with the shared ``score.py``, and computes three baselines
on the same index for comparison: BM25 over titles, plain MiniLM over title+attributes with no
constraints, and plain nearest-neighbour image features for photo queries.

    .venv/bin/python bench/bench_quality.py [--queries ../shared/eval/dev-queries.jsonl]

Targets (issue 2): typed nDCG@10 >= 0.90 (BM25 0.33, plain MiniLM 0.59 for reference).
Writes bench/results/quality.json and bench/results/quality.md.
"""
from __future__ import annotations

import argparse
import json
import math
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared"
OUT = ROOT / "bench" / "results"
WORK = ROOT / "var" / "bench" / "quality"


def materialize(queries: Path) -> Path:
    """Photos out of the zip into files (the shared tool); cached."""
    dest = WORK / "materialized"
    qfile = dest / "queries.jsonl"
    if not qfile.exists() or qfile.stat().st_mtime < queries.stat().st_mtime:
        subprocess.run([sys.executable, str(SHARED / "eval" / "materialize.py"), str(SHARED / "catalog"),
                        str(queries), str(dest)], check=True)
    return qfile


def score(qfile: Path, run: Path) -> dict:
    out = subprocess.run([sys.executable, str(SHARED / "eval" / "score.py"), str(SHARED / "catalog"),
                          str(qfile), str(run), "--json"], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def write_run(path: Path, rows: list[tuple[str, list[str]]]) -> None:
    with open(path, "w") as f:
        for qid, ids in rows:
            f.write(json.dumps({"id": qid, "results": [{"id": i} for i in ids]}) + "\n")


class BM25:
    """Okapi BM25 over product titles (k1=1.2, b=0.75)."""

    def __init__(self, docs: list[str]) -> None:
        self.toks = [re.findall(r"[a-z0-9]+", d.lower()) for d in docs]
        self.df = Counter(t for d in self.toks for t in set(d))
        self.n = len(docs)
        self.avg = sum(map(len, self.toks)) / max(self.n, 1)
        self.tf = [Counter(d) for d in self.toks]

    def scores(self, query: str) -> np.ndarray:
        q = re.findall(r"[a-z0-9]+", query.lower())
        s = np.zeros(self.n, np.float32)
        for t in set(q):
            if t not in self.df:
                continue
            idf = math.log(1 + (self.n - self.df[t] + 0.5) / (self.df[t] + 0.5))
            for i, tf in enumerate(self.tf):
                f = tf.get(t)
                if f:
                    s[i] += idf * f * 2.2 / (f + 1.2 * (0.25 + 0.75 * len(self.toks[i]) / self.avg))
        return s


def baselines(qfile: Path) -> dict[str, list[tuple[str, list[str]]]]:
    from nlu.encoders import ImageEncoder, TextEncoder
    from retrieval.product_index import ProductIndex
    from retrieval.settings import Settings

    idx = ProductIndex.load(Settings().resolved_index_dir(), Settings())
    alive = np.flatnonzero(idx.alive)
    pids = [idx.products[i].id for i in alive]
    queries = [json.loads(line) for line in open(qfile)]
    te, ie = TextEncoder(), ImageEncoder()
    bm25 = BM25([idx.products[i].title for i in alive])
    runs: dict[str, list] = {"bm25_titles": [], "minilm_plain": [], "image_nn_plain": []}
    for q in queries:
        if q.get("text") and q["kind"] == "text":
            s = bm25.scores(q["text"])
            runs["bm25_titles"].append((q["id"], [pids[j] for j in np.argsort(-s, kind="stable")[:10]]))
            v = te.encode([q["text"]])[0]
            s = idx.text_matrix[alive] @ v
            runs["minilm_plain"].append((q["id"], [pids[j] for j in np.argsort(-s)[:10]]))
        if q.get("image"):
            v = ie.encode([q["image"]])[0]
            s = idx.image_matrix[alive] @ v
            runs["image_nn_plain"].append((q["id"], [pids[j] for j in np.argsort(-s)[:10]]))
    return runs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--queries", type=Path, default=SHARED / "eval" / "dev-queries.jsonl")
    ap.add_argument("--no-baselines", action="store_true")
    args = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    OUT.mkdir(parents=True, exist_ok=True)
    qfile = materialize(args.queries)

    run = WORK / "run.jsonl"
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "retrieval", "search", "--queries", str(qfile), "--out", str(run),
                    "--quiet"], check=True, cwd=ROOT)
    elapsed = time.perf_counter() - t
    table = {"system": score(qfile, run)}
    if not args.no_baselines:
        for name, rows in baselines(qfile).items():
            path = WORK / f"{name}.jsonl"
            write_run(path, rows)
            table[name] = score(qfile, path)

    kinds = sorted({k for t in table.values() for k in t}, key=lambda k: (k == "all", k))
    lines = ["| system | " + " | ".join(f"{k} nDCG@10 (n)" for k in kinds) + " |",
             "|---|" + "---|" * len(kinds)]
    for name, t in table.items():
        cells = [f"{t[k]['ndcg']:.3f} ({t[k]['n']})" if k in t else "-" for k in kinds]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    md = "\n".join(lines)
    print(md)
    detail = {name: t for name, t in table.items()}
    result = {"queries": str(args.queries), "batch_seconds": round(elapsed, 1), "scores": detail,
              "targets": {"text_ndcg10": 0.90}}
    (OUT / "quality.json").write_text(json.dumps(result, indent=2))
    (OUT / "quality.md").write_text("# Retrieval quality on the dev queries (nDCG@10)\n\n" + md + "\n")
    print(f"\nwrote {OUT / 'quality.json'} (batch run {elapsed:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
