"""Trained modules on disk: ``<stem>.json`` (format, version, config, metrics, ...) beside
``<stem>.safetensors`` (the weights), with clear errors for missing, foreign or mismatched files."""
from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import torch.nn as nn


def save(folder: Path, stem: str, module: nn.Module, meta: dict) -> None:
    """Write the module's weights and its meta JSON into folder."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous() for k, v in module.state_dict().items()}, str(folder / f"{stem}.safetensors"))
    (folder / f"{stem}.json").write_text(json.dumps(meta, indent=1))


def read_meta(folder: Path, stem: str, what: str, fmt, version, config_cls=None) -> dict:
    """The meta JSON; FileNotFoundError when a file is missing, ValueError for another format or
    version, or config keys ``config_cls`` does not know."""
    folder = Path(folder)
    for name in (f"{stem}.json", f"{stem}.safetensors"):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{what}: {folder / name} is missing (run `python -m retrieval train`)")
    meta = json.loads((folder / f"{stem}.json").read_text())
    if meta.get("format") != fmt or meta.get("version") != version:
        raise ValueError(f"{what}: {folder / stem}.json is format {meta.get('format')!r} v{meta.get('version')}, "
                         f"expected {fmt!r} v{version}: retrain")
    if config_cls is not None:
        unknown = set(meta.get("config", {})) - {f.name for f in fields(config_cls)}
        if unknown:
            raise ValueError(f"{what}: unknown config keys {sorted(unknown)} in {folder / stem}.json")
    return meta


def load_weights(folder: Path, stem: str, what: str, module: nn.Module, hint: str = "") -> None:
    """Load the weights into module; ValueError naming the first differences when shapes disagree."""
    from safetensors.torch import load_file

    path = Path(folder) / f"{stem}.safetensors"
    state = load_file(str(path))
    expected = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    found = {k: tuple(v.shape) for k, v in state.items()}
    if expected != found:
        diff = sorted(set(expected.items()) ^ set(found.items()))[:4]
        raise ValueError(f"{what}: weights in {path} do not match {hint or 'its config'}; e.g. {diff}")
    module.load_state_dict(state)
