"""NLU quality of the Rasa model: intents (DIET) and entities (the catalog parser) on held-out
utterances, and cross-validation on the training data.

(a) Held-out: ``rasa test nlu`` with the trained model (``var/rasa/models/shop.tar.gz``) on
    ``bench/data/nlu_heldout.yml`` (251 shopper-style utterances over every intent, written
    apart from the training data). Reported: intent precision/recall/F1 per intent, micro
    (= accuracy: one intent per message), macro and weighted; entity figures two ways:
    Rasa's own (token level, label = type.role, values not compared: ``CatalogEntityExtractor_report.json``)
    and per entity mention, exact (same span, type, role and value, values compared without
    case) and by value (same type, role and value anywhere in the message). Also: the
    utterances whose intent was wrong (most confident first), the entity mismatches, and how
    many messages fall under the FallbackClassifier threshold (``rasa test`` undoes the
    fallback, so the intent figures are DIET's top intent).
(b) Cross-validation: ``rasa test nlu --nlu data --cross-validation --folds N --config config.yml``
    (retrains N times; needs data/generated/catalog.yml, written by ``python -m bot data`` when
    missing; runs on a copy of data/ with integer entity values quoted, see ``cv_data``).
    Reported: the accumulated test-fold reports and Rasa's per-fold mean (std).

    .venv/bin/python bench/bench_nlu.py                 # held-out + 3-fold cross-validation (~10 min on 2 cores)
    .venv/bin/python bench/bench_nlu.py --no-cv         # held-out only (~30 s)
    .venv/bin/python bench/bench_nlu.py --folds 5
    .venv/bin/python bench/bench_nlu.py --train         # `python -m bot train` first (retrains when inputs changed)

Targets (issue): intent F1 >= 0.95 and entity F1 >= 0.90 on the held-out utterances.
Writes bench/results/nlu.json and bench/results/nlu.md; Rasa's raw outputs stay in var/bench/nlu/.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _common import SHARED_NOTE, code_version, machine_info  # noqa: E402
from bot.rasa_model import RASA_PYTHON, inputs_digest, rasa_command, rasa_env  # noqa: E402

RESULTS = ROOT / "bench" / "results"
WORK = ROOT / "var" / "bench" / "nlu"
MODEL = ROOT / "var" / "rasa" / "models" / "shop.tar.gz"
HELDOUT = ROOT / "bench" / "data" / "nlu_heldout.yml"
EXTRACTOR = "CatalogEntityExtractor"
TARGETS = {"intent_f1": 0.95, "entity_f1": 0.90}
TOP = 20


# ----------------------------------------------------------------------------------- running
def run_rasa(args: list[str], log: Path, timeout: int) -> float:
    """One Rasa command from the repository root, output to ``log``; returns seconds taken."""
    log.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with open(log, "w") as f:
        proc = subprocess.run(rasa_command(*args), cwd=ROOT, env=rasa_env(), stdout=f, stderr=subprocess.STDOUT,
                              timeout=timeout)
    if proc.returncode:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
        raise RuntimeError(f"rasa {' '.join(args[:2])} failed (exit {proc.returncode}), see {log}:\n{tail}")
    return time.perf_counter() - t0


def _read(path: Path, default=None):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return default


def fallback_threshold() -> float | None:
    import yaml

    cfg = yaml.safe_load((ROOT / "config.yml").read_text())
    for comp in cfg.get("pipeline", []):
        if comp.get("name") == "FallbackClassifier":
            return float(comp.get("threshold", 0.3))
    return None


# ----------------------------------------------------------------------------------- intents
def intent_metrics(report: dict) -> dict:
    per = {k: v for k, v in report.items() if isinstance(v, dict) and "support" in v
           and k not in ("micro avg", "macro avg", "weighted avg")}
    table = {name: {"precision": round(v["precision"], 4), "recall": round(v["recall"], 4),
                    "f1": round(v["f1-score"], 4), "support": v["support"],
                    "confused_with": v.get("confused_with", {})} for name, v in sorted(per.items())}
    out = {"accuracy": round(report.get("accuracy", 0.0), 4), "per_intent": table}
    for avg in ("micro avg", "macro avg", "weighted avg"):
        if avg in report:
            v = report[avg]
            out[avg.split()[0]] = {"precision": round(v["precision"], 4), "recall": round(v["recall"], 4),
                                   "f1": round(v["f1-score"], 4), "support": v["support"]}
    if "micro" not in out:  # sklearn leaves micro out when it equals accuracy
        a = out["accuracy"]
        out["micro"] = {"precision": a, "recall": a, "f1": a, "support": sum(v["support"] for v in table.values())}
    return out


def intent_errors(errors: list[dict], top: int = TOP) -> list[dict]:
    rows = [{"text": e["text"], "intent": e["intent"], "predicted": e["intent_prediction"]["name"],
             "confidence": round(e["intent_prediction"].get("confidence") or 0.0, 3)} for e in errors]
    return sorted(rows, key=lambda r: -r["confidence"])[:top]


# ---------------------------------------------------------------------------------- entities
def entity_label_metrics(report: dict) -> dict:
    """Rasa's token-level report: per label (type or type.role) and averages."""
    out: dict = {"per_label": {}}
    for k, v in report.items():
        if not isinstance(v, dict) or "support" not in v:
            continue
        row = {"precision": round(v["precision"], 4), "recall": round(v["recall"], 4),
               "f1": round(v["f1-score"], 4), "support": v["support"]}
        if k in ("micro avg", "macro avg", "weighted avg"):
            out[k.split()[0]] = row
        else:
            out["per_label"][k] = row
    if "accuracy" in report:
        out["token_accuracy"] = round(report["accuracy"], 4)
    return out


def _key(e: dict, with_span: bool) -> tuple:
    k = (e["entity"], e.get("role") or "", str(e.get("value", "")).strip().lower())
    return ((e["start"], e["end"]) + k) if with_span else k


def _prf(tp: int, fp: int, fn: int) -> dict:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4), "tp": tp, "fp": fp, "fn": fn}


def entity_mention_metrics(messages: list[dict]) -> dict:
    """Per mention: exact (span + type + role + value) and by value (type + role + value, any span);
    micro over all mentions, macro over labels (type or type.role), per label for exact."""
    totals = {"exact": Counter(), "value": Counter()}
    per_label: dict[str, Counter] = {}
    mismatches = []
    shown: dict[tuple, str] = {}  # key -> the value as written (keys compare values without case)
    for m in messages:
        gold = [e for e in m.get("entities", [])]
        pred = [e for e in m.get("predicted_entities", []) if e.get("extractor", EXTRACTOR) == EXTRACTOR]
        for e in gold + pred:
            shown[_key(e, True)] = str(e.get("value", ""))
        for mode, span in (("exact", True), ("value", False)):
            g, p = Counter(_key(e, span) for e in gold), Counter(_key(e, span) for e in pred)
            tp = sum((g & p).values())
            totals[mode].update(tp=tp, fp=sum(p.values()) - tp, fn=sum(g.values()) - tp)
            if mode == "exact":
                for k in set(g) | set(p):
                    label = k[2] + (f".{k[3]}" if k[3] else "")
                    c = per_label.setdefault(label, Counter())
                    both = min(g[k], p[k])
                    c.update(tp=both, fp=p[k] - both, fn=g[k] - both)
                if g != p:
                    text = m["text"]
                    show = lambda ks: [f"{k[2]}{'.' + k[3] if k[3] else ''}={shown.get(k, k[4])} '{text[k[0]:k[1]]}'" for k in ks]
                    mismatches.append({"text": text, "missed": show(sorted((g - p).elements())),
                                       "spurious": show(sorted((p - g).elements()))})
    out = {mode: _prf(c["tp"], c["fp"], c["fn"]) for mode, c in totals.items()}
    labels = {k: _prf(c["tp"], c["fp"], c["fn"]) for k, c in sorted(per_label.items())}
    out["exact_macro_f1"] = round(sum(v["f1"] for v in labels.values()) / len(labels), 4) if labels else 0.0
    out["per_label_exact"] = labels
    out["mismatches"] = mismatches
    return out


def entity_messages(out_dir: Path) -> list[dict]:
    """Every message with a gold or a predicted entity: Rasa writes each to the successes or the
    errors file of the extractor (some to both), so the union by text is complete."""
    seen: dict[str, dict] = {}
    for name in (f"{EXTRACTOR}_successes.json", f"{EXTRACTOR}_errors.json"):
        for m in _read(out_dir / name, []) or []:
            seen.setdefault(m["text"], m)
    return list(seen.values())


# ---------------------------------------------------------------------------------- held-out
def heldout(model: Path, data: Path, out_dir: Path) -> dict:
    seconds = run_rasa(["test", "nlu", "--model", str(model), "--nlu", str(data), "--out", str(out_dir),
                        "--successes", "--no-plot"], out_dir / "rasa.log", timeout=900)
    report = _read(out_dir / "intent_report.json")
    if report is None:
        raise RuntimeError(f"rasa wrote no intent_report.json in {out_dir}")
    errors = _read(out_dir / "intent_errors.json", []) or []
    successes = _read(out_dir / "intent_successes.json", []) or []
    threshold = fallback_threshold()
    confs = [(r.get("intent_prediction") or {}).get("confidence") or 0.0 for r in errors + successes]
    ents = entity_messages(out_dir)
    mention = entity_mention_metrics(ents)
    return {
        "file": str(data.relative_to(ROOT)) if data.is_relative_to(ROOT) else str(data),
        "utterances": len(errors) + len(successes),
        "seconds": round(seconds, 1),
        "intents": intent_metrics(report),
        "wrong_intents": len(errors),
        "wrong_intents_top": intent_errors(errors),
        "below_fallback_threshold": ({"threshold": threshold, "count": sum(c < threshold for c in confs),
                                      "of_them_correct": sum((r.get("intent_prediction") or {}).get("confidence", 0) < threshold
                                                             for r in successes)}
                                     if threshold is not None else None),
        "entities_rasa": entity_label_metrics(_read(out_dir / f"{EXTRACTOR}_report.json", {}) or {}),
        "entities_mentions": {k: v for k, v in mention.items() if k != "mismatches"},
        "entity_mismatches": len(mention["mismatches"]),
        "entity_mismatches_top": mention["mismatches"][:TOP],
    }


# ---------------------------------------------------------------------------- cross-validation
_CV_LINE = re.compile(r"rasa\.(?:nlu\.test|model_testing)\s+-\s+(train|test) ([\w -]+): ([\d.]+) \(([\d.]+)\)")


def cv_fold_means(log: str) -> dict:
    """Rasa's 'test F1-score: 0.987 (0.003)' lines: intents first, then per entity extractor."""
    out: dict = {"intents": {}, "entities": {}}
    section = "intents"
    extractor = None
    for line in log.splitlines():
        if "Entity extractor:" in line:
            section, extractor = "entities", line.rsplit(":", 1)[1].strip()
            continue
        m = _CV_LINE.search(line)
        if m:
            split, metric, mean, std = m.groups()
            d = out[section] if section == "intents" else out[section].setdefault(extractor, {})
            d.setdefault(split, {})[metric.strip()] = {"mean": float(mean), "std": float(std)}
    return out


_INT_VALUE = re.compile(r'("value"\s*:\s*)(-?\d+)(\s*[},])')


def cv_data(dest: Path) -> Path:
    """A copy of data/ for the cross-validation, with integer entity values quoted.

    Rasa's cross-validation writes each fold's training data back to YAML, and an annotation
    like ``{"entity": "ordinal", "value": 2}`` becomes a synonym whose name is the integer 2, which
    Rasa's own schema then refuses ("Value '2' is not of type 'str'"). Entity values play no part
    in the intent classifier here (entities come from the catalog parser), so quoting them
    changes no figure."""
    import shutil

    if dest.exists():
        shutil.rmtree(dest)
    for src in sorted((ROOT / "data").rglob("*.yml")):
        target = dest / src.relative_to(ROOT / "data")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(_INT_VALUE.sub(r'\1"\2"\3', src.read_text()))
    return dest


def cross_validation(folds: int, out_dir: Path) -> dict:
    if not (ROOT / "data" / "generated" / "catalog.yml").exists():
        print("data/generated/catalog.yml missing: running `python -m bot data`", flush=True)
        subprocess.run([sys.executable, "-m", "bot", "data"], cwd=ROOT, check=True)
    data = cv_data(WORK / "cv-data")
    seconds = run_rasa(["test", "nlu", "--nlu", str(data), "--config", "config.yml", "--cross-validation",
                        "--folds", str(folds), "--out", str(out_dir), "--no-plot"], out_dir / "rasa.log",
                       timeout=7200)
    report = _read(out_dir / "intent_report.json")
    if report is None:
        raise RuntimeError(f"rasa wrote no intent_report.json in {out_dir}")
    errors = _read(out_dir / "intent_errors.json", []) or []
    confusions = Counter(f"{e['intent']} -> {e['intent_prediction']['name']}" for e in errors)
    intents = intent_metrics(report)
    return {
        "folds": folds,
        "seconds": round(seconds, 1),
        "examples": sum(v["support"] for v in intents["per_intent"].values()),
        "intents": intents,
        "wrong_intents": len(errors),
        "top_confusions": dict(confusions.most_common(10)),
        "wrong_intents_top": intent_errors(errors, 10),
        "entities_rasa": entity_label_metrics(_read(out_dir / f"{EXTRACTOR}_report.json", {}) or {}),
        "fold_means": cv_fold_means((out_dir / "rasa.log").read_text(errors="replace")),
    }


# ----------------------------------------------------------------------------------- report
def model_info(model: Path) -> dict:
    stamp = _read(model.parent / "inputs.json", {}) or {}
    current = inputs_digest()
    info = {"path": str(model.relative_to(ROOT)) if model.is_relative_to(ROOT) else str(model),
            "mtime": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(model.stat().st_mtime)),
            "inputs_digest": current[:16], "trained_from_digest": (stamp.get("digest") or "")[:16],
            "up_to_date": stamp.get("digest") == current}
    dist = sorted(RASA_PYTHON.parents[1].glob("lib/python*/site-packages/rasa-*.dist-info"))
    if dist:
        info["rasa_version"] = dist[-1].name.removeprefix("rasa-").removesuffix(".dist-info")
    return info


def _f(x) -> str:
    return "–" if x is None else f"{x:.3f}"


def markdown(result: dict) -> str:
    h = result["heldout"]
    s = result["summary"]
    i, er, em = h["intents"], h["entities_rasa"], h["entities_mentions"]
    lines = ["# NLU quality (Rasa model: DIET intents, catalog-parser entities)", "",
             f"Model `{result['model']['path']}` ({result['model'].get('rasa_version', '?')}, trained "
             f"{result['model']['mtime']}, up to date with its inputs: {result['model']['up_to_date']}). "
             f"Command: `{result['command']}`.", "",
             "## Summary", "",
             "| measure | value | target |", "|---|---|---|",
             f"| held-out intent F1, micro (= accuracy) | {_f(s['heldout_intent_f1_micro'])} | >= {TARGETS['intent_f1']} |",
             f"| held-out intent F1, macro | {_f(s['heldout_intent_f1_macro'])} | >= {TARGETS['intent_f1']} |",
             f"| held-out entity F1, micro (Rasa, token level, type.role) | {_f(s['heldout_entity_f1_micro'])} | >= {TARGETS['entity_f1']} |",
             f"| held-out entity F1, macro (Rasa, per label) | {_f(s['heldout_entity_f1_macro'])} | |",
             f"| held-out entity F1, exact mention (span+type+role+value) | {_f(s['heldout_entity_f1_exact'])} | >= {TARGETS['entity_f1']} |",
             f"| held-out entity F1, by value (type+role+value, any span) | {_f(s['heldout_entity_f1_value'])} | |"]
    if result.get("cross_validation"):
        lines += [f"| {s['cv_folds']}-fold CV intent F1, micro / macro | {_f(s['cv_intent_f1_micro'])} / {_f(s['cv_intent_f1_macro'])} | |",
                  f"| {s['cv_folds']}-fold CV entity F1, micro (Rasa) | {_f(s['cv_entity_f1_micro'])} | |"]
    lines += ["", f"Meets the targets: intent {s['meets_intent_target']}, entity {s['meets_entity_target']}. "
              f"{h['utterances']} held-out utterances, {h['wrong_intents']} with a wrong intent, "
              f"{h['entity_mismatches']} with an entity mismatch.", ""]
    fb = h.get("below_fallback_threshold")
    if fb:
        lines += [f"`rasa test` undoes the FallbackClassifier: {fb['count']} held-out messages have a top intent "
                  f"below its threshold {fb['threshold']} (in the chat they would get the off-topic answer; "
                  f"{fb['of_them_correct']} of them had the right intent).", ""]
    lines += ["## Held-out intents", "", "| intent | precision | recall | F1 | support | confused with |",
              "|---|---|---|---|---|---|"]
    for name, v in i["per_intent"].items():
        conf = ", ".join(f"{k} {n}" for k, n in sorted(v["confused_with"].items(), key=lambda kv: -kv[1]))
        lines.append(f"| {name} | {v['precision']:.3f} | {v['recall']:.3f} | {v['f1']:.3f} | {v['support']} | {conf} |")
    for avg in ("micro", "macro", "weighted"):
        if avg in i:
            v = i[avg]
            lines.append(f"| *{avg} avg* | {v['precision']:.3f} | {v['recall']:.3f} | {v['f1']:.3f} | {v['support']} | |")
    lines += ["", f"### Wrong intents (top {TOP}, most confident first)", "",
              "| utterance | expected | predicted | confidence |", "|---|---|---|---|"]
    for r in h["wrong_intents_top"]:
        lines.append(f"| {r['text']} | {r['intent']} | {r['predicted']} | {r['confidence']:.2f} |")
    lines += ["", "## Held-out entities (CatalogEntityExtractor)", "",
              "Rasa's evaluation is per token and compares the label (type, or type.role) only; the mention "
              "figures count whole entities and compare values too (case ignored).", "",
              "| label | Rasa P | Rasa R | Rasa F1 | support (tokens) | exact P | exact R | exact F1 |",
              "|---|---|---|---|---|---|---|---|"]
    labels = sorted(set(er["per_label"]) | set(em["per_label_exact"]))
    for lab in labels:
        a, b = er["per_label"].get(lab), em["per_label_exact"].get(lab)
        lines.append(f"| {lab} | {_f(a and a['precision'])} | {_f(a and a['recall'])} | {_f(a and a['f1'])} | "
                     f"{a['support'] if a else '–'} | {_f(b and b['precision'])} | {_f(b and b['recall'])} | {_f(b and b['f1'])} |")
    for avg in ("micro", "macro", "weighted"):
        if avg in er:
            v = er[avg]
            lines.append(f"| *{avg} avg* | {v['precision']:.3f} | {v['recall']:.3f} | {v['f1']:.3f} | {v['support']} | | | |")
    ex, va = em["exact"], em["value"]
    lines += ["", f"Mentions, exact: P {ex['precision']:.3f} R {ex['recall']:.3f} F1 {ex['f1']:.3f} "
              f"(tp {ex['tp']}, fp {ex['fp']}, fn {ex['fn']}; macro F1 over labels {em['exact_macro_f1']:.3f}). "
              f"By value: P {va['precision']:.3f} R {va['recall']:.3f} F1 {va['f1']:.3f}.", "",
              f"### Entity mismatches (top {TOP})", "", "| utterance | missed (gold only) | spurious (predicted only) |",
              "|---|---|---|"]
    for r in h["entity_mismatches_top"]:
        lines.append(f"| {r['text']} | {'; '.join(r['missed'])} | {'; '.join(r['spurious'])} |")
    cv = result.get("cross_validation")
    if cv:
        ci = cv["intents"]
        lines += ["", f"## Cross-validation on the training data ({cv['folds']} folds, {cv['examples']} examples, "
                  f"{cv['seconds'] / 60:.1f} min)", "",
                  "Accumulated over the test folds of data/nlu.yml + data/generated/. Searches and refinements "
                  "are generated from templates, so a held-out fold resembles its training folds (optimistic "
                  "figures); the hand-written intents have few examples each, and a fold keeps only two thirds "
                  "of them for training (pessimistic figures, hence the low macro average).", "",
                  "| intent | precision | recall | F1 | support |", "|---|---|---|---|---|"]
        for name, v in ci["per_intent"].items():
            lines.append(f"| {name} | {v['precision']:.3f} | {v['recall']:.3f} | {v['f1']:.3f} | {v['support']} |")
        for avg in ("micro", "macro", "weighted"):
            if avg in ci:
                v = ci[avg]
                lines.append(f"| *{avg} avg* | {v['precision']:.3f} | {v['recall']:.3f} | {v['f1']:.3f} | {v['support']} |")
        ce = cv["entities_rasa"]
        if "micro" in ce:
            lines += ["", f"Entities (Rasa, token level), micro F1 {ce['micro']['f1']:.3f}, macro F1 "
                      f"{ce.get('macro', {}).get('f1', 0):.3f}."]
        fm = cv["fold_means"]
        test = fm["intents"].get("test", {})
        if test:
            lines += ["", "Per-fold mean (std), test folds: " + ", ".join(
                f"intent {k} {v['mean']:.3f} ({v['std']:.3f})" for k, v in test.items()) + "."]
        if cv["top_confusions"]:
            lines += ["", "Most frequent confusions: " + ", ".join(f"{k} ({n})" for k, n in cv["top_confusions"].items()) + "."]
    m = result["machine"]
    lines += ["", "## Machine", "", f"{m.get('cpu')}, {m.get('nproc')} cores, Python {m.get('python')}; "
              f"code {m.get('code', {}).get('git_head')} (core {m.get('code', {}).get('core_sha256')}); {m['date']}.",
              "", SHARED_NOTE, ""]
    return "\n".join(lines)


def print_table(result: dict) -> None:
    s = result["summary"]
    rows = [("held-out intent F1 micro / macro", f"{_f(s['heldout_intent_f1_micro'])} / {_f(s['heldout_intent_f1_macro'])}",
             f">= {TARGETS['intent_f1']}"),
            ("held-out entity F1 (Rasa token) micro / macro",
             f"{_f(s['heldout_entity_f1_micro'])} / {_f(s['heldout_entity_f1_macro'])}", f">= {TARGETS['entity_f1']}"),
            ("held-out entity F1 exact / by value", f"{_f(s['heldout_entity_f1_exact'])} / {_f(s['heldout_entity_f1_value'])}", "")]
    if "cv_intent_f1_micro" in s:
        rows += [(f"{s['cv_folds']}-fold CV intent F1 micro / macro", f"{_f(s['cv_intent_f1_micro'])} / {_f(s['cv_intent_f1_macro'])}", ""),
                 (f"{s['cv_folds']}-fold CV entity F1 (Rasa token) micro", _f(s["cv_entity_f1_micro"]), "")]
    w = max(len(r[0]) for r in rows)
    print()
    for name, val, target in rows:
        print(f"  {name:<{w}}  {val:<15} {target}")
    h = result["heldout"]
    print(f"\n  wrong intents: {h['wrong_intents']} of {h['utterances']}; top ones:")
    for r in h["wrong_intents_top"][:10]:
        print(f"    {r['intent']:>12} -> {r['predicted']:<12} {r['confidence']:.2f}  {r['text']}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=MODEL, help="trained Rasa model (default %(default)s)")
    ap.add_argument("--heldout", type=Path, default=HELDOUT, help="held-out NLU file (default %(default)s)")
    ap.add_argument("--folds", type=int, default=3, help="cross-validation folds (default 3; each retrains)")
    ap.add_argument("--no-cv", action="store_true", help="skip the cross-validation")
    ap.add_argument("--train", action="store_true", help="run `python -m bot train` first (retrains only when inputs changed)")
    ap.add_argument("--out-dir", type=Path, default=RESULTS, help="where nlu.json and nlu.md go")
    args = ap.parse_args(argv)
    if not RASA_PYTHON.exists():
        print(f"{RASA_PYTHON} missing: run `make setup` first", file=sys.stderr)
        return 2
    if args.train:
        subprocess.run([sys.executable, "-m", "bot", "train"], cwd=ROOT, check=True)
    model = args.model.resolve()
    if not model.exists():
        print(f"{model} missing: run `.venv/bin/python -m bot train` (or pass --train)", file=sys.stderr)
        return 2
    info = machine_info(import_modules=False)
    info["code"] = code_version()
    result: dict = {"benchmark": "nlu", "machine": info, "note": SHARED_NOTE,
                    "command": " ".join(["python bench/bench_nlu.py", *(sys.argv[1:] if argv is None else argv)]),
                    "model": model_info(model), "targets": TARGETS}
    if not result["model"]["up_to_date"]:
        print("warning: the model is older than its inputs (data, config, parser); figures are for the model as "
              "trained. `--train` retrains first.", file=sys.stderr)
    print(f"held-out: rasa test nlu on {args.heldout} ...", flush=True)
    result["heldout"] = heldout(model, args.heldout.resolve(), WORK / "heldout")
    if not args.no_cv:
        print(f"cross-validation: {args.folds} folds on data/ (retrains {args.folds} times) ...", flush=True)
        result["cross_validation"] = cross_validation(args.folds, WORK / "cv")
    h = result["heldout"]
    s = {"heldout_utterances": h["utterances"],
         "heldout_intent_accuracy": h["intents"]["accuracy"],
         "heldout_intent_f1_micro": h["intents"]["micro"]["f1"],
         "heldout_intent_f1_macro": h["intents"].get("macro", {}).get("f1"),
         "heldout_intent_f1_weighted": h["intents"].get("weighted", {}).get("f1"),
         "heldout_entity_f1_micro": h["entities_rasa"].get("micro", {}).get("f1"),
         "heldout_entity_f1_macro": h["entities_rasa"].get("macro", {}).get("f1"),
         "heldout_entity_f1_exact": h["entities_mentions"]["exact"]["f1"],
         "heldout_entity_f1_value": h["entities_mentions"]["value"]["f1"]}
    s["meets_intent_target"] = min(s["heldout_intent_f1_micro"], s["heldout_intent_f1_macro"] or 0) >= TARGETS["intent_f1"]
    s["meets_entity_target"] = min(s["heldout_entity_f1_micro"] or 0, s["heldout_entity_f1_exact"]) >= TARGETS["entity_f1"]
    cv = result.get("cross_validation")
    if cv:
        s.update(cv_folds=cv["folds"], cv_intent_f1_micro=cv["intents"]["micro"]["f1"],
                 cv_intent_f1_macro=cv["intents"].get("macro", {}).get("f1"),
                 cv_entity_f1_micro=cv["entities_rasa"].get("micro", {}).get("f1"))
    result["summary"] = s
    info["loadavg_end"] = list(__import__("os").getloadavg())
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "nlu.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    (args.out_dir / "nlu.md").write_text(markdown(result))
    print_table(result)
    print(f"\nwrote {args.out_dir / 'nlu.json'} and {args.out_dir / 'nlu.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
