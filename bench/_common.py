"""What every benchmark records about the machine and the code it measured."""
from __future__ import annotations

import datetime as _dt
import hashlib
import os
import platform
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_NOTE = ("Measured on a shared 2-core machine with other jobs running at the same time: "
               "timings are noisy; medians and ratios are more meaningful than absolute figures.")
VERSIONED = (("torch", "torch"), ("faiss", "faiss-cpu"), ("numpy", "numpy"),
             ("sentence_transformers", "sentence-transformers"), ("PIL", "pillow"))


def machine_info(import_modules: bool = True) -> dict:
    """Date, cores, CPU, memory, load, library versions. With import_modules=False versions come
    from package metadata, so the caller's peak memory is not raised by importing torch."""
    info: dict = {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "nproc_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_start": list(os.getloadavg()),
        "shared_machine": True,
        "note": SHARED_NOTE,
    }
    try:
        with open("/proc/cpuinfo") as f:
            info["cpu"] = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), None)
        with open("/proc/meminfo") as f:
            info["mem_total_mb"] = round(int(f.readline().split()[1]) / 1024)
    except OSError:
        pass
    from importlib import metadata

    for mod, dist in VERSIONED:
        try:
            info[f"{mod}_version"] = __import__(mod).__version__ if import_modules else metadata.version(dist)
        except Exception:  # noqa: BLE001 - a missing library is recorded as None
            info[f"{mod}_version"] = None
    if import_modules:
        import torch

        info["torch_threads"] = torch.get_num_threads()
    return info


def code_version() -> dict:
    """git HEAD, uncommitted core changes, and a hash of the core modules (says which code was measured)."""
    out: dict = {}
    try:
        out["git_head"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                         text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "retrieval", "nlu"], cwd=ROOT,
                               capture_output=True, text=True).stdout.split("\n")
        out["core_changes_not_committed"] = [ln.strip() for ln in dirty if ln.strip()]
    except OSError:
        pass
    h = hashlib.sha256()
    for f in sorted([*ROOT.glob("retrieval/*.py"), *ROOT.glob("nlu/*.py")]):
        h.update(f.name.encode() + f.read_bytes())
    out["core_sha256"] = h.hexdigest()[:16]
    return out
