"""Training the Rasa model (in ``.venv-rasa``), skipped when none of its inputs changed."""
from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

from retrieval.settings import REPO_ROOT

log = logging.getLogger(__name__)

RASA_PYTHON = REPO_ROOT / ".venv-rasa" / "bin" / "python"
MODEL_NAME = "shop"
# what the trained model depends on: training data, config, domain, and the code of the entity
# extractor (which runs our parser inside Rasa)
INPUTS = ("config.yml", "domain.yml", "data/**/*.yml", "var/rasa/vocabulary.json", "bot/rasa_components.py",
          "nlu/constraints.py", "nlu/vocabulary.py", "nlu/lexicon.py", "nlu/references.py",
          "nlu/entities.py")


def rasa_env() -> dict[str, str]:
    """Environment for any Rasa process: our code importable, telemetry off."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    env["RASA_TELEMETRY_ENABLED"] = "false"
    env.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
    return env


def rasa_command(*args: str) -> list[str]:
    return [str(RASA_PYTHON), "-m", "rasa", *args]


def inputs_digest(root: Path = REPO_ROOT) -> str:
    h = hashlib.sha256()
    files = sorted({p for pattern in INPUTS for p in root.glob(pattern) if p.is_file()})
    for p in files:
        h.update(str(p.relative_to(root)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def model_path(model_dir: Path) -> Path:
    return Path(model_dir) / f"{MODEL_NAME}.tar.gz"


def train(model_dir: Path, *, force: bool = False, stream=None) -> tuple[Path, bool]:
    """Train unless the stamp says the inputs are unchanged; returns (model path, trained?)."""
    model_dir = Path(model_dir)
    model = model_path(model_dir)
    stamp = model_dir / "inputs.json"
    digest = inputs_digest()
    if not force and model.exists() and stamp.exists() and json.loads(stamp.read_text()).get("digest") == digest:
        log.info("Rasa model is up to date (%s)", model)
        return model, False
    if not RASA_PYTHON.exists():
        raise RuntimeError(f"{RASA_PYTHON} is missing: run `make setup` first")
    model_dir.mkdir(parents=True, exist_ok=True)
    cmd = rasa_command("train", "--domain", "domain.yml", "--data", "data", "--config", "config.yml",
                       "--out", str(model_dir), "--fixed-model-name", MODEL_NAME)
    log.info("training the Rasa model: %s", " ".join(cmd))
    subprocess.run(cmd, cwd=REPO_ROOT, env=rasa_env(), check=True, stdout=stream or sys.stderr,
                   stderr=subprocess.STDOUT)
    stamp.write_text(json.dumps({"digest": digest}))
    return model, True
