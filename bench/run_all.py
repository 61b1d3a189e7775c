"""Run every benchmark in bench/ (bench/bench_*.py), one after another, then summarise the results.

Each script runs with no arguments (its defaults), from the repository root, with this
interpreter; its output streams through. A failing script is reported and the others still run.
Afterwards every JSON file in ``bench/results/`` is summarised (its ``summary`` block when it
has one, otherwise its top-level figures).

Run
---
    .venv/bin/python bench/run_all.py                    # all of them (bench_faiss alone takes ~10 min)
    .venv/bin/python bench/run_all.py --only build latency
    .venv/bin/python bench/run_all.py --summary-only     # just print the summaries of bench/results/*.json

Timings depend on the machine and on what else runs on it: read the machine block in each JSON.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
SKIP_KEYS = {"machine", "config", "examples", "note"}
MAX_LINES_PER_KEY = 4


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 1e4 else f"{v:,.0f}"
    if isinstance(v, str):
        v = " ".join(v.split())
        return v if len(v) <= 160 else v[:157] + "..."
    return str(v)


def _flatten(d: dict, prefix: str = "", depth: int = 3) -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and depth > 1:
            out += _flatten(v, key + ".", depth - 1)
        elif not isinstance(v, (dict, list)):
            out.append((key, v))
    return out


def summarise(path: Path) -> list[str]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        return [f"  (unreadable: {e})"]
    lines = []
    m = data.get("machine", {}) if isinstance(data, dict) else {}
    if m:
        lines.append(f"  machine: nproc {m.get('nproc')}, python {m.get('python')}, "
                     f"date {m.get('date', '?')}{', shared machine' if m.get('shared_machine') else ''}")
    if isinstance(data, dict) and isinstance(data.get("summary"), dict):
        items = data["summary"].items()
    elif isinstance(data, dict):
        items = [(k, v) for k, v in data.items() if k not in SKIP_KEYS]
    else:
        return lines + [f"  {_fmt(data)}"]
    for k, v in items:
        if isinstance(v, dict):
            flat = _flatten(v)
            line, block = f"  {k}: ", []
            for i, (kk, vv) in enumerate(flat):
                item = f"{kk}={_fmt(vv)}, "
                if len(line) + len(item) > 118:
                    block.append(line.rstrip(", "))
                    line = "      "
                    if len(block) >= MAX_LINES_PER_KEY:
                        line = f"      ... {len(flat) - i} more values (see {path.name})"
                        break
                line += item
            block.append(line.rstrip(", ") if flat else f"  {k}: {{...}}")
            lines += block
        elif isinstance(v, list):
            lines.append(f"  {k}: {len(v)} entries")
            for row in v[:12]:
                if isinstance(row, dict):
                    lines.append("    " + ", ".join(f"{kk}={_fmt(vv)}" for kk, vv in row.items()
                                                   if not isinstance(vv, (dict, list)))[:236])
            if len(v) > 12:
                lines.append(f"    ... {len(v) - 12} more")
        else:
            lines.append(f"  {k}: {_fmt(v)}")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="*", help="names to run, e.g. build latency (default: all)")
    ap.add_argument("--summary-only", action="store_true", help="run nothing; summarise bench/results/")
    args = ap.parse_args(argv)

    scripts = sorted(BENCH.glob("bench_*.py"))
    if args.only:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in args.only or s.stem in args.only]
    runs = []
    if not args.summary_only:
        for script in scripts:
            print(f"\n{'=' * 100}\n== {script.relative_to(ROOT)}\n{'=' * 100}", flush=True)
            t = time.perf_counter()
            rc = subprocess.run([sys.executable, str(script)], cwd=ROOT).returncode
            runs.append((script.name, rc, time.perf_counter() - t))

    print(f"\n{'=' * 100}\n== summary of {RESULTS.relative_to(ROOT)}/*.json\n{'=' * 100}")
    for path in sorted(RESULTS.glob("*.json")):
        print(f"\n{path.name}")
        for line in summarise(path):
            print(line)
    if runs:
        print("\nruns:")
        for name, rc, secs in runs:
            print(f"  {name:<24} {'ok' if rc == 0 else f'FAILED (exit {rc})':<18} {secs:8.1f} s")
    return 1 if any(rc != 0 for _, rc, _ in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
