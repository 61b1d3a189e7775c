"""Fusion strategies compared on the dev queries, by kind; plus the query-time cost of fusion.

For each strategy (feature, model, decision, attention) the batch search runs over the
materialized dev queries in one process and the shared score.py scores it. Also reported: the
search's per-stage time with each strategy (p50 of the scoring stage, against the model-level
baseline), and the training metrics of the trained parts (models/metrics.json).

    .venv/bin/python bench/bench_fusion.py

Targets (issue 3): with the default strategy composed nDCG@10 >= 0.90, photo >= 0.65, typed not
below the retrieval core's figure; attention clearly above the feature-level sum on composed;
fusion adds under 5 ms at p50. Writes bench/results/fusion.json, fusion.md and fusion.png.
"""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared"
OUT = ROOT / "bench" / "results"
WORK = ROOT / "var" / "bench" / "fusion"


def main() -> int:
    from retrieval.cli import read_query_image
    from retrieval.fusion import STRATEGIES
    from retrieval.search import SearchEngine, SearchError
    from retrieval.settings import Settings

    WORK.mkdir(parents=True, exist_ok=True)
    OUT.mkdir(parents=True, exist_ok=True)
    qfile = WORK / "m" / "queries.jsonl"
    if not qfile.exists():
        subprocess.run([sys.executable, str(SHARED / "eval" / "materialize.py"), str(SHARED / "catalog"),
                        str(SHARED / "eval" / "dev-queries.jsonl"), str(WORK / "m")], check=True)
    queries = [json.loads(line) for line in open(qfile)]
    settings = Settings()
    engine = SearchEngine.from_settings(settings)
    if engine.models is None:
        print("no trained models: run `python -m retrieval train` first", file=sys.stderr)
        return 1
    photos = {q["id"]: read_query_image(q["image"], settings) for q in queries if q.get("image")}
    table, cost = {}, {}
    for strategy in STRATEGIES:
        run = WORK / f"run-{strategy}.jsonl"
        score_ms, total_ms = [], []
        with open(run, "w") as f:
            for q in queries:
                try:
                    res = engine.search(text=q.get("text"), image=photos.get(q["id"]), k=10, fusion=strategy)
                    score_ms.append(res.timings["score"] * 1000)
                    total_ms.append(res.timings["total"] * 1000)
                    f.write(json.dumps({"id": q["id"], "results": res.ids()}) + "\n")
                except SearchError as e:
                    f.write(json.dumps({"id": q["id"], "results": [], "error": str(e)}) + "\n")
        out = subprocess.run([sys.executable, str(SHARED / "eval" / "score.py"), str(SHARED / "catalog"), str(qfile),
                              str(run), "--json"], capture_output=True, text=True, check=True)
        table[strategy] = json.loads(out.stdout)
        cost[strategy] = {"score_ms_p50": statistics.median(score_ms), "total_ms_p50": statistics.median(total_ms)}
        print(strategy, {k: v["ndcg"] for k, v in table[strategy].items()}, cost[strategy])

    kinds = [k for k in ("text", "image", "composed", "all") if k in table["model"]]
    rows = []
    for s in STRATEGIES:
        cells = [f"{table[s][k]['ndcg']:.3f} / {table[s][k]['precision']:.3f} / {table[s][k]['hit1']:.3f}" for k in kinds]
        rows.append((s + (" (default)" if s == settings.fusion else ""), cells, cost[s]["score_ms_p50"]))
    md = ["| strategy | " + " | ".join(f"{k}: nDCG@10 / P@10 / hit@1" for k in kinds) + " | scoring p50 ms |",
          "|---|" + "---|" * (len(kinds) + 1)]
    md += [f"| {name} | " + " | ".join(cells) + f" | {ms:.2f} |" for name, cells, ms in rows]
    metrics = engine.models.metrics
    extra = {"training_seconds": metrics.get("seconds"), "joint": {k: v for k, v in metrics.get("joint", {}).items()
                                                                     if k != "history"},
             "attributes": metrics.get("attributes"), "colour": metrics.get("colour"),
             "fusion_val_recall@10": metrics.get("fusion", {}).get("best_val_recall@10"),
             "feature_sum_val_recall@10": metrics.get("fusion", {}).get("feature_sum_val_recall@10"),
             "fusion_n_val": metrics.get("fusion", {}).get("n_val"),
             "photo_tail": {k: v for k, v in metrics.get("photo_tail", {}).items() if k != "history"}}
    fusion_cost = cost[settings.fusion]["score_ms_p50"] - cost["model"]["score_ms_p50"]
    result = {"scores": table, "cost_ms": cost, "fusion_added_ms_p50_vs_model": fusion_cost,
              "default": settings.fusion, "training": extra, "date": time.strftime("%Y-%m-%d")}
    (OUT / "fusion.json").write_text(json.dumps(result, indent=1, default=float))
    md += _training_md(extra)
    (OUT / "fusion.md").write_text("# Fusion strategies on the dev queries\n\n" + "\n".join(md) + "\n")
    print("\n".join(md))
    _plot(table, kinds, OUT / "fusion.png")
    print(f"wrote {OUT / 'fusion.json'}, fusion.md, fusion.png")
    return 0


def _training_md(extra: dict) -> list[str]:
    """The trained parts' own held-out figures (from models/metrics.json) as markdown lines."""
    out = ["", "## Trained parts, on the served catalog's held-out 10%", ""]
    att, fs = extra.get("fusion_val_recall@10"), extra.get("feature_sum_val_recall@10")
    if att is not None and fs is not None:
        out.append(f"- generated requests ({extra.get('fusion_n_val')} held out: photo, photo + a change in words, "
                   f"pointed-at product + a change, words, photo + earlier answers), recall@10 of the fused vector "
                   f"alone (no filters): attention {att:.3f}, feature-level sum {fs:.3f} ({att - fs:+.3f})")
    fields = {f: m.get("by_kind", {}).get("low", {}).get("accuracy")
              for f, m in (extra.get("attributes") or {}).get("fields", {}).items()}
    tail = (extra.get("photo_tail") or {}).get("accuracy") or {}
    if tail:
        out.append("- photo attributes on held-out shopper-like copies, accuracy: "
                   + ", ".join(f"{f} tail {tail[f]:.3f} / linear heads {fields.get(f) or float('nan'):.3f}"
                               for f in tail))
    secs = extra.get("training_seconds") or {}
    if secs:
        out.append("- training time (s): " + ", ".join(f"{k} {v:.0f}" for k, v in secs.items()))
    return out


def _plot(table: dict, kinds: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    strategies = list(table)
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.8 / len(strategies)
    for i, s in enumerate(strategies):
        vals = [table[s][k]["ndcg"] for k in kinds]
        bars = ax.bar([j + i * width for j in range(len(kinds))], vals, width, label=s)
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.set_xticks([j + width * (len(strategies) - 1) / 2 for j in range(len(kinds))], kinds)
    ax.set_ylabel("nDCG@10")
    ax.set_ylim(0, 1.05)
    ax.set_title("Fusion strategies on the dev queries")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    sys.exit(main())
