"""One command for the whole assistant: build what is missing, start the three servers, wait
until each is healthy, print the chat page's URL, and stop them all cleanly on Ctrl-C/SIGTERM.

    action server  python -m bot actions   (.venv)       http://127.0.0.1:5055
    Rasa           rasa run                (.venv-rasa)  http://127.0.0.1:5005
    gateway        python -m bot.gateway   (.venv)       http://127.0.0.1:8000  <- the chat page
"""
from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from bot import rasa_model
from bot.settings import BotSettings
from retrieval.settings import REPO_ROOT

log = logging.getLogger(__name__)


@dataclass
class Service:
    name: str
    cmd: list[str]
    health_url: str
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        out = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.cmd, cwd=REPO_ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        out.close()

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.health_url, timeout=2) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self, timeout: float = 15.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=timeout)
        except (ProcessLookupError, PermissionError):
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)


@dataclass
class Stack:
    """The three servers of one assistant."""

    settings: BotSettings
    log_dir: Path = REPO_ROOT / "var" / "log"
    endpoints: Path = REPO_ROOT / "endpoints.yml"  # action server URL and tracker store for Rasa
    services: list[Service] = field(default_factory=list)

    def __post_init__(self) -> None:
        s = self.settings
        env = dict(os.environ)
        env.update(settings_env(s))
        env.setdefault("SHOP_TORCH_THREADS", str(s.torch_threads))
        env.setdefault("HF_HUB_OFFLINE", "1")
        env.setdefault("TRANSFORMERS_OFFLINE", "1")
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
        model = rasa_model.model_path(s.rasa_model_dir)
        self.services = [
            Service("actions", [sys.executable, "-m", "bot", "actions"],
                    f"http://{s.action_host}:{s.action_port}/health", env, self.log_dir / "actions.log"),
            Service("rasa", rasa_model.rasa_command(
                "run", "--model", str(model), "--endpoints", str(self.endpoints), "--credentials", "credentials.yml",
                "--interface", "127.0.0.1", "--port", str(s.rasa_port)),
                f"{s.rasa_url.rstrip('/')}/", {**rasa_model.rasa_env(), **settings_env(s)}, self.log_dir / "rasa.log"),
            Service("gateway", [sys.executable, "-m", "bot.gateway"],
                    f"http://{s.gateway_host}:{s.gateway_port}/health/live", env, self.log_dir / "gateway.log"),
        ]

    @classmethod
    def isolated(cls, folder: Path, log_dir: Path | None = None) -> "Stack":
        """A stack on free loopback ports with its own uploads folder, tracker database and
        endpoints file under ``folder`` (tests and benchmarks, beside a running assistant)."""
        folder = Path(folder)
        ports = {k: free_port() for k in ("rasa", "action", "gateway")}
        settings = BotSettings(uploads_dir=folder / "uploads", rasa_port=ports["rasa"],
                               rasa_url=f"http://127.0.0.1:{ports['rasa']}", action_port=ports["action"],
                               action_server_url=f"http://127.0.0.1:{ports['action']}",
                               gateway_port=ports["gateway"])
        endpoints = write_endpoints(folder / "endpoints.yml", settings.action_server_url, folder / "tracker.db")
        return cls(settings, log_dir=log_dir or folder / "logs", endpoints=endpoints)

    @property
    def url(self) -> str:
        return f"http://{self.settings.gateway_host}:{self.settings.gateway_port}/"

    def start(self, timeout: float = 300.0) -> None:
        """Start all and wait until every one answers its health check (or fail, saying which)."""
        for svc in self.services:
            if svc.healthy():
                raise RuntimeError(f"something already answers on {svc.health_url}; stop it first")
            svc.start()
        deadline = time.monotonic() + timeout
        waiting = list(self.services)
        while waiting:
            for svc in list(waiting):
                if svc.proc is not None and svc.proc.poll() is not None:
                    self.stop()
                    raise RuntimeError(f"{svc.name} exited with {svc.proc.returncode}; "
                                       f"last lines of {svc.log_path}:\n{svc.tail()}")
                if svc.healthy():
                    log.info("%s is up (%s)", svc.name, svc.health_url)
                    waiting.remove(svc)
            if waiting and time.monotonic() > deadline:
                names = ", ".join(s.name for s in waiting)
                tails = "\n".join(f"--- {s.name}:\n{s.tail()}" for s in waiting)
                self.stop()
                raise RuntimeError(f"not healthy after {timeout:.0f} s: {names}\n{tails}")
            time.sleep(0.5)

    def stop(self) -> None:
        for svc in reversed(self.services):
            svc.stop()

    def __enter__(self) -> "Stack":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def settings_env(s: BotSettings) -> dict[str, str]:
    """The settings as SHOP_* variables, so every child process sees the same ones."""
    out = {}
    for name in ("catalog_dir", "index_dir", "uploads_dir", "rasa_url", "rasa_port", "action_host", "action_port",
                 "action_server_url", "gateway_host", "gateway_port", "fusion", "torch_threads", "synonyms_file"):
        value = getattr(s, name, None)
        if value is not None:
            out[f"SHOP_{name.upper()}"] = str(value)
    return out


def write_endpoints(path: Path, action_url: str, tracker_db: Path) -> Path:
    """An endpoints file for Rasa pointing at this action server and SQLite file (tests, ports)."""
    path.write_text(f'action_endpoint:\n  url: "{action_url.rstrip("/")}/webhook"\n'
                    f'tracker_store:\n  type: SQL\n  dialect: "sqlite"\n  db: "{tracker_db}"\n')
    return path


def prepare(settings: BotSettings) -> None:
    """Index, trained photo models, Rasa training data and model: each only when missing or stale."""
    from bot.nlu_data import write
    from retrieval.cli import ensure_index, ensure_models

    ensure_index(settings)
    ensure_models(settings)
    write(settings)
    rasa_model.train(settings.rasa_model_dir)


def run(settings: BotSettings, build: bool = True) -> int:
    if build:
        prepare(settings)
    stack = Stack(settings)
    stopping = False

    def on_signal(signum, _frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        stack.start()
    except RuntimeError as e:
        log.error("%s", e)
        return 1
    sys.stdout.write(f"\nThe shopping assistant is ready: open {stack.url}\n"
                     f"(logs in {stack.log_dir}; Ctrl-C stops everything)\n\n")
    sys.stdout.flush()
    try:
        while not stopping:
            for svc in stack.services:
                if svc.proc is not None and svc.proc.poll() is not None:
                    log.error("%s stopped (exit %s); last lines:\n%s", svc.name, svc.proc.returncode, svc.tail())
                    stopping = True
            time.sleep(1)
    finally:
        log.info("stopping Rasa, the action server and the gateway")
        stack.stop()
    return 0
