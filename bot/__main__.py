"""``python -m bot``: the dialogue's commands.

    data      write Rasa training data and the vocabulary from the catalog (data/generated/)
    train     data + train the Rasa model when its inputs changed
    actions   run the action server (search engine loaded once)
    prepare   what serve builds: index, photo models, Rasa data and model (each only when stale)
    serve     everything: index, photo models, Rasa model, then Rasa + actions + gateway
"""
from __future__ import annotations

import argparse
import logging
import sys


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bot", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("data", help="generate Rasa training data from the catalog vocabulary")
    t = sub.add_parser("train", help="generate data and train the Rasa model if anything changed")
    t.add_argument("--force", action="store_true")
    sub.add_parser("actions", help="run the action server")
    sub.add_parser("prepare", help="build the index, train photo models and the Rasa model, each only if needed")
    s = sub.add_parser("serve", help="build what is missing and start Rasa, the action server and the gateway")
    s.add_argument("--no-build", action="store_true", help="do not build the index or train (fail if missing)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from bot.settings import BotSettings

    settings = BotSettings()
    if args.cmd == "data":
        from bot.nlu_data import write

        info = write(settings)
        sys.stdout.write(f"wrote {info['data']} ({info['examples']} lines of examples) and {info['vocabulary']}\n")
        return 0
    if args.cmd == "train":
        from bot import rasa_model
        from bot.nlu_data import write

        write(settings)
        path, trained = rasa_model.train(settings.rasa_model_dir, force=args.force)
        sys.stdout.write(f"{'trained' if trained else 'up to date'}: {path}\n")
        return 0
    if args.cmd == "actions":
        from bot.action_server import serve

        serve(settings)
        return 0
    if args.cmd == "prepare":
        from bot.serve import prepare

        prepare(settings)
        return 0
    if args.cmd == "serve":
        from bot.serve import run

        return run(settings, build=not args.no_build)
    return 2


if __name__ == "__main__":
    sys.exit(main())
