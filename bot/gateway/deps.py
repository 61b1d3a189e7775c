"""What the routes share: the app's state, reached through a FastAPI dependency."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import JSONResponse

from bot.gateway.catalog import ProductStore
from bot.gateway.services import Assistant, StatusProbe
from bot.gateway.settings import GatewaySettings
from bot.gateway.uploads import UploadStore


@dataclass
class GatewayState:
    """One app's settings, products, photo store and service clients (the clients are set by
    the app's lifespan unless injected)."""

    settings: GatewaySettings
    products: ProductStore
    uploads: UploadStore
    rasa: Assistant | None = None
    action_server: StatusProbe | None = None


def get_state(request: Request) -> GatewayState:
    """The state of the app serving ``request``."""
    return request.app.state.gateway


State = Annotated[GatewayState, Depends(get_state)]


def error(status: int, message: str, **extra: Any) -> JSONResponse:
    """The gateway's error body: ``{"error": message, ...}``."""
    return JSONResponse({"error": message, **extra}, status_code=status)
