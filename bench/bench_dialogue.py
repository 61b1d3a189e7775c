"""Conversation success and turn latency through the gateway, against the real running stack.

The stack: Rasa 3.6 + action server + gateway, started on free ports by this script.

What it measures
----------------
1. Conversation success. ``bench/data/conversation_tasks.json`` holds scripted shopping tasks
   (>= 24): a goal (catalog attribute values, e.g. ``{"article_type": "Casual Shoes", "color":
   "Black", "gender": "Men", "max_price": 80, "not_brand": "Puma"}``) and a scripted shopper whose
   turns are typed text, a photo (a fashion-44k thumbnail whose product is NOT in fashion-10k,
   sent as multipart, optionally with words) or the rule "answer the assistant's question from
   the goal" (a question about a field of the goal gets the goal's value, one about another field
   gets "Don't mind", no question: the turn is skipped). Every goal is checked against
   fashion-10k's ``products.csv`` at load (>= 3 matching products) and every photo against
   fashion-10k's ids; the benchmark stops with a message otherwise. A task SUCCEEDS when the
   products of the last reply that showed products satisfy the goal: at least 80% of them, and
   the first one, satisfy every goal attribute (checked against the catalog by product id, not
   against the card's words). Reported: success rate, mean shopper turns, and per task which
   attribute failed, with the transcript of each failed conversation.
2. Turn latency through the gateway (client wall time of ``POST /api/chat``): typed turns (JSON)
   and photo turns (multipart, a 60x80 fashion-44k thumbnail not in fashion-10k; one in three
   with words such as "but in blue"), each at 1 and at 10 concurrent conversations (threads, one
   httpx client and one sender per conversation). At 10 it runs twice: back to back (each
   conversation sends its next turn as soon as the answer came: a saturation test, the CPU is
   always busy) and with ``--think`` (1 s) mean think time between a conversation's turns (10
   shoppers typing fast; 0 skips it). ``--turns`` timed turns per setting (default 60, split over
   the conversations) after ``--warmup`` (5) untimed turns. Typed turns cycle over a list of
   realistic searches, refinements, exclusions, "cheaper", pointing and "start over", each
   conversation from another offset, so state builds up as in a real chat; a conversation thread
   becomes a new shopper every ``--conv-len`` (12) turns, since Rasa re-reads the whole
   conversation from the tracker store on every turn (a turn costs ~0.6-0.8 ms more per earlier
   turn of its conversation, measured on 2 cores). The action server's
   own share comes from a small timing proxy between Rasa and the action server (Rasa's
   ``action_endpoint`` points at it; it forwards each ``/webhook`` call and records its duration
   by sender), so per turn: total = gateway + Rasa (NLU, policies, tracker store) + action server.
   ``--no-action-proxy`` measures without it.

Targets (issue, 2 cores): typed p50 < 150 ms and p95 < 400 ms; photo p50 < 300 ms.

The stack: ``python -m bot prepare`` first (index, photo models, Rasa model: a no-op when up to
date), then ``bot.serve.Stack`` on free ports with a temporary uploads folder, endpoints file and
SQLite tracker store (as tests/test_dialogue_e2e.py does), with ``SHOP_GATEWAY_SECRET`` set so
the gateway signs each turn as in production. Server errors found in the logs are reported.

Run
---
    .venv/bin/python bench/bench_dialogue.py                  # both parts (~2-3 min on 2 cores)
    .venv/bin/python bench/bench_dialogue.py --tasks-only     # conversations only
    .venv/bin/python bench/bench_dialogue.py --latency-only --turns 120
    .venv/bin/python bench/bench_dialogue.py --tasks-only --only vague-summer photo-watch -v

Writes ``bench/results/dialogue.json`` and ``bench/results/dialogue.md`` (a part that was not run
keeps its figures from the previous run) and prints tables.
"""
from __future__ import annotations

import argparse
import csv
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _common import SHARED_NOTE, code_version, machine_info  # noqa: E402

RESULTS = ROOT / "bench" / "results"
TASKS_FILE = ROOT / "bench" / "data" / "conversation_tasks.json"
CATALOGS = ROOT.parent / "shared" / "catalog"
CATALOG_10K = CATALOGS / "fashion-10k"
THUMBS_44K = CATALOGS / "fashion-44k" / "thumbs.zip"
MIN_TASKS = 24
MIN_MATCHING = 3          # a goal must match at least this many catalog products
SUCCESS_SHARE = 0.8       # share of shown products that must satisfy the goal (and the first one)
DONT_MIND = "Don't mind"
TARGETS_MS = {"typed_p50": 150.0, "typed_p95": 400.0, "photo_p50": 300.0}
ATTR_FIELDS = ("article_type", "color", "gender", "usage", "brand", "sub_category", "master_category")
GOAL_KEYS = (set(ATTR_FIELDS) | {f"not_{f}" for f in ATTR_FIELDS}
             | {"max_price", "min_price", "cheaper_than_first"})
HTTP_TIMEOUT_S = 120.0

#: typed turns for the latency part: searches, refinements, exclusions, relative price, pointing,
#: questions answered, start over (a conversation walks through them in order from its offset).
TYPED_TURNS = [
    "black casual shoes for men under 80", "in brown", "not nike", "cheaper",
    "tell me about the second one", "more like that one", "start over",
    "red tshirts for women", "for men", "under 30 dollars", "no white", "compare 1 and 2",
    "I need something for the summer", "Tshirts", "Men", "blue jeans for women", "more like the first",
    "formal shirts", "in white", "show me cheaper ones", "sunglases for women", "not fastrack",
    "handbags", "Brown", "between 20 and 60", "start over", "sports shoes for women",
    "do you have them in grey?", "what about sandals", "thanks",
]
PHOTO_WORDS = ["but in blue", "like this but in black", "the same for women"]  # on every 3rd photo


# ------------------------------------------------------------------------------ catalog & tasks
def read_catalog(path: Path) -> dict[str, dict]:
    with open(path, newline="", encoding="utf-8") as f:
        rows = {r["id"]: r for r in csv.DictReader(f)}
    for r in rows.values():
        try:
            r["_price"] = float(r.get("price") or "nan")
        except ValueError:
            r["_price"] = float("nan")
    return rows


def _values(v) -> list[str]:
    return [str(x).lower() for x in (v if isinstance(v, list) else [v])]


def check_product(row: dict | None, goal: dict, ref_median: float | None = None) -> list[str]:
    """The goal attributes this catalog row fails (``[]``: it satisfies the goal)."""
    if row is None:
        return ["unknown product"]
    failed = []
    for key, want in goal.items():
        if key in ATTR_FIELDS:
            ok = (row.get(key) or "").lower() in _values(want)
        elif key.startswith("not_"):
            ok = (row.get(key[4:]) or "").lower() not in _values(want)
        elif key == "max_price":
            ok = row["_price"] <= float(want)
        elif key == "min_price":
            ok = row["_price"] >= float(want)
        elif key == "cheaper_than_first":
            ok = not want or ref_median is None or row["_price"] <= ref_median
        else:  # load_tasks refuses unknown keys
            raise KeyError(key)
        if not ok:
            failed.append(key)
    return failed


def photo_ref(ref: str) -> tuple[Path, str]:
    """``archive.zip!member`` (relative to the catalogs folder, as in shared/eval) -> (zip, member)."""
    archive, sep, member = ref.partition("!")
    if not sep:
        raise ValueError(f"photo {ref!r}: expected 'archive.zip!member', relative to {CATALOGS}")
    return CATALOGS / archive, member


def load_tasks(path: Path, catalog: dict[str, dict]) -> list[dict]:
    """The tasks, each checked: known goal keys, >= MIN_MATCHING catalog products satisfy the goal,
    photos exist and show products that are not in the served catalog. Raises SystemExit otherwise."""
    data = json.loads(path.read_text())
    tasks = data["tasks"] if isinstance(data, dict) else data
    problems: list[str] = []
    ids = [t.get("id") for t in tasks]
    if len(set(ids)) != len(ids) or not all(ids):
        problems.append("task ids must be present and unique")
    if len(tasks) < MIN_TASKS:
        problems.append(f"{len(tasks)} tasks; at least {MIN_TASKS} are needed")
    zips: dict[Path, set[str]] = {}
    for t in tasks:
        tid, goal, turns = t.get("id"), t.get("goal") or {}, t.get("turns") or []
        if not goal:
            problems.append(f"{tid}: no goal")
        bad = set(goal) - GOAL_KEYS
        if bad:
            problems.append(f"{tid}: unknown goal keys {sorted(bad)} (known: {sorted(GOAL_KEYS)})")
            continue
        static = {k: v for k, v in goal.items() if k != "cheaper_than_first"}
        n = sum(1 for r in catalog.values() if not check_product(r, static))
        if n < MIN_MATCHING:
            problems.append(f"{tid}: goal {goal} matches {n} products of {CATALOG_10K.name} (< {MIN_MATCHING})")
        t["_matching"] = n
        if not turns:
            problems.append(f"{tid}: no turns")
        for turn in turns:
            if isinstance(turn, str):
                continue
            if not isinstance(turn, dict) or not ({"say", "photo", "answer"} & set(turn)):
                problems.append(f"{tid}: turn {turn!r} is none of text, photo, answer")
                continue
            if "answer" in turn and turn["answer"] != "goal":
                problems.append(f"{tid}: answer turns take \"goal\", not {turn['answer']!r}")
            if "photo" in turn:
                try:
                    archive, member = photo_ref(turn["photo"])
                except ValueError as e:
                    problems.append(f"{tid}: {e}")
                    continue
                if archive not in zips:
                    try:
                        with zipfile.ZipFile(archive) as z:
                            zips[archive] = set(z.namelist())
                    except (OSError, zipfile.BadZipFile) as e:
                        problems.append(f"{tid}: cannot open {archive}: {e}")
                        zips[archive] = set()
                if member not in zips[archive]:
                    problems.append(f"{tid}: {turn['photo']} not found")
                if Path(member).stem in catalog:
                    problems.append(f"{tid}: photo {turn['photo']} shows product {Path(member).stem}, "
                                    f"which IS in {CATALOG_10K.name}: pick one that is not")
    if problems:
        raise SystemExit(f"{path}: the tasks are not usable:\n  " + "\n  ".join(problems))
    return tasks


_PHOTO_CACHE: dict[str, bytes] = {}


def photo_bytes(ref: str) -> bytes:
    if ref not in _PHOTO_CACHE:
        archive, member = photo_ref(ref)
        with zipfile.ZipFile(archive) as z:
            _PHOTO_CACHE[ref] = z.read(member)
    return _PHOTO_CACHE[ref]


# ------------------------------------------------------------------------------ the stack
class ActionTimer:
    """A forwarding proxy between Rasa and the action server that records each call's duration.

    Rasa POSTs ``/webhook`` with the tracker (``sender_id``) and ``next_action``; the proxy
    forwards the body unchanged over a kept-alive connection per thread and records
    (sender, action, start, end)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.calls: list[tuple[str, str, float, float]] = []
        self.lock = threading.Lock()
        local = threading.local()
        timer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def _forward(self, method: str) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                t0 = time.perf_counter()
                for attempt in (0, 1):
                    conn = getattr(local, "conn", None)
                    if conn is None:
                        conn = local.conn = http.client.HTTPConnection("127.0.0.1", timer.target_port,
                                                                       timeout=HTTP_TIMEOUT_S)
                    try:
                        headers = {k: v for k, v in self.headers.items()
                                   if k.lower() not in ("host", "connection", "content-length")}
                        conn.request(method, self.path, body=body or None, headers=headers)
                        resp = conn.getresponse()
                        data = resp.read()
                        break
                    except (OSError, http.client.HTTPException):
                        conn.close()
                        local.conn = None
                        if attempt:
                            self.send_error(502)
                            return
                t1 = time.perf_counter()
                if method == "POST" and self.path.startswith("/webhook"):
                    try:
                        req = json.loads(body)
                        sender = (req.get("tracker") or {}).get("sender_id") or "?"
                        action = req.get("next_action") or "?"
                    except ValueError:
                        sender, action = "?", "?"
                    with timer.lock:
                        timer.calls.append((sender, action, t0, t1))
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                self._forward("POST")

            def do_GET(self) -> None:
                self._forward("GET")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> "ActionTimer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def action_ms(self, sender: str, t0: float, t1: float) -> tuple[float, list[str]]:
        """Time spent in the action server for this sender between t0 and t1, and the actions."""
        with self.lock:
            mine = [(a, s, e) for snd, a, s, e in self.calls if snd == sender and s >= t0 and e <= t1]
        return sum(e - s for _, s, e in mine) * 1000, [a for a, _, _ in mine]


@dataclass
class Running:
    url: str
    log_dir: Path | None
    stack: object | None = None
    timer: ActionTimer | None = None
    tmp: tempfile.TemporaryDirectory | None = None
    start_s: float = 0.0
    config: dict = field(default_factory=dict)

    def stop(self) -> None:
        if self.stack is not None:
            self.stack.stop()
        if self.timer is not None:
            self.timer.stop()
        if self.tmp is not None:
            self.tmp.cleanup()  # uploads, tracker store, endpoints (and logs unless --keep-logs)


def prepare() -> None:
    """Index, photo models, Rasa model: built when missing (a no-op when up to date)."""
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "bot", "prepare"], cwd=ROOT, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"`python -m bot prepare` failed (exit {r.returncode}):\n{r.stdout[-2000:]}{r.stderr[-4000:]}")
    print(f"prepare: up to date ({time.perf_counter() - t:.1f} s)")


def start_stack(action_proxy: bool, keep_logs: Path | None) -> Running:
    from bot.serve import Stack, write_endpoints

    tmp = tempfile.TemporaryDirectory(prefix="bench-dialogue-")
    base = Path(tmp.name)
    os.environ["SHOP_GATEWAY_SECRET"] = "bench-dialogue-secret"  # signed turns, as in production (restored after)
    stack = Stack.isolated(base, log_dir=keep_logs)
    log_dir, settings = stack.log_dir, stack.settings
    ports = {"rasa": settings.rasa_port, "action": settings.action_port, "gateway": settings.gateway_port}
    timer = ActionTimer(ports["action"]).start() if action_proxy else None
    if timer:  # Rasa calls the actions through the timing proxy
        write_endpoints(stack.endpoints, f"http://127.0.0.1:{timer.port}", base / "tracker.db")
    t = time.perf_counter()
    try:
        stack.start(timeout=600)
    except RuntimeError:
        if timer:
            timer.stop()
        raise
    run = Running(stack.url.rstrip("/"), log_dir, stack, timer, tmp, time.perf_counter() - t,
                  {"ports": ports, "action_proxy": bool(timer), "tracker_store": "SQLite (temporary)",
                   "gateway_secret": True, "torch_threads": settings.torch_threads,
                   "fusion": settings.fusion, "show_products": settings.show_products})
    print(f"stack up in {run.start_s:.1f} s: gateway {run.url}, logs in {log_dir}"
          + (f", action timing proxy on :{timer.port}" if timer else ""))
    return run


def server_errors(log_dir: Path | None, limit: int = 12) -> dict:
    """ERROR lines and tracebacks in the three logs."""
    out: dict = {}
    if log_dir is None:
        return out
    for name in ("actions", "rasa", "gateway"):
        p = log_dir / f"{name}.log"
        try:
            lines = p.read_text(errors="replace").splitlines()
        except OSError:
            continue
        hits = [ln.strip() for ln in lines if " ERROR " in ln or ln.startswith("Traceback") or "Exception" in ln]
        out[name] = {"count": len(hits), "first": hits[:limit]}
    return out


# ------------------------------------------------------------------------------ talking
def say(client, sender: str, text: str | None = None, photo: bytes | None = None) -> tuple[int, list, float]:
    """One turn through the gateway: (HTTP status, messages, ms); status 0 when no answer came."""
    import httpx

    t = time.perf_counter()
    try:
        if photo is None:
            r = client.post("/api/chat", json={"sender": sender, "text": text})
        else:
            data = {"sender": sender, **({"text": text} if text else {})}
            r = client.post("/api/chat", data=data, files={"image": ("photo.jpg", photo, "image/jpeg")})
    except httpx.HTTPError as e:
        print(f"    turn of {sender} failed: {type(e).__name__}: {e}", file=sys.stderr)
        return 0, [], (time.perf_counter() - t) * 1000
    ms = (time.perf_counter() - t) * 1000
    try:
        msgs = r.json().get("messages") or []
    except ValueError:
        msgs = []
    return r.status_code, msgs, ms


def shown_products(msgs: list) -> list[dict]:
    for m in msgs:
        if m.get("products"):
            return m["products"]
    return []


def question_of(msgs: list) -> dict | None:
    for m in msgs:
        if isinstance(m.get("question"), dict):
            return m["question"]
    return None


def reply_text(msgs: list) -> str:
    return " / ".join(" ".join(str(m.get("text") or "").split()) for m in msgs if m.get("text"))


def answer_from_goal(question: dict, goal: dict) -> str:
    f = question.get("field")
    if f in goal and f in ATTR_FIELDS:
        v = goal[f]
        return str(v[0] if isinstance(v, list) else v)
    return DONT_MIND


# ------------------------------------------------------------------------------ part 1: tasks
def run_task(client, task: dict, catalog: dict[str, dict], run_tag: str, verbose: bool) -> dict:
    goal = task["goal"]
    sender = f"bench-{run_tag}-{task['id']}"
    transcript: list[dict] = []
    sent = skipped = questions = 0
    last_q: dict | None = None
    last_products: list[dict] = []
    last_products_turn = None
    first_prices: list[float] = []
    error = None
    for i, turn in enumerate(task["turns"]):
        if isinstance(turn, str):
            turn = {"say": turn}
        text, photo = turn.get("say"), turn.get("photo")
        if "answer" in turn:
            if last_q is None:
                skipped += 1
                transcript.append({"turn": i + 1, "shopper": "(answer rule: no question asked; skipped)"})
                continue
            text = answer_from_goal(last_q, goal)
        status, msgs, ms = say(client, sender, text, photo_bytes(photo) if photo else None)
        sent += 1
        q = question_of(msgs)
        questions += q is not None
        prods = shown_products(msgs)
        entry = {"turn": i + 1, "shopper": ((f"[photo {photo}] " if photo else "") + (text or "")).strip(),
                 "status": status, "ms": round(ms, 1), "bot": reply_text(msgs)[:300],
                 "products": [_brief(catalog.get(str(p.get("id")))) or str(p.get("id")) for p in prods],
                 "question": {k: q.get(k) for k in ("field", "options", "kind")} if q else None,
                 "photo_guess": next((m["photo"] for m in msgs if isinstance(m.get("photo"), dict)), None)}
        transcript.append(entry)
        if verbose:
            print(f"    {entry['shopper']!r:<60} -> {entry['bot'][:110]}")
            for b in entry["products"][:6]:
                print(f"        {b}")
        if status != 200:
            error = f"HTTP {status} on turn {i + 1}"
            break
        if prods:
            if not first_prices:
                first_prices = [catalog[str(p["id"])]["_price"] for p in prods if str(p.get("id")) in catalog]
            last_products, last_products_turn = prods, i + 1
        last_q = q
    ref_median = statistics.median(first_prices) if first_prices else None
    checks = [check_product(catalog.get(str(p.get("id"))), goal, ref_median) for p in last_products]
    ok_share = sum(1 for c in checks if not c) / len(checks) if checks else 0.0
    success = bool(checks) and not checks[0] and ok_share >= SUCCESS_SHARE and error is None
    failed_attrs: dict[str, int] = {}
    for c in checks:
        for a in c:
            failed_attrs[a] = failed_attrs.get(a, 0) + 1
    if error:
        why = error
    elif not checks:
        why = "no products shown"
    elif success:
        why = "" if ok_share == 1 else f"{ok_share:.0%} of the shown products fit"
    else:
        why = "; ".join(f"{a} wrong in {n}/{len(checks)}" for a, n in
                        sorted(failed_attrs.items(), key=lambda kv: -kv[1]))
        if checks[0] and ok_share >= SUCCESS_SHARE:
            why += " (the first product fails)"
    return {"id": task["id"], "covers": task.get("covers", []), "goal": goal, "success": success,
            "shopper_turns": sent, "skipped_answer_turns": skipped, "questions_asked": questions,
            "shown": len(checks), "fit_share": round(ok_share, 3), "failed_attributes": failed_attrs,
            "first_fails": checks[0] if checks else None, "judged_turn": last_products_turn,
            "why": why, "catalog_matches": task.get("_matching"),
            "cheaper_reference_median": None if ref_median is None else round(ref_median, 2),
            "transcript": transcript}


def _brief(row: dict | None) -> str | None:
    if row is None:
        return None
    return (f"{row['id']} {row['article_type']} | {row['color']} | {row['gender'] or '-'} | "
            f"{row['brand'] or '-'} | ${row['_price']:.2f}")


def run_tasks(url: str, tasks: list[dict], catalog: dict[str, dict], verbose: bool) -> dict:
    import httpx

    run_tag = time.strftime("%H%M%S")
    results = []
    t = time.perf_counter()
    with httpx.Client(base_url=url, timeout=HTTP_TIMEOUT_S) as client:
        for task in tasks:
            if verbose:
                print(f"  {task['id']}  goal {task['goal']}")
            r = run_task(client, task, catalog, run_tag, verbose)
            results.append(r)
            print(f"  {'ok  ' if r['success'] else 'FAIL'} {r['id']:<28} turns {r['shopper_turns']}  "
                  f"fit {r['fit_share']:.0%}  {r['why']}")
    n = len(results)
    ok = sum(r["success"] for r in results)
    by_cover: dict[str, list[int]] = {}
    for r in results:
        for c in r["covers"]:
            by_cover.setdefault(c, []).append(int(r["success"]))
    return {
        "n_tasks": n, "succeeded": ok, "success_rate": round(ok / n, 3) if n else 0.0,
        "mean_shopper_turns": round(statistics.mean(r["shopper_turns"] for r in results), 2) if n else 0.0,
        "mean_questions_asked": round(statistics.mean(r["questions_asked"] for r in results), 2) if n else 0.0,
        "mean_fit_share": round(statistics.mean(r["fit_share"] for r in results), 3) if n else 0.0,
        "by_cover": {c: {"n": len(v), "succeeded": sum(v)} for c, v in sorted(by_cover.items())},
        "turn_ms_median": round(statistics.median(e["ms"] for r in results for e in r["transcript"] if "ms" in e), 1),
        "seconds": round(time.perf_counter() - t, 1),
        "rule": (f"success: the last reply that showed products shows >= {SUCCESS_SHARE:.0%} products "
                 "satisfying every goal attribute, the first one included (checked against products.csv by id)"),
        "tasks": results,
    }


# ------------------------------------------------------------------------------ part 2: latency
def latency_photos(catalog: dict[str, dict], n: int, seed: int) -> list[tuple[str, bytes]]:
    """n fashion-44k thumbnails of products that are not in fashion-10k (fixed seed)."""
    with zipfile.ZipFile(THUMBS_44K) as z:
        names = sorted(m for m in z.namelist() if m.endswith(".jpg") and Path(m).stem not in catalog)
        picks = random.Random(seed).sample(names, n)
        return [(f"fashion-44k/thumbs.zip!{m}", z.read(m)) for m in picks]


def pct(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    k = (len(xs) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def summarise_ms(samples: list[dict]) -> dict:
    ms = [s["ms"] for s in samples if s["status"] == 200]
    out = {"n": len(samples), "errors": sum(1 for s in samples if s["status"] != 200)}
    if ms:
        out.update(p50_ms=round(pct(ms, .5), 1), p95_ms=round(pct(ms, .95), 1), p99_ms=round(pct(ms, .99), 1),
                   mean_ms=round(statistics.mean(ms), 1), max_ms=round(max(ms), 1))
    act = [s["action_ms"] for s in samples if s.get("action_ms") is not None and s["status"] == 200]
    if act:
        share = [s["action_ms"] / s["ms"] for s in samples if s.get("action_ms") is not None and s["ms"] > 0]
        rest = [s["ms"] - s["action_ms"] for s in samples if s.get("action_ms") is not None]
        out.update(action_p50_ms=round(pct(act, .5), 1), action_p95_ms=round(pct(act, .95), 1),
                   action_share_median=round(statistics.median(share), 3),
                   gateway_rasa_p50_ms=round(pct(rest, .5), 1))
    return out


def run_latency_setting(url: str, kind: str, concurrency: int, turns: int, warmup: int,
                        photos: list[tuple[str, bytes]], timer: ActionTimer | None, tag: str,
                        think_s: float = 0.0, conv_len: int = 12) -> dict:
    """``turns`` timed turns of one kind over ``concurrency`` conversations (closed loop: each
    conversation sends its next turn when the answer came, after ``think_s`` on average, drawn
    uniformly from 0.5x to 1.5x, when think_s > 0). Each conversation thread is a new shopper
    (sender) every ``conv_len`` turns: Rasa reads the whole conversation from the tracker store on
    every turn, so a turn costs more the longer its conversation is (~0.6-0.8 ms per earlier turn
    on 2 cores)."""
    import httpx

    per_conv = [turns // concurrency + (1 if i < turns % concurrency else 0) for i in range(concurrency)]
    samples: list[dict] = []
    lock = threading.Lock()
    barrier = threading.Barrier(concurrency)

    def turn_for(conv: int, j: int) -> tuple[str | None, bytes | None, str]:
        if kind == "typed":
            return TYPED_TURNS[(conv * 7 + j) % len(TYPED_TURNS)], None, "typed"
        k = conv * 5 + j
        ref, data = photos[k % len(photos)]
        words = PHOTO_WORDS[(k // 3) % len(PHOTO_WORDS)] if k % 3 == 2 else None
        return words, data, "photo+words" if words else "photo"

    def conversation(conv: int) -> None:
        base = f"lat-{tag}-{kind}-c{concurrency}-t{think_s:g}-{conv}"
        rng = random.Random(conv)
        with httpx.Client(base_url=url, timeout=HTTP_TIMEOUT_S) as client:
            if kind == "photo":  # a conversation with state first, as a shopper who searched already
                say(client, f"{base}-0", "black casual shoes for men")
            barrier.wait()
            for j in range(per_conv[conv]):
                sender = f"{base}-{j // conv_len}"  # a new shopper every conv_len turns
                if j and j % conv_len == 0 and kind == "photo":
                    say(client, sender, "black casual shoes for men")  # untimed opener
                if think_s > 0:
                    time.sleep(think_s * rng.uniform(0.5, 1.5))
                text, photo, sub = turn_for(conv, j)
                t0 = time.perf_counter()
                status, msgs, ms = say(client, sender, text, photo)
                t1 = time.perf_counter()
                act, actions = timer.action_ms(sender, t0, t1) if timer else (None, [])
                with lock:
                    samples.append({"conv": conv, "turn_in_conv": j % conv_len + 1, "kind": sub, "text": text,
                                    "status": status, "ms": ms,
                                    "action_ms": act if timer else None, "actions": actions,
                                    "products": len(shown_products(msgs))})

    # warm-up: untimed turns of the same kind on a separate conversation
    with httpx.Client(base_url=url, timeout=HTTP_TIMEOUT_S) as client:
        for j in range(warmup):
            text, photo, _ = turn_for(concurrency + 3, j)
            say(client, f"lat-{tag}-warmup-{kind}-c{concurrency}", text, photo)
    threads = [threading.Thread(target=conversation, args=(c,)) for c in range(concurrency)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t
    s = summarise_ms(samples)
    s.update(kind=kind, concurrency=concurrency, think_s=think_s, wall_s=round(wall, 2),
             throughput_turns_per_s=round(len(samples) / wall, 2) if wall else None)
    if kind == "photo":
        s["by_kind"] = {k: summarise_ms([x for x in samples if x["kind"] == k]) for k in ("photo", "photo+words")}
    slow = sorted(samples, key=lambda x: -x["ms"])[:3]
    s["slowest"] = [{"ms": round(x["ms"], 1), "kind": x["kind"], "text": x["text"], "actions": x["actions"]}
                    for x in slow]
    s["sample_fields"] = ["conv", "turn_in_conv", "kind", "ms", "action_ms", "status"]
    s["samples"] = [[x["conv"], x["turn_in_conv"], x["kind"], round(x["ms"], 1),
                     None if x["action_ms"] is None else round(x["action_ms"], 1), x["status"]] for x in samples]
    s["no_products_share"] = round(sum(1 for x in samples if not x["products"]) / max(len(samples), 1), 3)
    return s


def run_latency(url: str, catalog: dict[str, dict], turns: int, warmup: int, concurrencies: list[int],
                timer: ActionTimer | None, seed: int, think_s: float, conv_len: int) -> dict:
    photos = latency_photos(catalog, 24, seed)
    tag = time.strftime("%H%M%S")
    settings: dict = {}
    plan = [(c, 0.0) for c in concurrencies] + [(c, think_s) for c in concurrencies if c > 1 and think_s > 0]
    for c, think in plan:
        for kind in ("typed", "photo"):
            key = f"{kind}_c{c}" + (f"_think{think:g}s" if think else "")
            print(f"  {key}: {turns} turns over {c} conversation{'s' if c > 1 else ''}"
                  + (f", {think:g} s think time" if think else ", back to back") + " ...", flush=True)
            settings[key] = run_latency_setting(url, kind, c, turns, warmup, photos, timer, tag, think, conv_len)
            s = settings[key]
            print(f"    p50 {s.get('p50_ms', float('nan')):.0f} ms  p95 {s.get('p95_ms', float('nan')):.0f} ms"
                  + (f"  action p50 {s['action_p50_ms']:.0f} ms" if "action_p50_ms" in s else "")
                  + (f"  errors {s['errors']}" if s["errors"] else ""))
    targets = {}
    for key in settings:
        if not key.startswith("typed_"):
            continue
        tail = key[len("typed_"):]
        ty, ph = settings[key], settings[f"photo_{tail}"]
        targets[tail] = {"typed_p50": ty.get("p50_ms", 1e9) < TARGETS_MS["typed_p50"],
                            "typed_p95": ty.get("p95_ms", 1e9) < TARGETS_MS["typed_p95"],
                            "photo_p50": ph.get("p50_ms", 1e9) < TARGETS_MS["photo_p50"]}
    return {"turns_per_setting": turns, "warmup_turns": warmup, "concurrency": concurrencies,
            "think_s": think_s, "conversation_length": conv_len,
            "targets_ms": TARGETS_MS, "meets_targets": targets, "settings": settings,
            "typed_turns": TYPED_TURNS, "photo_refs": [r for r, _ in photos],
            "photo_words": PHOTO_WORDS,
            "method": ("client wall time of POST /api/chat through the gateway (JSON for typed, multipart for "
                       "photos; 60x80 fashion-44k thumbnails not in fashion-10k, every third with words); each "
                       "conversation sends its next turn when the answer arrives, after the think time if any, "
                       f"and is a new shopper every {conv_len} turns; action_ms = time inside the "
                       "action server for that turn (timing proxy between Rasa and the action server)")}


# ------------------------------------------------------------------------------ report
def _load(xs) -> str:
    return "/".join(f"{x:.1f}" for x in xs) if xs else "?"


def write_md(result: dict, path: Path) -> None:
    L: list[str] = ["# Dialogue benchmark: conversations and turn latency through the gateway", ""]
    m = result.get("machine", {})
    L += [f"Real stack (Rasa 3.6 + action server + gateway, fashion-10k index) started by "
          f"`bench/bench_dialogue.py` on free ports. Machine: {m.get('nproc')} cores ({m.get('cpu')}), "
          f"load average {_load(m.get('loadavg_start'))} at start, {_load(m.get('loadavg_end'))} at the end. "
          f"{SHARED_NOTE}", ""]
    if result.get("command"):
        L += [f"Command: `{result['command']}`", ""]
    t = result.get("tasks")
    if t:
        L += ["## Conversation success", "",
              f"Measured {t.get('measured_at', '?')}. {t['rule']}.", "",
              "| tasks | succeeded | success rate | mean shopper turns | mean questions asked | mean fit share |",
              "| ---: | ---: | ---: | ---: | ---: | ---: |",
              f"| {t['n_tasks']} | {t['succeeded']} | **{t['success_rate']:.0%}** | {t['mean_shopper_turns']:.2f} "
              f"| {t['mean_questions_asked']:.2f} | {t['mean_fit_share']:.0%} |", "",
              "By what the task covers:", "", "| covers | tasks | succeeded |", "| --- | ---: | ---: |"]
        L += [f"| {c} | {v['n']} | {v['succeeded']} |" for c, v in t["by_cover"].items()]
        L += ["", "| task | covers | goal | turns | questions | fit | outcome |",
              "| --- | --- | --- | ---: | ---: | ---: | --- |"]
        for r in t["tasks"]:
            goal = ", ".join(f"{k}={'/'.join(map(str, v)) if isinstance(v, list) else v}" for k, v in r["goal"].items())
            L.append(f"| {r['id']} | {', '.join(r['covers'])} | {goal} | {r['shopper_turns']} | "
                     f"{r['questions_asked']} | {r['fit_share']:.0%} | "
                     f"{'ok' if r['success'] else '**FAIL**'}{': ' + r['why'] if r['why'] else ''} |")
        failed = [r for r in t["tasks"] if not r["success"]]
        if failed:
            L += ["", "### Failed conversations", ""]
            for r in failed:
                L += [f"**{r['id']}** (goal {json.dumps(r['goal'])}): {r['why']}", ""]
                for e in r["transcript"]:
                    if "status" not in e:
                        L.append(f"- shopper: {e['shopper']}")
                        continue
                    guess = e.get("photo_guess")
                    L.append(f"- shopper: `{e['shopper']}` -> {e['bot'][:200]}"
                             + (f" (photo read as {json.dumps(guess)})" if guess else ""))
                    for b in e["products"][:6]:
                        L.append(f"    - {b}")
                L.append("")
    lat = result.get("latency")
    if lat:
        L += ["## Turn latency through the gateway", "",
              f"Measured {lat.get('measured_at', '?')}. {lat['method']}. {lat['turns_per_setting']} timed turns "
              f"per setting after {lat['warmup_turns']} warm-up turns. Targets (2 cores): typed p50 < "
              f"{lat['targets_ms']['typed_p50']:.0f} ms, p95 < {lat['targets_ms']['typed_p95']:.0f} ms; "
              f"photo p50 < {lat['targets_ms']['photo_p50']:.0f} ms.", "",
              "| turn | concurrent conversations | think time s | n | p50 ms | p95 ms | p99 ms | action server p50 ms "
              "| action share (median) | gateway+Rasa p50 ms | turns/s | errors |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for key, s in lat["settings"].items():
            L.append(f"| {s['kind']} | {s['concurrency']} | {s.get('think_s', 0):g} | {s['n']} "
                     f"| {s.get('p50_ms', '-')} "
                     f"| {s.get('p95_ms', '-')} "
                     f"| {s.get('p99_ms', '-')} | {s.get('action_p50_ms', '-')} | "
                     f"{format(s['action_share_median'], '.0%') if 'action_share_median' in s else '-'} | "
                     f"{s.get('gateway_rasa_p50_ms', '-')} | {s.get('throughput_turns_per_s', '-')} | {s['errors']} |")
        L += ["", "Back to back, 10 conversations keep both cores busy all the time (a saturation test): a turn "
              "then waits for the turns of the other conversations, so latency is about conversations / "
              "throughput. With think time the load is that of 10 shoppers typing fast. 'gateway+Rasa' is the "
              "turn minus the time inside the action server: the gateway, Rasa's NLU, policies and tracker "
              "store, and the hops between them."]
        L += ["", "Targets met: " + "; ".join(
            f"{c}: " + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in d.items())
            for c, d in lat["meets_targets"].items()), ""]
        for key, s in lat["settings"].items():
            if s.get("by_kind"):
                L.append(f"- {key}: " + "; ".join(f"{k} p50 {v.get('p50_ms', '-')} ms (n={v['n']})"
                                                 for k, v in s["by_kind"].items()))
        L.append("")
    errs = result.get("server_errors")
    if errs:
        L += ["## Server errors in the logs", ""]
        for name, e in errs.items():
            L.append(f"- {name}: {e['count']}" + ("" if not e["first"] else ": " + "; ".join(
                f"`{x[:160]}`" for x in e["first"][:4])))
        L.append("")
    path.write_text("\n".join(L))


def print_summary(result: dict) -> None:
    t = result.get("tasks")
    if t:
        print(f"\nconversations: {t['succeeded']}/{t['n_tasks']} succeeded ({t['success_rate']:.0%}), "
              f"mean shopper turns {t['mean_shopper_turns']:.2f}, mean questions {t['mean_questions_asked']:.2f}")
        for r in t["tasks"]:
            if not r["success"]:
                print(f"  FAIL {r['id']:<28} {r['why']}")
    lat = result.get("latency")
    if lat:
        print(f"\nturn latency through the gateway (ms), {lat['turns_per_setting']} turns per setting:")
        print(f"  {'turn':<8}{'conc':>5}{'think':>6}{'n':>5}{'p50':>8}{'p95':>8}{'p99':>8}{'action p50':>12}"
              f"{'share':>7}"
              f"{'turns/s':>9}{'err':>5}")
        for s in lat["settings"].values():
            share = s.get("action_share_median")
            print(f"  {s['kind']:<8}{s['concurrency']:>5}{s.get('think_s', 0):>6g}{s['n']:>5}"
                  f"{s.get('p50_ms', float('nan')):>8.0f}"
                  f"{s.get('p95_ms', float('nan')):>8.0f}{s.get('p99_ms', float('nan')):>8.0f}"
                  f"{s.get('action_p50_ms', float('nan')):>12.0f}"
                  f"{'' if share is None else format(share, '.0%'):>7}"
                  f"{s.get('throughput_turns_per_s') or 0:>9.1f}{s['errors']:>5}")
        print("  targets (typed p50 < 150, p95 < 400; photo p50 < 300):\n    " + "\n    ".join(
            f"{c}: " + ", ".join(f"{k} {'met' if v else 'NOT met'}" for k, v in d.items())
            for c, d in lat["meets_targets"].items()))


def _rel(p: Path) -> Path:
    p = p.resolve()
    return p.relative_to(ROOT) if p.is_relative_to(ROOT) else p


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    part = ap.add_mutually_exclusive_group()
    part.add_argument("--tasks-only", action="store_true", help="only the scripted conversations")
    part.add_argument("--latency-only", action="store_true", help="only the turn latency")
    ap.add_argument("--turns", type=int, default=60, help="timed turns per latency setting (default 60)")
    ap.add_argument("--warmup", type=int, default=5, help="untimed turns before each latency setting")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 10],
                    help="concurrent conversations per latency setting (default: 1 10)")
    ap.add_argument("--think", type=float, default=1.0,
                    help="also run each concurrency > 1 with this mean think time (s) between a conversation's "
                         "turns (0: only back to back)")
    ap.add_argument("--conv-len", type=int, default=12,
                    help="latency: a conversation thread becomes a new shopper every N turns (default 12)")
    ap.add_argument("--tasks", type=Path, default=TASKS_FILE, help="the conversation tasks (JSON)")
    ap.add_argument("--only", nargs="+", metavar="ID", help="run only these task ids (development)")
    ap.add_argument("--url", help="use a gateway that is already running at this URL instead of starting "
                                  "the stack (development; no action timing, no log check)")
    ap.add_argument("--no-action-proxy", action="store_true",
                    help="let Rasa call the action server directly (no action server share)")
    ap.add_argument("--keep-logs", type=Path, help="write the servers' logs here instead of a temp folder")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-v", "--verbose", action="store_true", help="print each turn of each conversation")
    ap.add_argument("--out-dir", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    if args.turns < 1 or args.warmup < 0 or args.conv_len < 1:
        ap.error("--turns and --conv-len must be >= 1, --warmup >= 0")

    catalog = read_catalog(CATALOG_10K / "products.csv")
    do_tasks, do_latency = not args.latency_only, not args.tasks_only
    tasks = None
    if do_tasks:
        tasks = load_tasks(args.tasks, catalog)
        if args.only:
            unknown = set(args.only) - {t["id"] for t in tasks}
            if unknown:
                ap.error(f"unknown task ids: {sorted(unknown)}")
            tasks = [t for t in tasks if t["id"] in args.only]
        print(f"{len(tasks)} conversation tasks from {_rel(args.tasks)}"
              f" (every goal matches >= {MIN_MATCHING} catalog products)")

    info = machine_info(import_modules=False)
    info["code"] = code_version()
    json_path, md_path = args.out_dir / "dialogue.json", args.out_dir / "dialogue.md"
    try:
        result = json.loads(json_path.read_text())
    except (OSError, ValueError):
        result = {}
    result.update(benchmark="dialogue", machine=info, note=SHARED_NOTE,
                  command=" ".join([".venv/bin/python bench/bench_dialogue.py",
                                    *(sys.argv[1:] if argv is None else argv)]))
    if args.only:
        result["command"] += "  (subset of tasks: development run)"

    running = None
    secret_before = os.environ.get("SHOP_GATEWAY_SECRET")
    try:
        if args.url:
            running = Running(args.url.rstrip("/"), None)
        else:
            prepare()
            running = start_stack(not args.no_action_proxy, args.keep_logs)
        result["stack"] = {"url": running.url, "start_s": round(running.start_s, 1), **running.config}
        now = time.strftime("%Y-%m-%d %H:%M:%S %Z")
        if do_tasks:
            print(f"\n== conversations ({len(tasks)} tasks)")
            result["tasks"] = run_tasks(running.url, tasks, catalog, args.verbose)
            result["tasks"]["measured_at"] = now
            result["tasks"]["loadavg"] = list(os.getloadavg())
        if do_latency:
            print("\n== turn latency through the gateway")
            result["latency"] = run_latency(running.url, catalog, args.turns, args.warmup, args.concurrency,
                                            running.timer, args.seed, args.think, args.conv_len)
            result["latency"]["measured_at"] = now
            result["latency"]["loadavg_end"] = list(os.getloadavg())
        result["server_errors"] = server_errors(running.log_dir)
    finally:
        if running is not None:
            running.stop()
        if secret_before is None:
            os.environ.pop("SHOP_GATEWAY_SECRET", None)
        else:
            os.environ["SHOP_GATEWAY_SECRET"] = secret_before
    info["loadavg_end"] = list(os.getloadavg())

    summary: dict = {}
    if result.get("tasks"):
        t = result["tasks"]
        summary.update(success_rate=t["success_rate"], tasks=t["n_tasks"], succeeded=t["succeeded"],
                       mean_shopper_turns=t["mean_shopper_turns"],
                       failed=[r["id"] for r in t["tasks"] if not r["success"]])
    if result.get("latency"):
        for key, s in result["latency"]["settings"].items():
            summary[f"{key}_p50_ms"] = s.get("p50_ms")
            summary[f"{key}_p95_ms"] = s.get("p95_ms")
        summary["meets_targets"] = result["latency"]["meets_targets"]
    result["summary"] = summary
    args.out_dir.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(result, indent=1))
    write_md(result, md_path)
    print_summary(result)
    errs = {k: v["count"] for k, v in result.get("server_errors", {}).items() if v["count"]}
    if errs:
        print(f"\nserver errors in the logs: {errs} (see {_rel(md_path)})")
    print(f"\nNOTE: {SHARED_NOTE}\nwrote {_rel(json_path)} and {_rel(md_path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
