"""The gateway's FastAPI app: chat, products, health and the chat page, in front of Rasa."""
from __future__ import annotations

import logging
import time
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, AsyncIterator, Mapping

import httpx
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.gateway.catalog import ProductStore
from bot.gateway.chat import router as chat_router
from bot.gateway.deps import GatewayState
from bot.gateway.health import router as health_router
from bot.gateway.products import router as products_router
from bot.gateway.services import ActionServerClient, Assistant, RasaClient, StatusProbe
from bot.gateway.settings import GatewaySettings
from bot.gateway.uploads import UploadStore
from retrieval.catalog import Product

if TYPE_CHECKING:
    from bot.channels.voice import Transcriber

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).resolve().parent / "static"


class RequestLog:
    """Logs method, path, status and duration of each HTTP request (never bodies)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            log.info("%s %s %d %.0f ms", scope["method"], scope["path"], status,
                     (time.perf_counter() - start) * 1000)


def create_app(settings: GatewaySettings, *, rasa: Assistant | None = None,
               products: Mapping[str, Product] | None = None,
               action_server: StatusProbe | None = None, transcriber: Transcriber | None = None) -> FastAPI:
    """Build the gateway app. ``rasa``, ``products`` and ``action_server`` replace the real
    Rasa client, the index folder's products and the action-server probe (tests).

    ``transcriber`` (e.g. :class:`nlu.speech.SpeechToText`) turns voice messages into words, for
    ``POST /api/chat``'s ``audio`` part and for Telegram; without one they are refused politely.

    With ``SHOP_TELEGRAM_BOT_TOKEN`` set, the Telegram webhook is mounted too (its voice messages
    go to ``transcriber``); TelegramConfigError when its secret is missing or unusable."""
    state = GatewayState(
        settings=settings,
        products=ProductStore(products) if products is not None else ProductStore(index_dir=settings.index_dir),
        uploads=UploadStore(settings.uploads_dir),
        rasa=rasa,
        action_server=action_server,
    )
    telegram = None
    if settings.telegram_bot_token is not None:
        from bot.channels.telegram import TelegramChannel  # only with a bot token

        telegram = TelegramChannel(settings, state, transcriber=transcriber)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        timeout = httpx.Timeout(settings.rasa_timeout_s, connect=min(5.0, settings.rasa_timeout_s))
        async with httpx.AsyncClient(timeout=timeout, trust_env=False) as http, AsyncExitStack() as channels:
            if telegram is not None:
                await channels.enter_async_context(telegram.running())
            if rasa is None:
                state.rasa = RasaClient(http, settings.rasa_url, secret=settings.secret,
                                        timeout_s=settings.rasa_timeout_s,
                                        status_timeout_s=settings.health_timeout_s)
            if action_server is None:
                state.action_server = ActionServerClient(http, settings.action_server_url,
                                                         status_timeout_s=settings.health_timeout_s)
            if settings.secret is None:
                log.warning("SHOP_GATEWAY_SECRET is not set: calls to Rasa are not signed (development only)")
            log.info("gateway: Rasa at %s, action server at %s, %d products from %s",
                     settings.rasa_url, settings.action_server_url, len(state.products), settings.index_dir)
            yield
        state.rasa, state.action_server = rasa, action_server

    app = FastAPI(title="Shopping assistant gateway", lifespan=lifespan)
    app.state.gateway = state
    app.state.transcriber = transcriber  # voice turns of POST /api/chat (None: "please type")
    app.include_router(chat_router)
    app.include_router(products_router)
    app.include_router(health_router)
    if telegram is not None:
        app.include_router(telegram.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        """Unknown routes, wrong methods: the same ``{"error": ...}`` body as the gateway's own errors."""
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.get("/", include_in_schema=False)
    async def chat_page() -> FileResponse:
        """A plain page with the chat widget embedded (``static/widget.js``)."""
        return FileResponse(STATIC_DIR / "index.html")

    @app.get("/demo", include_in_schema=False)
    async def demo_page() -> FileResponse:
        """A pretend shop front that embeds the chat widget with its one script tag."""
        return FileResponse(STATIC_DIR / "demo.html")

    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins,
                           allow_methods=["GET", "POST"], allow_headers=["Content-Type"])
    app.add_middleware(RequestLog)
    return app
