"""Liveness and readiness: the gateway itself, Rasa, the action server and the index."""
from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter

from bot.gateway.deps import State
from bot.gateway.services import StatusProbe

router = APIRouter(tags=["health"])


async def _status(probe: StatusProbe | None) -> dict[str, Any]:
    """A probe's answer; never raises."""
    if probe is None:
        return {"status": "down", "error": "not started"}
    try:
        return await probe.status()
    except Exception as exc:  # a probe must never turn /health into a 500
        return {"status": "down", "error": f"{type(exc).__name__}: {exc}"}


@router.get("/health")
async def health(state: State) -> dict[str, Any]:
    """200 always: ``status`` is "ok" when Rasa, the action server and the index are all there,
    else "degraded"."""
    rasa, action_server = await asyncio.gather(_status(state.rasa), _status(state.action_server))
    index: dict[str, Any] = {"products": len(state.products),
                             "path": str(state.products.index_dir or state.settings.index_dir)}
    if state.products.error:
        index["error"] = state.products.error
    ok = rasa.get("status") == "up" and action_server.get("status") == "up" and index["products"] > 0
    return {"status": "ok" if ok else "degraded", "rasa": rasa, "action_server": action_server, "index": index}


@router.get("/health/live")
async def live() -> dict[str, str]:
    """The gateway process answers."""
    return {"status": "ok"}
