"""The command line end to end with the real models on a small slice of the real catalog (slow).

Builds an index for 40 real products, runs the batch command in the shared eval format, scores
the run with the shared score.py, and checks the interactive query and the error paths.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REAL_CATALOG, ROOT, SHARED

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not REAL_CATALOG.exists(), reason="shared catalog not present")]
TYPES = {"Tshirts": 10, "Casual Shoes": 8, "Handbags": 6, "Watches": 6, "Jeans": 5, "Kurtas": 5}


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "retrieval", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=600)


@pytest.fixture(scope="module")
def slice_catalog(tmp_path_factory) -> Path:
    """tmp/catalogs/fashion-10k: a 40-product slice (copied into the test's temp folder)."""
    root = tmp_path_factory.mktemp("catalogs") / "fashion-10k"
    (root / "images").mkdir(parents=True)
    with open(REAL_CATALOG / "products.csv") as f:
        reader = csv.DictReader(f)
        rows, left = [], dict(TYPES)
        for r in reader:
            if left.get(r["article_type"], 0) > 0:
                left[r["article_type"]] -= 1
                rows.append(r)
                shutil.copy(REAL_CATALOG / r["image"], root / r["image"])
        fields = reader.fieldnames
    with open(root / "products.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    return root


@pytest.fixture(scope="module")
def built(slice_catalog: Path) -> Path:
    index = slice_catalog.parent / "index"
    r = run("build", "--catalog", str(slice_catalog), "--index", str(index), "--quiet")
    assert r.returncode == 0, r.stderr
    assert "full build" in r.stdout and "40 products" in r.stdout
    return index


def test_batch_search_writes_the_run_format_and_scores(slice_catalog, built, tmp_path):
    rows = list(csv.DictReader(open(slice_catalog / "products.csv")))
    shoe = next(r for r in rows if r["article_type"] == "Casual Shoes")
    queries = [
        {"id": "q1", "kind": "text", "text": "I want a watch for men", "want": {"article_type": "Watches", "gender": "Men"}},
        {"id": "q2", "kind": "text", "text": "sneakers", "want": {"article_type": "Casual Shoes"}},
        {"id": "q3", "kind": "image", "image": str(slice_catalog / shoe["image"]), "want": {"article_type": "Casual Shoes"}},
        {"id": "q4", "kind": "text", "text": "", "want": {"article_type": "Jeans"}},
    ]
    qfile, out = tmp_path / "q.jsonl", tmp_path / "run.jsonl"
    qfile.write_text("".join(json.dumps(q) + "\n" for q in queries))
    r = run("search", "--queries", str(qfile), "--out", str(out), "--k", "5", "--catalog", str(slice_catalog),
            "--index", str(built), "--quiet")
    assert r.returncode == 0, r.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["id"] for line in lines] == ["q1", "q2", "q3", "q4"]
    by_id = {p["id"]: p for p in rows}
    for res in lines[0]["results"]:
        assert set(res) >= {"id", "score", "why"} and res["why"]["reason"]
        assert by_id[res["id"]]["article_type"] == "Watches" and by_id[res["id"]]["gender"] == "Men"
    assert lines[2]["results"][0]["id"] == shoe["id"]  # the photo finds its own product first
    assert "error" in lines[3] and not lines[3]["results"]  # an empty query: a clear error, no crash
    score = subprocess.run([sys.executable, str(SHARED / "eval" / "score.py"), str(slice_catalog.parent),
                            str(qfile), str(out), "--json"], capture_output=True, text=True, check=True)
    table = json.loads(score.stdout)
    assert table["text"]["hit1"] == pytest.approx(2 / 3, abs=1e-3)  # q1, q2 right; q4 (empty) has no results
    assert table["image"]["hit1"] == 1.0


def test_query_command(slice_catalog, built):
    r = run("query", "black watch under 300", "--json", "--k", "3", "--catalog", str(slice_catalog),
            "--index", str(built), "--quiet")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["parsed"]["max_price"] == 300
    assert {c["field"] for c in out["parsed"]["constraints"]} == {"color", "article_type"}


def test_catalog_change_is_detected_and_updated(slice_catalog, built, tmp_path):
    # a copy of the slice with one product removed: build updates instead of starting over
    copy = tmp_path / "fashion-10k"
    shutil.copytree(slice_catalog, copy)
    rows = list(csv.DictReader(open(copy / "products.csv")))
    with open(copy / "products.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows[1:])
    index = tmp_path / "index"
    shutil.copytree(built, index)
    # the index records the catalog folder it was built for: another folder is refused for search
    r = run("query", "watch", "--catalog", str(copy), "--index", str(index), "--quiet", "--json")
    assert r.returncode == 0, r.stderr  # query updates (rebuilds) the index for the new catalog first
    r = run("build", "--catalog", str(copy), "--index", str(index), "--quiet")
    assert r.returncode == 0 and "unchanged" in r.stdout


def test_missing_catalog_is_a_clear_error(tmp_path):
    r = run("build", "--catalog", str(tmp_path / "nope"), "--index", str(tmp_path / "ix"), "--quiet")
    assert r.returncode == 2 and "error:" in r.stderr and "Traceback" not in r.stderr
