"""Voice requests: word error rate, speed, retrieval quality and turn latency of speech to text.

What it measures
----------------
The 60 typed dev queries (``../shared/eval/dev-queries.jsonl``) are spoken with espeak-ng by the
shared ``materialize.py --speak`` (16 kHz mono WAV) into a temporary folder. Then:

* **WER**: every spoken query is transcribed by ``nlu.speech.SpeechToText`` with the settings'
  defaults (Whisper base int8, beam search 5, language detected, the catalog prompt and the catalog-word
  correction built from the index's ``vocabulary.json``) and compared with the typed text: word-level edit distance over
  ``nlu.speech.normalise_words`` (lower case, no punctuation, "forty"/"$40"/"40 dollars" alike,
  grey/gray alike), summed over all queries and divided by the reference words (corpus WER).
  Target <= 0.10. The same is done for variants (plain Whisper, no prompt, no correction, greedy
  decoding, Silero VAD) to show what each choice is worth (``--quick`` skips them).
* **Real-time factor**: (decode + transcribe wall time) / audio seconds over all spoken
  queries, with the CPU threads the settings give (2 here). Target <= 0.25. CPU seconds are
  recorded too: on this shared machine other jobs steal wall time.
* **Retrieval**: ``python -m retrieval search`` on the typed queries and, separately, on the
  voice queries (which it transcribes itself), both scored by the shared ``score.py``.
  Target: voice nDCG@10 within 0.05 of typed. Also scored: only the voice queries the gateway
  would search at once (confidence >= SHOP_SPEECH_MIN_CONFIDENCE; the others get "Did I get
  that right?") against the same queries typed.
* **Readings**: ``materialize.py --speak`` never reads a query quite the same way twice (sox
  dithers while resampling), and a few transcripts change with it; the queries are read
  ``--readings`` times (default 3) and WER and the nDCG gap are also given as mean and range.
* **Confidence**: how well ``Transcript.confidence`` separates exact transcripts from wrong ones
  (ROC AUC), and what share of queries each threshold would send to the confirmation question.
* **Voice-turn latency**: six ~3-second spoken requests (espeak-ng, not dev queries), each
  three times: ``transcribe(bytes)`` + ``SearchEngine.search(text, k=10)`` in one process
  (a direct engine call, not the HTTP gateway -> Rasa -> action-server path, which adds the Rasa
  round trip; measured in bench_latency/bench_dialogue). p50 target < 1.2 s.

Run
---
    .venv/bin/python bench/bench_voice.py            # everything (~12 min on 2 shared cores)
    .venv/bin/python bench/bench_voice.py --quick    # default recogniser only, no variants

Writes ``bench/results/voice.json`` and ``bench/results/voice.md``.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _common import SHARED_NOTE, code_version, machine_info  # noqa: E402

SHARED = ROOT.parent / "shared"
RESULTS = ROOT / "bench" / "results"
TARGETS = {"wer": 0.10, "rtf": 0.25, "ndcg_gap": 0.05, "turn_p50_s": 1.2}
LATENCY_PHRASES = [
    "I am looking for a black leather wallet under forty dollars",
    "show me red casual shoes for women under eighty dollars",
    "navy blue kurta for men under fifty dollars please",
    "do you have white sports shoes for running under sixty",
    "I need a brown leather belt for my husband please",
    "looking for a grey hoodie for men under thirty dollars",
]


def have_speech_tools() -> bool:
    """espeak-ng and sox are on PATH; else says which is missing (on stderr)."""
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            print(f"error: {tool} is not installed (make setup installs it)", file=sys.stderr)
            return False
    return True


def speak(text: str, wav: Path) -> None:
    """espeak-ng -> 16 kHz mono WAV, as materialize.py --speak does."""
    raw = wav.with_suffix(".raw.wav")
    subprocess.run(["espeak-ng", "-w", str(raw), text], check=True)
    subprocess.run(["sox", str(raw), "-r", "16000", "-c", "1", str(wav)], check=True)
    raw.unlink()


def materialize(queries: Path, out: Path) -> list[dict]:
    subprocess.run([sys.executable, str(SHARED / "eval" / "materialize.py"), str(SHARED / "catalog"), str(queries),
                    str(out), "--speak"], check=True, capture_output=True)
    return [json.loads(line) for line in (out / "queries.jsonl").read_text().splitlines() if line.strip()]


def voice_clips(queries: list[dict], typed: dict[str, str]) -> list[tuple[str, str, bytes]]:
    """(id, the typed words, audio bytes) of each voice query of a materialized set."""
    return [(q["id"], typed[q["id"][:-2]], Path(q["audio"]).read_bytes()) for q in queries if q["kind"] == "voice"]


def transcribe_all(stt, clips: list[tuple[str, str, bytes]]) -> dict:
    """Transcribe (id, reference, bytes) clips; corpus WER, RTF (wall and CPU), per-clip rows."""
    from nlu.speech import word_errors

    stt.transcribe(clips[0][2])  # warm-up (first call allocates)
    rows, errors, words, wall, cpu, audio = [], 0, 0, 0.0, 0.0, 0.0
    for qid, ref, data in clips:
        t0, c0 = time.perf_counter(), time.process_time()
        t = stt.transcribe(data)
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        e, n = word_errors(ref, t.text)
        errors, words, wall, cpu, audio = errors + e, words + n, wall + dt, cpu + dc, audio + (t.duration_s or 0)
        rows.append({"id": qid, "reference": ref, "heard": t.text, "whisper": t.raw_text,
                     "corrections": [list(c) for c in t.corrections], "wer": round(e / max(1, n), 4),
                     "confidence": t.confidence, "language": t.language, "translated": t.translated,
                     "language_probability": t.language_probability, "seconds": round(dt, 4),
                     "audio_s": t.duration_s, "rate": t.rate, "agreement": t.agreement})
    return {"n": len(rows), "wer": round(errors / max(1, words), 4), "word_errors": errors, "reference_words": words,
            "mean_query_wer": round(statistics.fmean(r["wer"] for r in rows), 4),
            "exact_share": round(sum(r["wer"] == 0 for r in rows) / len(rows), 4),
            "audio_seconds": round(audio, 2), "mean_clip_s": round(audio / len(rows), 3),
            "rtf_wall": round(wall / audio, 4), "rtf_cpu": round(cpu / audio, 4),
            "per_clip_p50_s": round(statistics.median(r["seconds"] for r in rows), 4),
            "corrected_share": round(sum(bool(r["corrections"]) for r in rows) / len(rows), 4),
            "languages": {lang: sum(r["language"] == lang for r in rows) for lang in {r["language"] for r in rows}},
            "rows": rows}


def like(stt, **overrides):
    """A recogniser with ``stt``'s options (prompt, catalog terms, readings, ...) but ``overrides``;
    the model loads again unless the caller shares ``stt._model``."""
    from nlu.speech import SpeechToText

    options = dict(compute_type=stt.compute_type, cpu_threads=stt.cpu_threads, languages=stt.languages,
                   cache_dir=stt.cache_dir, max_seconds=stt.max_seconds, max_bytes=stt.max_bytes,
                   initial_prompt=stt.initial_prompt, terms=stt.terms, correction_bonus=stt.correction_bonus,
                   beam_size=stt.beam_size, nbest_bonus=stt.nbest_bonus, window_seconds=stt.window_seconds,
                   slot_fill=stt.slot_fill, type_recheck=stt.type_recheck, rates=stt.rates, reader=stt.reader)
    return SpeechToText(stt.model_name, **{**options, **overrides})


def thread_comparison(stt, clips: list[tuple[str, str, bytes]], threads: tuple[int, ...] = (1, 2),
                      rounds: int = 2) -> dict:
    """The same recogniser with 1 and 2 CPU threads, clip by clip in alternating order (the
    machine's speed drifts; a variant measured minutes later is not comparable): median RTF of
    each and the median per-clip time ratio."""
    models = {}
    for n in threads:
        other = like(stt, cpu_threads=n)  # workers: the cores / n (the readings of one clip run side by side)
        other.transcribe(clips[0][2])  # load + warm-up
        models[n] = other
    times: dict[int, list[float]] = {n: [] for n in threads}
    audio: dict[int, list[float]] = {n: [] for n in threads}
    for i in range(rounds):
        for j, (_, _, data) in enumerate(clips):
            order = threads if (i + j) % 2 == 0 else threads[::-1]
            for n in order:
                t0 = time.perf_counter()
                t = models[n].transcribe(data)
                times[n].append(time.perf_counter() - t0)
                audio[n].append(max(t.duration_s or 0, 1e-3))
    a, b = threads[0], threads[-1]
    return {"threads": list(threads), "clips": len(clips), "rounds": rounds,
            "rtf_median": {str(n): round(statistics.median(x / d for x, d in zip(times[n], audio[n])), 4)
                           for n in threads},
            "rtf_total": {str(n): round(sum(times[n]) / sum(audio[n]), 4) for n in threads},
            f"ratio_{a}_to_{b}": round(statistics.median(x / y for x, y in zip(times[a], times[b])), 3)}


def concurrency(stt, clips: list[tuple[str, str, bytes]], shoppers: int = 2, n: int = 20) -> dict:
    """``shoppers`` threads each transcribing the same ``n`` clips at the same time, with one
    CTranslate2 worker (transcriptions queue) and with ``shoppers`` workers (they run in parallel,
    one model in memory): wall time and median latency of a transcription."""
    import threading

    data = [c[2] for c in clips[:n]]
    out = {"shoppers": shoppers, "clips_each": len(data), "threads_per_transcription": stt.cpu_threads, "by_workers": {}}
    for workers in (1, shoppers):
        other = like(stt, workers=workers)
        other.transcribe(data[0])  # load + warm-up
        latencies: list[float] = []

        def shopper() -> None:
            for d in data:
                t0 = time.perf_counter()
                other.transcribe(d)
                latencies.append(time.perf_counter() - t0)

        threads = [threading.Thread(target=shopper) for _ in range(shoppers)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        out["by_workers"][str(workers)] = {"wall_s": round(time.perf_counter() - t0, 3),
                                           "latency_p50_s": round(statistics.median(latencies), 4)}
    return out


def roc_auc(pos: list[float], neg: list[float]) -> float | None:
    """P(confidence of an exact transcript > that of a wrong one), ties half."""
    if not pos or not neg:
        return None
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return round(wins / (len(pos) * len(neg)), 4)


def confidence_table(rows: list[dict]) -> dict:
    exact = [r["confidence"] for r in rows if r["wer"] == 0]
    wrong = [r["confidence"] for r in rows if r["wer"] > 0]
    out = {"auc_exact_vs_wrong": roc_auc(exact, wrong),
           "median_exact": round(statistics.median(exact), 4) if exact else None,
           "median_wrong": round(statistics.median(wrong), 4) if wrong else None, "thresholds": {}}
    for th in (0.3, 0.4, 0.5, 0.6, 0.7):
        asked = [r for r in rows if r["confidence"] < th]
        kept = [r for r in rows if r["confidence"] >= th]
        out["thresholds"][str(th)] = {
            "asked_share": round(len(asked) / len(rows), 4),
            "wrong_among_asked": round(sum(r["wer"] > 0 for r in asked) / len(asked), 4) if asked else None,
            "wer_of_searched": round(statistics.fmean(r["wer"] for r in kept), 4) if kept else None}
    return out


def score(qfile: Path, run: Path) -> dict:
    out = subprocess.run([sys.executable, str(SHARED / "eval" / "score.py"), str(SHARED / "catalog"), str(qfile),
                          str(run), "--json"], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def search_run(qfile: Path, run: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "retrieval", "search", "--queries", str(qfile), "--out", str(run), "-q"],
                   cwd=ROOT, check=True)
    return time.perf_counter() - t0


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def retrieval(queries: list[dict], work: Path, threshold: float) -> dict:
    typed = [q for q in queries if q["kind"] == "text"]
    voice = [q for q in queries if q["kind"] == "voice"]
    qt, qv = work / "typed.jsonl", work / "voice.jsonl"
    write_jsonl(qt, typed)
    write_jsonl(qv, voice)
    rt, rv = work / "typed.run.jsonl", work / "voice.run.jsonl"
    seconds = {"typed": round(search_run(qt, rt), 1), "voice": round(search_run(qv, rv), 1)}
    st, sv = score(qt, rt), score(qv, rv)
    lines = {json.loads(x)["id"]: json.loads(x) for x in rv.read_text().splitlines() if x.strip()}
    sure = [q for q in voice if (lines.get(q["id"], {}).get("transcript") or {}).get("confidence", 0) >= threshold]
    sure_ids = {q["id"][:-2] for q in sure}
    qts, qvs = work / "typed_sure.jsonl", work / "voice_sure.jsonl"
    write_jsonl(qts, [q for q in typed if q["id"] in sure_ids])
    write_jsonl(qvs, sure)
    out = {"typed": st.get("text"), "voice": sv.get("voice"), "seconds": seconds,
           "errors": sum("error" in r for r in lines.values())}
    out["ndcg_gap"] = round(out["typed"]["ndcg"] - out["voice"]["ndcg"], 4)
    if sure:
        out["confident_only"] = {"threshold": threshold, "n": len(sure), "typed": score(qts, rt).get("text"),
                                 "voice": score(qvs, rv).get("voice")}
        out["confident_only"]["ndcg_gap"] = round(out["confident_only"]["typed"]["ndcg"]
                                                  - out["confident_only"]["voice"]["ndcg"], 4)
    out["transcripts"] = {qid: r.get("transcript") for qid, r in lines.items()}
    return out


def latency(stt, work: Path, rounds: int = 3) -> dict:
    from retrieval.search import SearchEngine
    from retrieval.settings import Settings

    engine = SearchEngine.from_settings(Settings())
    clips = []
    for i, phrase in enumerate(LATENCY_PHRASES):
        wav = work / f"turn{i}.wav"
        speak(phrase, wav)
        clips.append((phrase, wav.read_bytes()))
    engine.search(text=LATENCY_PHRASES[0], k=10)
    stt.transcribe(clips[0][1])
    samples, parts, audio = [], {"transcribe": [], "search": []}, []
    for _ in range(rounds):
        for phrase, data in clips:
            t0 = time.perf_counter()
            t = stt.transcribe(data)
            t1 = time.perf_counter()
            engine.search(text=t.text or phrase, k=10)
            t2 = time.perf_counter()
            samples.append(t2 - t0)
            parts["transcribe"].append(t1 - t0)
            parts["search"].append(t2 - t1)
            audio.append(t.duration_s or 0)

    def pct(xs: list[float], q: float) -> float:
        xs = sorted(xs)
        return round(xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))], 4)

    return {"what": "transcribe(bytes) + SearchEngine.search(text, k=10), one process (not the HTTP/Rasa path)",
            "n": len(samples), "clip_seconds_mean": round(statistics.fmean(audio), 3),
            "p50_s": pct(samples, 0.5), "p95_s": pct(samples, 0.95), "max_s": round(max(samples), 4),
            "transcribe_p50_s": pct(parts["transcribe"], 0.5), "search_p50_s": pct(parts["search"], 0.5),
            "rtf_3s_clips": round(statistics.fmean(parts["transcribe"]) / statistics.fmean(audio), 4)}


def markdown(res: dict) -> str:
    d, r, lat, conf = res["default"], res["retrieval"], res["latency"], res["confidence"]
    ok = lambda good: "yes" if good else "**no**"  # noqa: E731
    lines = [
        "# Voice requests: speech to text (Whisper base, CPU)", "",
        f"Spoken dev queries: the {d['n']} typed dev queries read by espeak-ng (`materialize.py --speak`), "
        f"{d['mean_clip_s']:.2f} s on average. Recogniser: `{res['config']['recogniser']}`. "
        f"Measured {res['machine']['date']} on {res['machine'].get('cpu')} ({res['machine']['nproc']} cores, "
        f"load average at start {res['machine']['loadavg_start'][0]:.1f}). {SHARED_NOTE}", "",
        "| measure | value | target | met |", "|---|---|---|---|",
        f"| corpus WER (normalised words) | {d['wer']:.3f} ({d['word_errors']}/{d['reference_words']}) | "
        f"<= {TARGETS['wer']} | {ok(d['wer'] <= TARGETS['wer'])} |",
        f"| real-time factor, dev clips (wall) | {d['rtf_wall']:.3f} | <= {TARGETS['rtf']} | "
        f"{ok(d['rtf_wall'] <= TARGETS['rtf'])} |",
        f"| CPU seconds per audio second, dev clips (the process, all threads) | {d['rtf_cpu']:.3f} | | |",
        f"| real-time factor, ~3 s clips (wall) | {lat['rtf_3s_clips']:.3f} | <= {TARGETS['rtf']} | "
        f"{ok(lat['rtf_3s_clips'] <= TARGETS['rtf'])} |",
        f"| nDCG@10 typed / voice (n={r['typed']['n']}) | {r['typed']['ndcg']:.3f} / {r['voice']['ndcg']:.3f} "
        f"(gap {r['ndcg_gap']:.3f}) | gap <= {TARGETS['ndcg_gap']} | {ok(r['ndcg_gap'] <= TARGETS['ndcg_gap'])} |",
    ]
    if "confident_only" in r:
        c = r["confident_only"]
        lines.append(f"| nDCG@10 typed / voice, confident only (>= {c['threshold']}, n={c['n']}) | "
                     f"{c['typed']['ndcg']:.3f} / {c['voice']['ndcg']:.3f} (gap {c['ndcg_gap']:.3f}) | | |")
    rd = res.get("readings", [])
    if len(rd) > 1:
        wers, gaps = [x["wer"] for x in rd], [x["ndcg_gap"] for x in rd]
        lines += [
            f"| corpus WER, mean of {len(rd)} readings (min-max) | {statistics.fmean(wers):.3f} "
            f"({min(wers):.3f}-{max(wers):.3f}) | <= {TARGETS['wer']} | {ok(statistics.fmean(wers) <= TARGETS['wer'])} |",
            f"| nDCG@10 gap typed - voice, mean of {len(rd)} readings (min-max) | {statistics.fmean(gaps):.3f} "
            f"({min(gaps):.3f}-{max(gaps):.3f}) | <= {TARGETS['ndcg_gap']} | "
            f"{ok(statistics.fmean(gaps) <= TARGETS['ndcg_gap'])} |"]
    lines += [
        f"| voice turn p50 / p95 (~{lat['clip_seconds_mean']:.1f} s clip: transcribe + search) | "
        f"{lat['p50_s']:.2f} s / {lat['p95_s']:.2f} s | p50 < {TARGETS['turn_p50_s']} s | "
        f"{ok(lat['p50_s'] < TARGETS['turn_p50_s'])} |",
        f"| model load (assembly check + load) | {res['load_seconds']:.1f} s | | |", "",
        "Each reading of the queries differs a little (sox dithers when it resamples espeak-ng's 22 kHz "
        "output), and Whisper's errors move with it: the first rows are the first reading, the "
        "readings rows all of them.", "",
        f"Catalog correction changed {d['corrected_share']:.0%} of the transcripts "
        "(where a request names no article type or no colour, up to 6 runs of words that sound like one, "
        "by espeak-ng phonemes, are scored by Whisper on the same audio; one is kept when Whisper scores the "
        f"sentence with the term at most {res['config']['correction_bonus']:g} nats lower, or not lower at all "
        "when the words name no catalog word and no price; a catalog word merged with its neighbour into another term "
        "must score higher; where no article type is named, the types Whisper expects at the likeliest three "
        "places are forced in and Whisper finishes the sentence, kept when it scores higher; where one is named, "
        "the types the audio itself favours there (Whisper with the audio minus Whisper on silence) are tried in "
        "its place, kept when that evidence beats the heard sentence's by 4 nats).", "",
        f"Latency: {lat['what']}; transcribe p50 {lat['transcribe_p50_s']:.2f} s, search p50 "
        f"{lat['search_p50_s'] * 1000:.0f} ms.", "",
        "## Recogniser choices (same clips)", "",
        "| variant | WER | exact transcripts | RTF wall | CPU s per audio s |", "|---|---|---|---|---|",
    ]
    for name, v in res["variants"].items():
        lines.append(f"| {name} | {v['wer']:.3f} | {v['exact_share']:.0%} | {v['rtf_wall']:.3f} | "
                     f"{v['rtf_cpu']:.3f} |")
    th = res.get("threads")
    if th:
        lines += ["", "## CPU threads of one transcription (same clips, alternating clip by clip)", "",
                  "| threads | RTF wall (all clips) | median RTF per clip |", "|---|---|---|"]
        lines += [f"| {n} | {th['rtf_total'][str(n)]:.3f} | {th['rtf_median'][str(n)]:.3f} |" for n in th["threads"]]
        lines += ["", f"Median time of a clip with 1 thread / with 2: {th['ratio_1_to_2']:.2f} "
                      f"({th['clips']} clips x {th['rounds']} rounds). Default: `SHOP_SPEECH_THREADS`=1."]
        cc = th.get("concurrency")
        if cc:
            lines += ["", f"{cc['shoppers']} shoppers at once, {cc['clips_each']} clips each, "
                          f"{cc['threads_per_transcription']} thread per transcription:", "",
                      "| CTranslate2 workers | wall | transcription p50 |", "|---|---|---|"]
            lines += [f"| {w} | {v['wall_s']:.1f} s | {v['latency_p50_s']:.2f} s |" for w, v in cc["by_workers"].items()]
            lines += ["", "Default `SHOP_SPEECH_WORKERS`=0: the cores divided by the threads (here 2), "
                          "one model in memory."]
    lines += ["", "## Confidence", "",
              f"ROC AUC of `confidence` for exact vs wrong transcripts: {conf['auc_exact_vs_wrong']} (median "
              f"{conf['median_exact']} exact, {conf['median_wrong']} wrong). The gateway asks \"Did I get that "
              f"right?\" below SHOP_SPEECH_MIN_CONFIDENCE (default {res['config']['min_confidence']}).", "",
              "| threshold | asked to confirm | wrong among asked | mean WER of the searched |", "|---|---|---|---|"]
    for th, t in conf["thresholds"].items():
        lines.append(f"| {th} | {t['asked_share']:.0%} | "
                     f"{'-' if t['wrong_among_asked'] is None else format(t['wrong_among_asked'], '.0%')} | "
                     f"{'-' if t['wer_of_searched'] is None else format(t['wer_of_searched'], '.3f')} |")
    worst = sorted(d["rows"], key=lambda x: -x["wer"])[:12]
    lines += ["", "## Worst transcripts", "", "| typed | heard (Whisper's own, if corrected) | WER | confidence |",
              "|---|---|---|---|"]
    lines += [f"| {w['reference']} | {w['heard']}{' (' + w['whisper'] + ')' if w['whisper'] != w['heard'] else ''} "
              f"| {w['wer']:.2f} | {w['confidence']:.2f} |" for w in worst]
    fixed = [r for r in d["rows"] if r["corrections"]]
    if fixed:
        lines += ["", "## Catalog corrections", "", "| typed | Whisper heard | after correction |", "|---|---|---|"]
        lines += [f"| {r['reference']} | {r['whisper']} | {r['heard']} |" for r in fixed]
    lines += ["", "Reproduce: `.venv/bin/python bench/bench_voice.py`.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--queries", type=Path, default=SHARED / "eval" / "dev-queries.jsonl")
    ap.add_argument("--quick", action="store_true", help="default recogniser only (no variants)")
    ap.add_argument("--readings", type=int, default=3,
                    help="read the dev queries aloud this many times in all (sox dithers each reading differently, "
                         "and Whisper's errors move with it): WER and voice nDCG as mean and range; 1: one reading")
    ap.add_argument("--keep", type=Path, help="materialize into this folder and keep it (default: a temp folder)")
    args = ap.parse_args(argv)
    if not have_speech_tools():
        return 2

    from nlu.speech import SpeechSettings, SpeechToText
    from retrieval.cli import ensure_index
    from retrieval.settings import Settings

    info = machine_info(import_modules=False)
    rsettings = Settings()
    ensure_index(rsettings, progress=False)
    vocab = rsettings.resolved_index_dir() / "vocabulary.json"
    ssettings = SpeechSettings()
    tmp = tempfile.TemporaryDirectory(prefix="bench-voice-") if args.keep is None else None
    work = Path(tmp.name) if tmp is not None else args.keep
    work.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.perf_counter()
        queries = materialize(args.queries, work / "dev")
        print(f"spoke {sum(q['kind'] == 'voice' for q in queries)} queries in {time.perf_counter() - t0:.0f} s")
        typed = {q["id"]: q["text"] for q in queries if q["kind"] == "text"}
        clips = voice_clips(queries, typed)

        stt = SpeechToText.from_settings(ssettings, vocabulary_file=vocab)
        t0 = time.perf_counter()
        stt.load()
        load_seconds = time.perf_counter() - t0
        default = transcribe_all(stt, clips)
        threads = None
        print(f"default: WER {default['wer']:.3f}, RTF {default['rtf_wall']:.3f} (CPU {default['rtf_cpu']:.3f})")
        rates = ", ".join(f"{r:g}" for r in stt.rates)
        variants = {f"default (catalog prompt + catalog correction, beam 5, readings at {rates})":
                    {k: v for k, v in default.items() if k != "rows"}}
        if not args.quick:
            prompt, terms = stt.initial_prompt, stt.terms
            for name, kw in (("plain Whisper (no prompt, no correction, greedy, one reading)",
                              dict(initial_prompt=None, terms=None, beam_size=1, rates=(1.0,))),
                             ("default, one reading as recorded (SHOP_SPEECH_RATES=1)", dict(rates=(1.0,))),
                             ("default, one reading at 0.85", dict(rates=(0.85,))),
                             ("default, one reading at 0.9", dict(rates=(0.9,))),
                             ("catalog prompt, no correction", dict(initial_prompt=prompt, terms=None)),
                             ("catalog correction, no prompt", dict(initial_prompt=None, terms=terms)),
                             ("default, greedy (beam 1)", dict(initial_prompt=prompt, terms=terms, beam_size=1)),
                             ("default + Silero VAD", dict(initial_prompt=prompt, terms=terms, vad_filter=True)),
                             ("default, Whisper's 30 s window", dict(initial_prompt=prompt, terms=terms,
                                                                     window_seconds=30.0)),
                             ("default without slot filling", dict(initial_prompt=prompt, terms=terms,
                                                                   slot_fill=False)),
                             ("default without type recheck", dict(initial_prompt=prompt, terms=terms,
                                                                   type_recheck=False))):
                other = like(stt, **kw)
                other._model = stt._model  # the same loaded model, other decoding options
                v = transcribe_all(other, clips)
                variants[name] = {k: val for k, val in v.items() if k != "rows"}
                print(f"{name}: WER {v['wer']:.3f}, RTF {v['rtf_wall']:.3f}")
            threads = thread_comparison(stt, clips)
            print(f"threads: RTF median {threads['rtf_median']}, time ratio 1/2 {threads['ratio_1_to_2']}")
            threads["concurrency"] = concurrency(stt, clips)
            print(f"two shoppers at once: {threads['concurrency']['by_workers']}")
        conf = confidence_table(default["rows"])
        ret = retrieval(queries, work, ssettings.speech_min_confidence)
        print(f"nDCG@10 typed {ret['typed']['ndcg']:.3f}, voice {ret['voice']['ndcg']:.3f}")
        readings = [{"wer": default["wer"], "ndcg_voice": ret["voice"]["ndcg"], "ndcg_gap": ret["ndcg_gap"]}]
        for r in range(1, max(1, args.readings)):
            again = materialize(args.queries, work / f"reading{r}")
            v = transcribe_all(stt, voice_clips(again, typed))
            ret_r = retrieval(again, work / f"reading{r}", ssettings.speech_min_confidence)
            readings.append({"wer": v["wer"], "ndcg_voice": ret_r["voice"]["ndcg"], "ndcg_gap": ret_r["ndcg_gap"]})
            print(f"reading {r + 1}: WER {v['wer']:.3f}, voice nDCG {ret_r['voice']['ndcg']:.3f}")
        lat = latency(stt, work)
        print(f"voice turn p50 {lat['p50_s']:.2f} s, p95 {lat['p95_s']:.2f} s")
    finally:
        if tmp is not None:
            tmp.cleanup()

    res = {
        "summary": {"wer": default["wer"], "rtf_wall": default["rtf_wall"],
                    "rtf_cpu": default["rtf_cpu"], "rtf_3s_clips": lat["rtf_3s_clips"],
                    "ndcg_typed": ret["typed"]["ndcg"], "ndcg_voice": ret["voice"]["ndcg"],
                    "ndcg_gap": ret["ndcg_gap"], "turn_p50_s": lat["p50_s"], "turn_p95_s": lat["p95_s"],
                    "readings": len(readings),
                    "wer_mean": round(statistics.fmean(r["wer"] for r in readings), 4),
                    "ndcg_gap_mean": round(statistics.fmean(r["ndcg_gap"] for r in readings), 4),
                    "targets": TARGETS,
                    "met": {"wer": default["wer"] <= TARGETS["wer"], "rtf": default["rtf_wall"] <= TARGETS["rtf"],
                            "ndcg_gap": ret["ndcg_gap"] <= TARGETS["ndcg_gap"],
                            "turn_p50": lat["p50_s"] < TARGETS["turn_p50_s"]}},
        "config": {"recogniser": f"{stt.model_name}, {stt.compute_type}, {stt.cpu_threads} thread{'s' * (stt.cpu_threads > 1)} "
                                 f"x {stt.workers} workers, beam "
                                 f"{stt.beam_size}, languages {list(stt.languages)}, prompt "
                                 f"{'catalog' if stt.initial_prompt else 'none'}, catalog correction "
                                 f"{'on' if stt.terms else 'off'}, readings at {list(stt.rates)}",
                   "prompt": stt.initial_prompt, "min_confidence": ssettings.speech_min_confidence,
                   "catalog_terms": len(stt.terms) if stt.terms else 0, "correction_bonus": stt.correction_bonus,
                   "queries": str(args.queries)},
        "load_seconds": round(load_seconds, 2),
        "readings": readings,
        "default": default, "variants": variants, "threads": threads, "confidence": conf, "retrieval": ret, "latency": lat,
        "machine": {**info, "loadavg_end": list(os.getloadavg())}, "code": code_version(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "voice.json").write_text(json.dumps(res, indent=1) + "\n")
    (RESULTS / "voice.md").write_text(markdown(res))
    print(f"wrote {RESULTS / 'voice.json'} and voice.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
