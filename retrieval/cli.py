"""Command line: ``python -m retrieval build | search | query | info``."""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import zipfile
from pathlib import Path

from retrieval.settings import Settings

log = logging.getLogger("retrieval")


def _settings(args: argparse.Namespace) -> Settings:
    over = {}
    if getattr(args, "catalog", None):
        over["catalog_dir"] = Path(args.catalog)
    if getattr(args, "index", None):
        over["index_dir"] = Path(args.index)
    if getattr(args, "factory", None):
        over["faiss_factory"] = args.factory
    if getattr(args, "params", None):
        over["faiss_params"] = args.params
    if getattr(args, "fusion", None):
        over["fusion"] = args.fusion
    return Settings(**over)


def ensure_index(settings: Settings, progress: bool = True) -> None:
    """Build the index when it is missing or out of date (incremental when possible)."""
    from retrieval.product_index import IndexMismatchError, build_index, read_manifest

    try:
        read_manifest(settings.resolved_index_dir(), settings)  # the manifest says it all; no vectors loaded
        return
    except IndexMismatchError as e:
        log.info("%s — updating", e)
    build_index(settings, progress=progress)


def ensure_models(settings: Settings, progress: bool = True) -> None:
    """Train the multimodal parts when they are missing or were trained on another catalog state."""
    from retrieval.product_index import read_manifest
    from retrieval.train import MODELS_VERSION, train_all

    folder = settings.resolved_index_dir()
    metrics = folder / "models" / "metrics.json"
    checksum = read_manifest(folder)["catalog"]["checksum"]
    if metrics.exists():
        done = json.loads(metrics.read_text())
        if done.get("index_checksum") == checksum and done.get("models_version") == MODELS_VERSION:
            return
    log.info("training the joint space, photo attributes and fusion for this catalog (once)")
    train_all(settings, progress=progress)


def read_query_image(ref: str, settings: Settings) -> bytes | str:
    """A query photo: a file path, or 'archive.zip!member' relative to the catalogs folder."""
    if "!" in ref:
        archive, member = ref.split("!", 1)
        base = Path(settings.catalog_dir).resolve().parent
        path = Path(archive) if Path(archive).is_absolute() else base / archive
        with zipfile.ZipFile(path) as z:
            return z.read(member)
    return ref


def read_query_audio(ref: str, settings: Settings) -> bytes:
    """A query recording's bytes: a file path, or 'archive.zip!member' as for photos."""
    data = read_query_image(ref, settings)
    return data if isinstance(data, bytes) else Path(data).read_bytes()


def _transcriber(settings: Settings):
    """The speech recogniser for voice queries (SHOP_SPEECH_* settings, the catalog's prompt), loaded."""
    from nlu.speech import SpeechSettings, SpeechToText

    vocabulary = settings.resolved_index_dir() / "vocabulary.json"
    return SpeechToText.from_settings(SpeechSettings(), vocabulary_file=vocabulary).load()


# ------------------------------------------------------------------------------ commands
def cmd_build(args: argparse.Namespace) -> int:
    from retrieval.product_index import build_index

    settings = _settings(args)
    report = build_index(settings, rebuild=args.rebuild, progress=not args.quiet)
    print(report.summary())
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    """Batch run in the shared eval format: one result line per query (voice queries, with
    "audio", are transcribed and searched as text; the line records the transcript)."""
    from nlu.speech import NO_WORDS_TEXT, AudioError
    from retrieval.search import SearchEngine, SearchError

    settings = _settings(args)
    ensure_index(settings, progress=not args.quiet)
    queries = [json.loads(line) for line in open(args.queries) if line.strip()]
    need_image = any(q.get("image") for q in queries)
    if need_image:
        ensure_models(settings, progress=not args.quiet)
    engine = SearchEngine.from_settings(settings, load_image_encoder=need_image)
    transcriber = None
    if any(q.get("audio") for q in queries):
        from nlu.speech import SpeechModelError

        try:
            transcriber = _transcriber(settings)
        except SpeechModelError as e:
            print(f"error: voice queries need the speech model: {e}", file=sys.stderr)
            return 2
    t0 = time.perf_counter()
    n_err = 0
    with open(args.out, "w") as out:
        for q in queries:
            rec: dict = {"id": q["id"], "results": []}
            try:
                text = q.get("text")
                if q.get("audio"):  # spoken words (then any typed ones) are searched as text
                    heard = transcriber.transcribe(read_query_audio(q["audio"], settings), str(q["audio"]))
                    rec["transcript"] = heard.public()
                    spoken = " ".join(heard.text.split())
                    if not spoken:
                        raise SearchError(NO_WORDS_TEXT)
                    text = f"{spoken} {text}" if text else spoken
                image = read_query_image(q["image"], settings) if q.get("image") else None
                res = engine.search(text=text, image=image, k=args.k)
                rec["results"] = [h.to_dict() for h in res.hits]
                if res.message:
                    rec["message"] = res.message
            except (SearchError, AudioError, OSError, KeyError, zipfile.BadZipFile) as e:
                rec["error"] = str(e)
                n_err += 1
            out.write(json.dumps(rec) + "\n")
    dt = time.perf_counter() - t0
    print(f"{len(queries)} queries -> {args.out} in {dt:.1f} s ({n_err} errors)", file=sys.stderr)
    return 0


def _print_result(res, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"parsed": res.parsed.to_dict(), "message": res.message,
                          "results": [h.to_dict() for h in res.hits]}, indent=1))
        return
    cons = ", ".join(f"{'not ' if c.negated else ''}{c.field}={'|'.join(c.values)}" for c in res.parsed.constraints)
    price = ""
    if res.parsed.min_price is not None or res.parsed.max_price is not None:
        price = f" price {res.parsed.min_price or 0:g}..{res.parsed.max_price or float('inf'):g}"
    print(f"understood: {cons or '-'}{price}{' prefer ' + res.parsed.price_pref if res.parsed.price_pref else ''}"
          f"  ({res.n_candidates} candidates, {res.timings['total'] * 1000:.0f} ms)")
    if res.message:
        print(f"note: {res.message}")
    for i, h in enumerate(res.hits, 1):
        p = h.product
        price_s = f"${p.price:.2f}" if p.price is not None else "no price"
        print(f"{i:>2}. [{p.id}] {p.title} — {price_s}\n      why: {h.reason}")


def cmd_query(args: argparse.Namespace) -> int:
    from retrieval.search import SearchEngine, SearchError

    settings = _settings(args)
    ensure_index(settings)
    ensure_models(settings)
    engine = SearchEngine.from_settings(settings, load_image_encoder=True)
    text = " ".join(args.text).strip()
    if text or args.image:
        try:
            _print_result(engine.search(text=text, image=args.image, k=args.k), args.json)
        except SearchError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        return 0
    print("Type a request (e.g. 'red casual shoes for women under 80'); 'photo PATH [words]' for a photo; "
          "empty line or Ctrl-D to quit.")
    while True:
        try:
            line = input("> ").strip()
        except EOFError:
            break
        if not line:
            break
        image = None
        if line.startswith("photo "):
            _, image, *rest = line.split(" ", 2) + [""]
            line = rest[0] if rest else ""
        try:
            _print_result(engine.search(text=line, image=image, k=args.k), args.json)
        except SearchError as e:
            print(f"error: {e}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from retrieval.train import MODELS_VERSION, train_all

    settings = _settings(args)
    ensure_index(settings, progress=not args.quiet)
    m = train_all(settings, progress=not args.quiet, quick=args.quick, tail=False if args.no_tail else None)
    j, a, c, f = m["joint"], m["attributes"], m["colour"], m["fusion"]
    print(f"joint space: held-out recall@10 text->image {j['best_recall_t2i']:.3f}, "
          f"image->text {j['best_recall_i2t']:.3f}")
    print("photo attributes (held-out accuracy): " + ", ".join(
        f"{fld} {v['accuracy']:.3f}" for fld, v in a["fields"].items()))
    print(f"colour from {c['chosen']} (pixels {c['pixel_accuracy_lowres']:.3f}, head {c['head_accuracy_lowres']:.3f})")
    if "photo_tail" in m:
        print("photo tail (held-out low-res copies): " + ", ".join(
            f"{fld} {v:.3f}" for fld, v in m["photo_tail"].get("accuracy", {}).items()))
    print(f"attention fusion: held-out recall@10 {f['best_val_recall@10']:.3f} "
          f"(feature-level sum {f.get('feature_sum_val_recall@10', float('nan')):.3f})")
    print(f"trained in {m['seconds']['total']:.0f} s; models in {settings.resolved_index_dir() / 'models'}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    settings = _settings(args)
    path = settings.resolved_index_dir()
    mf = path / "manifest.json"
    if not mf.exists():
        print(f"no index at {path}; run `python -m retrieval build`")
        return 1
    print(mf.read_text())
    issues = path / "issues.jsonl"
    if issues.exists():
        lines = issues.read_text().splitlines()
        print(f"{len(lines)} catalog issues")
        for line in lines[:20]:
            print("  ", json.loads(line))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m retrieval", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--catalog", help="catalog folder (default: setting SHOP_CATALOG_DIR)")
        p.add_argument("--index", help="index folder (default: var/index/<catalog name>)")
        p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")

    b = sub.add_parser("build", help="build or update the vectors and faiss indexes of a catalog")
    common(b)
    b.add_argument("--factory", help="faiss factory string (default Flat; e.g. HNSW32, IVF1024,Flat)")
    b.add_argument("--params", help="faiss search parameters, e.g. efSearch=64")
    b.add_argument("--rebuild", action="store_true", help="start over instead of updating")
    b.set_defaults(func=cmd_build)

    s = sub.add_parser("search", help="batch run: queries JSONL -> run JSONL")
    common(s)
    s.add_argument("--queries", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--k", type=int, default=10)
    s.add_argument("--fusion", choices=["feature", "model", "decision", "attention"],
                   help="how photo, words and context are fused (default: setting SHOP_FUSION, decision)")
    s.set_defaults(func=cmd_search)

    q = sub.add_parser("query", help="search once, or interactively without words")
    common(q)
    q.add_argument("text", nargs="*")
    q.add_argument("--image", help="path of a photo")
    q.add_argument("--k", type=int, default=10)
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_query)

    t = sub.add_parser("train", help="train the joint space, photo attributes and attention fusion")
    common(t)
    t.add_argument("--quick", action="store_true", help="a few epochs only (smoke test)")
    t.add_argument("--no-tail", action="store_true",
                   help="skip the fine-tuned photo tail (about half the training time; photos are then read "
                        "by the linear heads: photo + words 0.86 instead of 0.96 nDCG@10 on the dev queries)")
    t.set_defaults(func=cmd_train)

    i = sub.add_parser("info", help="show the index manifest and catalog issues")
    common(i)
    i.set_defaults(func=cmd_info)

    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if getattr(args, "quiet", False) else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("sentence_transformers", "httpx", "transformers", "faiss"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return args.func(args)
    except Exception as e:  # a clear message instead of a traceback for known failures
        from retrieval.catalog import CatalogError
        from retrieval.product_index import IndexMismatchError

        if isinstance(e, (CatalogError, IndexMismatchError, ValueError)):
            print(f"error: {e}", file=sys.stderr)
            return 2
        raise
