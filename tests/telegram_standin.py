"""A local stand-in of the Telegram Bot API for tests, served by uvicorn on 127.0.0.1.

It speaks the documented JSON (https://core.telegram.org/bots/api): ``POST /bot<token>/<method>``
with a JSON, urlencoded or multipart body answers ``{"ok": true, "result": ...}`` or
``{"ok": false, "error_code", "description"}``, and ``GET /file/bot<token>/<file_path>`` serves
the files registered with :meth:`TelegramStandIn.add_file`. Every call is recorded in
:attr:`TelegramStandIn.calls` (method, params, uploaded files) and every download in
:attr:`TelegramStandIn.downloads`.

    with TelegramStandIn(token="123:abc") as bot:
        bot.add_file("photo-big", b"...", "photos/file_1.jpg")
        ... point SHOP_TELEGRAM_API_URL at bot.url ...
        assert bot.methods() == ["getFile", "sendMessage"]
"""
from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import UploadFile

METHODS = {"getMe", "getFile", "sendMessage", "sendPhoto", "answerCallbackQuery", "setWebhook",
           "deleteWebhook", "getWebhookInfo"}


@dataclass
class Call:
    """One Bot API call as the stand-in received it."""

    method: str
    params: dict[str, Any]
    files: dict[str, tuple[str, bytes, str]] = field(default_factory=dict)  # name -> (filename, bytes, type)
    multipart: bool = False

    @property
    def markup(self) -> dict[str, Any] | None:
        """``reply_markup`` decoded (it is a JSON string in a multipart call)."""
        value = self.params.get("reply_markup")
        return json.loads(value) if isinstance(value, str) else value

    def buttons(self) -> list[tuple[str, str]]:
        """The inline keyboard's (text, callback_data), row after row."""
        rows = (self.markup or {}).get("inline_keyboard", [])
        return [(b["text"], b["callback_data"]) for row in rows for b in row]


@dataclass
class StoredFile:
    content: bytes
    file_path: str
    declared_size: int | None  # what getFile says (None: no file_size field)


class TelegramStandIn:
    """The stand-in server; a context manager that starts it on a free loopback port."""

    def __init__(self, token: str = "123456:TEST-token_abc") -> None:
        self.token = token
        self.calls: list[Call] = []
        self.downloads: list[str] = []
        self.files: dict[str, StoredFile] = {}
        self.fail: dict[str, tuple[int, str]] = {}   # method -> (error_code, description)
        self.webhook: dict[str, Any] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.app = self._build()
        self.server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None
        self.port = 0

    # ------------------------------------------------------------------------------ test API
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add_file(self, file_id: str, content: bytes, file_path: str, *, declared_size: int | None | str = "real") -> None:
        """Make ``file_id`` known to getFile and downloadable at ``file_path``."""
        size = len(content) if declared_size == "real" else declared_size
        self.files[file_id] = StoredFile(content, file_path, size)  # type: ignore[arg-type]

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.downloads.clear()
            self.fail.clear()

    def methods(self) -> list[str]:
        return [c.method for c in self.calls]

    def sent(self, method: str | None = None) -> list[Call]:
        """Calls that send something to a chat (sendMessage, sendPhoto), or those of ``method``."""
        wanted = {method} if method else {"sendMessage", "sendPhoto"}
        return [c for c in self.calls if c.method in wanted]

    def texts(self) -> list[str]:
        """The text of each sendMessage and the caption of each sendPhoto, in order."""
        return [c.params.get("text") or c.params.get("caption") or "" for c in self.sent()]

    # ------------------------------------------------------------------------------- server
    def _build(self) -> FastAPI:
        app = FastAPI()

        def error(code: int, description: str) -> JSONResponse:
            return JSONResponse({"ok": False, "error_code": code, "description": description}, status_code=code)

        @app.api_route("/bot{token}/{method}", methods=["GET", "POST"])
        async def bot_method(token: str, method: str, request: Request) -> Response:
            if token != self.token:
                return error(401, "Unauthorized")
            params, files, multipart = await self._params(request)
            with self._lock:
                self.calls.append(Call(method, params, files, multipart))
            if method not in METHODS:
                return error(404, "Not Found")
            if method in self.fail:
                return error(*self.fail[method])
            result = self._answer(method, params, files)
            if isinstance(result, JSONResponse):
                return result
            return JSONResponse({"ok": True, "result": result})

        @app.get("/file/bot{token}/{file_path:path}")
        async def download(token: str, file_path: str) -> Response:
            if token != self.token:
                return error(401, "Unauthorized")
            with self._lock:
                self.downloads.append(file_path)
            for stored in self.files.values():
                if stored.file_path == file_path:
                    return Response(stored.content, media_type="application/octet-stream")
            return error(404, "Not Found")

        return app

    @staticmethod
    async def _params(request: Request) -> tuple[dict[str, Any], dict[str, tuple[str, bytes, str]], bool]:
        ctype = request.headers.get("content-type", "")
        if ctype.startswith("application/json"):
            body = await request.body()
            return (json.loads(body) if body else {}), {}, False
        if ctype.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
            form = await request.form()
            params: dict[str, Any] = {}
            files: dict[str, tuple[str, bytes, str]] = {}
            for key, value in form.multi_items():
                if isinstance(value, UploadFile):
                    files[key] = (value.filename or "", await value.read(), value.content_type or "")
                else:
                    params[key] = value
            return params, files, ctype.startswith("multipart/")
        return dict(request.query_params), {}, False

    def _message(self, params: dict[str, Any], **extra: Any) -> dict[str, Any]:
        chat_id = params.get("chat_id")
        return {"message_id": next(self._ids), "date": int(time.time()),
                "chat": {"id": int(chat_id) if str(chat_id).lstrip("-").isdigit() else chat_id, "type": "private"},
                "from": {"id": 1, "is_bot": True, "first_name": "Shop"}, **extra}

    def _answer(self, method: str, params: dict[str, Any], files: dict) -> Any:
        if method == "getMe":
            return {"id": 1, "is_bot": True, "first_name": "Shop", "username": "shop_test_bot"}
        if method == "getFile":
            stored = self.files.get(str(params.get("file_id")))
            if stored is None:
                return JSONResponse({"ok": False, "error_code": 400, "description": "Bad Request: invalid file_id"},
                                    status_code=400)
            result = {"file_id": params["file_id"], "file_unique_id": "u" + str(params["file_id"]),
                      "file_path": stored.file_path}
            if stored.declared_size is not None:
                result["file_size"] = stored.declared_size
            return result
        if method == "sendMessage":
            if not params.get("text"):
                return JSONResponse({"ok": False, "error_code": 400, "description": "Bad Request: message text is empty"},
                                    status_code=400)
            return self._message(params, text=params["text"])
        if method == "sendPhoto":
            if "photo" not in files and not params.get("photo"):
                return JSONResponse({"ok": False, "error_code": 400,
                                     "description": "Bad Request: there is no photo in the request"}, status_code=400)
            return self._message(params, photo=[{"file_id": f"sent-{next(self._ids)}", "width": 1, "height": 1}],
                                 caption=params.get("caption"))
        if method == "answerCallbackQuery":
            return True
        if method == "setWebhook":
            self.webhook = {"url": params.get("url", ""), "secret_token": params.get("secret_token"),
                            "allowed_updates": params.get("allowed_updates")}
            return True
        if method == "deleteWebhook":
            self.webhook = {}
            return True
        if method == "getWebhookInfo":
            return {"url": self.webhook.get("url", ""), "has_custom_certificate": False, "pending_update_count": 0,
                    "allowed_updates": self.webhook.get("allowed_updates") or []}
        return True

    def __enter__(self) -> "TelegramStandIn":
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the Telegram stand-in did not start")
            time.sleep(0.01)
        self._sock = sock
        return self

    def __exit__(self, *exc: object) -> None:
        if self.server is not None:
            self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout=5)
        self._sock.close()
