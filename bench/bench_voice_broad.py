"""Spoken requests in other phrasings: does what was heard ask for the same thing as what was said?

The dev set's 60 spoken queries use a handful of sentence shapes ("X in C under N dollars",
"show me C X"). Shoppers, and the separate judging set, use others. This benchmark makes
``--n`` requests (default 120, seed 0) from random catalog kinds in everyday words ("joggers",
"stilettos", "tote bag"), colours ("navy", "off-white", "golden"), genders ("for my son",
"ladies", "men's") and price caps ("up to 80 dollars", "under 50 bucks") in 12 sentence shapes,
reads each with espeak-ng (sox to 16 kHz, as ``materialize.py --speak`` does), transcribes it
with the default recogniser and parses both the typed and the heard sentence with the catalog
parser. Reported: corpus WER, and the share of requests whose heard parse names the same article
type, colour, gender and price cap as the typed one (all four, and each field), with the misses;
also the same clips transcribed without the type recheck.

Only kinds and colours the served catalog has are used; each reading differs a little (sox
dithers), so figures move by a few points between runs.

    .venv/bin/python bench/bench_voice_broad.py [--n 120] [--seed 0]

Writes ``bench/results/voice_broad.json`` and ``bench/results/voice_broad.md``.
"""
from __future__ import annotations

import argparse
import collections
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _common import SHARED_NOTE, code_version, machine_info  # noqa: E402
from bench_voice import have_speech_tools, speak  # noqa: E402

RESULTS = ROOT / "bench" / "results"

# everyday names of catalog kinds (catalog value -> what a shopper says)
KINDS = {
    "Tshirts": ["t-shirt", "tee", "tshirt"], "Shirts": ["shirt", "button-down shirt", "formal shirt"],
    "Casual Shoes": ["sneakers", "casual shoes", "canvas shoes"], "Sports Shoes": ["running shoes", "sports shoes"],
    "Tops": ["top", "blouse"], "Kurtas": ["kurta"], "Watches": ["watch", "wristwatch"],
    "Handbags": ["handbag", "purse", "shoulder bag", "tote bag"], "Heels": ["heels", "high heels", "stilettos"],
    "Sunglasses": ["sunglasses", "shades"], "Sweaters": ["sweater", "jumper", "cardigan"], "Sandals": ["sandals"],
    "Flip Flops": ["flip flops", "slippers"], "Wallets": ["wallet"], "Sweatshirts": ["sweatshirt", "hoodie"],
    "Belts": ["belt"], "Trousers": ["trousers", "pants", "chinos"], "Formal Shoes": ["formal shoes", "dress shoes"],
    "Socks": ["socks"], "Jeans": ["jeans", "denims"], "Jackets": ["jacket", "blazer", "coat"],
    "Flats": ["flats", "ballet flats"], "Backpacks": ["backpack", "school bag"], "Briefs": ["briefs", "underwear"],
    "Shorts": ["shorts"], "Caps": ["cap", "baseball cap"], "Track Pants": ["track pants", "joggers", "sweatpants"],
    "Ties": ["tie", "necktie"], "Kurtis": ["kurti"], "Dresses": ["dress"], "Skirts": ["skirt"], "Scarves": ["scarf"],
    "Clutches": ["clutch"], "Leggings": ["leggings"], "Laptop Bag": ["laptop bag"], "Capris": ["capris"],
    "Perfume and Body Mist": ["perfume", "body mist"], "Cufflinks": ["cufflinks"], "Tunics": ["tunic"],
}
COLOURS = {
    "Black": ["black"], "White": ["white"], "Blue": ["blue"], "Navy Blue": ["navy", "navy blue", "dark blue"],
    "Red": ["red"], "Green": ["green"], "Grey": ["grey", "gray"], "Brown": ["brown"], "Pink": ["pink"],
    "Purple": ["purple"], "Yellow": ["yellow"], "Orange": ["orange"], "Beige": ["beige"], "Maroon": ["maroon"],
    "Olive": ["olive"], "Cream": ["cream"], "Off White": ["off white", "ivory"], "Silver": ["silver"],
    "Gold": ["gold", "golden"], "Tan": ["tan"],
}
GENDERS = {
    "Men": ["for men", "men's", "for a man", "for my husband", "for my boyfriend", "for him", "for gents"],
    "Women": ["for women", "women's", "for a woman", "for my wife", "for her", "ladies", "for my mom"],
    "Boys": ["for boys", "for my son", "for a boy"], "Girls": ["for girls", "for my daughter", "for a girl"],
}
PRICES = ["under {} dollars", "below {} dollars", "for less than {} dollars", "under {} bucks",
          "no more than {} dollars", "up to {} dollars"]
SHAPES = ["{c} {t} {g} {p}", "{t} in {c} {g} {p}", "i need a {c} {t} {g} {p}", "do you have {c} {t} {g} {p}",
          "show me some {t} in {c} {g} {p}", "looking for a {t} in {c} {g} {p}", "I'd like a {c} {t} {g} {p}",
          "can you find me a {c} {t} {g} {p}", "I want {c} {t} {g} {p}", "hi, I am looking for {c} {t} {g} {p}",
          "get me a {c} {t} {g} {p}", "any {c} {t} {g} {p}"]
FIELDS = ("article_type", "color", "gender", "max_price")


def requests(vocab_values: dict[str, list[str]], n: int, seed: int) -> list[dict]:
    """``n`` (text, the words used for each field) requests over the catalog's own kinds and colours."""
    rng = random.Random(seed)
    kinds = [k for k in KINDS if k in vocab_values.get("article_type", [])]
    colours = [c for c in COLOURS if c in vocab_values.get("color", [])]
    out = []
    for _ in range(n):
        kind, colour = rng.choice(kinds), rng.choice(colours)
        said = {"article_type": rng.choice(KINDS[kind]), "color": rng.choice(COLOURS[colour])}
        gender = rng.choice([None, None, *GENDERS])
        said["gender"] = rng.choice(GENDERS[gender]) if gender else ""
        cap = rng.choice([None, None, 30, 40, 50, 80, 100, 150])
        said["max_price"] = rng.choice(PRICES).format(cap) if cap else ""
        text = rng.choice(SHAPES).format(c=said["color"], t=said["article_type"], g=said["gender"], p=said["max_price"])
        out.append({"text": " ".join(text.split()), "said": said})
    return out


def reading(parser, text: str) -> dict:
    q = parser.parse(text)
    return {"article_type": (q.wanted("article_type") or (None,))[0], "color": (q.wanted("color") or (None,))[0],
            "gender": (q.wanted("gender") or (None,))[0], "max_price": q.max_price}


def markdown(res: dict) -> str:
    s = res["summary"]
    lines = ["# Spoken requests in other phrasings (generated, read by espeak-ng)", "",
             f"{s['n']} requests (seed {res['seed']}), 12 sentence shapes, {s['kinds']} catalog kinds in everyday "
             f"words, {s['colours']} colours, genders and price caps. Measured {res['machine']['date']}. "
             "Each reading differs a little (sox dithers): figures move by a few points between runs.", "",
             "| measure | value |", "|---|---|",
             f"| corpus WER | {s['wer']:.3f} |",
             f"| heard request = typed request (type, colour, gender and price cap) | {s['agreement']:.3f} |"]
    lines += [f"| same {f} | {v:.3f} |" for f, v in s["per_field"].items()]
    lines += ["", "The same clips with one setting changed (the same loaded model):", "",
              "| variant | heard = typed | " + " | ".join(f"same {f}" for f in s["per_field"]) + " |",
              "|---|---|" + "---|" * len(s["per_field"])]
    for name, w in s["variants"].items():
        lines.append(f"| {name} | {w['agreement']:.3f} | " + " | ".join(f"{v:.3f}" for v in w["per_field"].values())
                     + " |")
    lines += ["", "## Words most often lost", "", "| field | typed words | misses |", "|---|---|---|"]
    lines += [f"| {f} | {w or '(none)'} | {n} |" for f, w, n in res["misses"][:25]]
    lines += ["", "## Requests heard differently (first 30)", "", "| typed | heard |", "|---|---|"]
    lines += [f"| {r['text']} | {r['heard']} |" for r in res["rows"] if not r["same"]][:30]
    lines += ["", "Reproduce: `.venv/bin/python bench/bench_voice_broad.py`.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=120)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if not have_speech_tools():
        return 2

    from nlu.constraints import ConstraintParser
    from nlu.speech import SpeechSettings, SpeechToText, word_errors
    from retrieval.cli import ensure_index
    from retrieval.product_index import ProductIndex
    from retrieval.settings import Settings

    info = machine_info(import_modules=False)
    settings = Settings()
    ensure_index(settings, progress=False)
    index = ProductIndex.load(settings.resolved_index_dir(), settings)
    parser = ConstraintParser(index.vocab)
    vocab_file = settings.resolved_index_dir() / "vocabulary.json"
    stt = SpeechToText.from_settings(SpeechSettings(), vocabulary_file=vocab_file)
    stt.load()
    # the same clips with one setting changed (the same loaded model)
    others = {}
    for name, changed in (("without the type recheck (SHOP_SPEECH_TYPE_RECHECK=false)", dict(speech_type_recheck=False)),
                          ("one reading as recorded (SHOP_SPEECH_RATES=1)", dict(speech_rates=[1.0]))):
        others[name] = SpeechToText.from_settings(SpeechSettings(**changed), vocabulary_file=vocab_file)
        others[name]._model = stt._model
    other_same = {name: {f: 0 for f in FIELDS} for name in others}
    other_all = {name: 0 for name in others}
    reqs = requests(index.vocab.values, args.n, args.seed)
    rows, errors, words = [], 0, 0
    missed: collections.Counter = collections.Counter()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-voice-broad-") as tmp:
        for i, r in enumerate(reqs):
            wav = Path(tmp) / f"{i}.wav"
            speak(r["text"], wav)
            heard = stt.transcribe(wav.read_bytes())
            e, n = word_errors(r["text"], heard.text)
            errors, words = errors + e, words + n
            typed, got = reading(parser, r["text"]), reading(parser, heard.text)
            same = {f: typed[f] == got[f] for f in FIELDS}
            for f in FIELDS:
                if not same[f]:
                    missed[(f, r["said"][f])] += 1
            for name, other in others.items():
                without = reading(parser, other.transcribe(wav.read_bytes()).text)
                other_all[name] += without == typed
                for f in FIELDS:
                    other_same[name][f] += without[f] == typed[f]
            rows.append({"text": r["text"], "heard": heard.text, "whisper": heard.raw_text, "typed": typed,
                         "got": got, "same": all(same.values()), "fields": same, "confidence": heard.confidence,
                         "rate": heard.rate, "agreement": heard.agreement})
            print(f"[{i + 1}/{len(reqs)}] {'ok ' if rows[-1]['same'] else 'XX '} {r['text']} -> {heard.text}",
                  flush=True)
    n = len(rows)
    summary = {"n": n, "kinds": len({r["typed"]["article_type"] for r in rows}),
               "colours": len({r["typed"]["color"] for r in rows}),
               "wer": round(errors / max(1, words), 4),
               "agreement": round(sum(r["same"] for r in rows) / n, 4),
               "per_field": {f: round(sum(r["fields"][f] for r in rows) / n, 4) for f in FIELDS},
               "variants": {name: {"agreement": round(other_all[name] / n, 4),
                                   "per_field": {f: round(v / n, 4) for f, v in other_same[name].items()}}
                            for name in others},
               "seconds": round(time.perf_counter() - t0, 1)}
    res = {"benchmark": "voice_broad", "machine": info, "code": code_version(), "note": SHARED_NOTE,
           "seed": args.seed, "summary": summary,
           "misses": [(f, w, k) for (f, w), k in missed.most_common()], "rows": rows}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "voice_broad.json").write_text(json.dumps(res, indent=1, default=str) + "\n")
    (RESULTS / "voice_broad.md").write_text(markdown(res))
    print(json.dumps(summary, indent=1))
    print(f"wrote {RESULTS / 'voice_broad.json'} and voice_broad.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
