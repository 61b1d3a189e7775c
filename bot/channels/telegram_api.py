"""A small async client of the Telegram Bot API (https://core.telegram.org/bots/api).

Every call is ``POST {api}/bot<token>/<method>`` (JSON, or multipart when a file is uploaded) and
Telegram answers ``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code", "description",
"parameters"?}``. The webhook's methods (:meth:`TelegramAPI.send_message`, ...) never raise: a
failure is logged and they return None/False. :meth:`TelegramAPI.call`, :meth:`~TelegramAPI.set_webhook`,
:meth:`~TelegramAPI.get_webhook_info` and :meth:`~TelegramAPI.download` raise :class:`TelegramError`.

The bot token is part of every URL: it is never logged (httpx's own request log lines are
redacted too, see :func:`redact_in_logs`).
"""
from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Iterable
from urllib.parse import quote

import httpx

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.telegram.org"
#: sendPhoto uploads at most 10 MB; captions are at most 1024 characters, texts 4096.
MAX_PHOTO_UPLOAD_BYTES = 10 * 1000 * 1000
MAX_CAPTION_CHARS = 1024
MAX_TEXT_CHARS = 4096
#: on "429 Too Many Requests: retry after N", wait and retry once when N is at most this.
MAX_RETRY_AFTER_S = 5


class TelegramError(Exception):
    """A Bot API call failed: Telegram said ``ok: false``, or it could not be reached."""

    def __init__(self, method: str, description: str, error_code: int | None = None) -> None:
        super().__init__(f"{method}: {description}" + (f" (error {error_code})" if error_code else ""))
        self.method, self.description, self.error_code = method, description, error_code


class FileTooLarge(Exception):
    """A download went over its byte limit (reading stops as soon as it does)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the file is over {limit} bytes")
        self.limit = limit


class _RedactTokens(logging.Filter):
    """Replaces bot tokens in the records of the logger it is attached to."""

    def __init__(self) -> None:
        super().__init__()
        self.tokens: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.tokens:
            message = record.getMessage()
            if any(token in message for token in self.tokens):
                for token in self.tokens:
                    message = message.replace(token, "<token>")
                record.msg, record.args = message, None
        return True


_REDACT = _RedactTokens()
logging.getLogger("httpx").addFilter(_REDACT)  # "HTTP Request: POST https://.../bot<token>/..."


def redact_in_logs(token: str) -> None:
    """Keep ``token`` out of httpx's request log lines."""
    if token:
        _REDACT.tokens.add(token)


def inline_keyboard(rows: Iterable[Iterable[tuple[str, str]]]) -> dict[str, Any]:
    """``reply_markup`` of (text, callback_data) buttons, one inner iterable per row."""
    return {"inline_keyboard": [[{"text": text, "callback_data": data} for text, data in row] for row in rows]}


class TelegramAPI:
    """The Bot API methods the Telegram channel uses, over one ``httpx.AsyncClient``."""

    def __init__(self, http: httpx.AsyncClient, token: str, base_url: str = DEFAULT_API_URL) -> None:
        if not token:
            raise ValueError("a bot token is required")
        self.http = http
        self.base_url = base_url.rstrip("/")
        self._token = token
        redact_in_logs(token)

    def __repr__(self) -> str:  # never the token
        return f"TelegramAPI({self.base_url!r})"

    # ------------------------------------------------------------------------------ raw calls
    async def call(self, method: str, params: dict[str, Any] | None = None, *,
                   files: dict[str, tuple[str, bytes, str]] | None = None) -> Any:
        """``result`` of one Bot API call; TelegramError on ``ok: false`` or no answer. With
        ``files`` the call is multipart (other values JSON-encoded unless strings)."""
        url = f"{self.base_url}/bot{self._token}/{method}"
        params = {k: v for k, v in (params or {}).items() if v is not None}
        for attempt in range(2):
            try:
                if files:
                    form = {k: v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
                            for k, v in params.items()}
                    resp = await self.http.post(url, data=form, files=files)
                else:
                    resp = await self.http.post(url, json=params)
            except httpx.TimeoutException as exc:
                raise TelegramError(method, "no answer from the Bot API (timeout)") from exc
            except httpx.HTTPError as exc:  # the message may hold the URL: only the type is kept
                raise TelegramError(method, f"Bot API unreachable ({type(exc).__name__})") from exc
            try:
                body = resp.json()
            except ValueError:
                body = None
            if not isinstance(body, dict):
                raise TelegramError(method, f"HTTP {resp.status_code}, not a Bot API answer", resp.status_code)
            if body.get("ok") is True:
                return body.get("result")
            code = body.get("error_code") if isinstance(body.get("error_code"), int) else resp.status_code
            description = str(body.get("description") or f"HTTP {resp.status_code}")
            retry_after = (body.get("parameters") or {}).get("retry_after") \
                if isinstance(body.get("parameters"), dict) else None
            if code == 429 and attempt == 0 and isinstance(retry_after, (int, float)) \
                    and 0 <= retry_after <= MAX_RETRY_AFTER_S:
                log.info("Telegram %s: flood limit, retrying in %s s", method, retry_after)
                await asyncio.sleep(retry_after)
                continue
            raise TelegramError(method, description, code)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _safe(self, method: str, params: dict[str, Any],
                    files: dict[str, tuple[str, bytes, str]] | None = None) -> Any | None:
        """``call``, logging a failure instead of raising (None then)."""
        try:
            return await self.call(method, params, files=files)
        except TelegramError as exc:
            log.warning("Telegram %s failed: %s", method, exc)
            return None

    # --------------------------------------------------------------------- the channel's calls
    async def get_file(self, file_id: str) -> dict[str, Any] | None:
        """The File object (``file_id``, ``file_size``, ``file_path``), or None on failure."""
        result = await self._safe("getFile", {"file_id": file_id})
        return result if isinstance(result, dict) else None

    async def download(self, file_path: str, limit: int) -> bytes:
        """The bytes of ``{api}/file/bot<token>/<file_path>``, read while at most ``limit``;
        FileTooLarge beyond it, TelegramError when the download fails."""
        if not file_path or file_path.startswith("/") or ".." in file_path.split("/"):
            raise TelegramError("download", "unusable file_path")
        url = f"{self.base_url}/file/bot{self._token}/{quote(file_path, safe='/')}"
        data = bytearray()
        try:
            async with self.http.stream("GET", url) as resp:
                if resp.status_code != 200:
                    raise TelegramError("download", f"HTTP {resp.status_code}", resp.status_code)
                declared = resp.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > limit:
                    raise FileTooLarge(limit)
                async for chunk in resp.aiter_bytes():
                    data += chunk
                    if len(data) > limit:
                        raise FileTooLarge(limit)
        except httpx.TimeoutException as exc:
            raise TelegramError("download", "no answer from the Bot API (timeout)") from exc
        except httpx.HTTPError as exc:
            raise TelegramError("download", f"Bot API unreachable ({type(exc).__name__})") from exc
        return bytes(data)

    async def send_message(self, chat_id: int | str, text: str,
                           reply_markup: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """sendMessage (plain text, at most 4096 characters); the sent Message or None."""
        return await self._safe("sendMessage", {"chat_id": chat_id, "text": text, "reply_markup": reply_markup})

    async def send_photo(self, chat_id: int | str, photo: bytes | str, *, filename: str = "photo.jpg",
                         caption: str | None = None, reply_markup: dict[str, Any] | None = None,
                         content_type: str = "image/jpeg") -> dict[str, Any] | None:
        """sendPhoto: ``photo`` bytes are uploaded as multipart, a string is a URL or file_id."""
        params: dict[str, Any] = {"chat_id": str(chat_id), "caption": caption, "reply_markup": reply_markup}
        if isinstance(photo, (bytes, bytearray)):
            return await self._safe("sendPhoto", params, files={"photo": (filename, bytes(photo), content_type)})
        return await self._safe("sendPhoto", {**params, "photo": photo})

    async def answer_callback_query(self, callback_query_id: str, text: str | None = None) -> bool:
        """answerCallbackQuery (stops the button's spinner); whether Telegram took it."""
        return await self._safe("answerCallbackQuery",
                                {"callback_query_id": callback_query_id, "text": text}) is True

    async def set_webhook(self, url: str, secret_token: str, *,
                          allowed_updates: Iterable[str] = ("message", "callback_query"),
                          drop_pending_updates: bool = False) -> bool:
        """setWebhook; raises TelegramError (it is run by hand, from the command line)."""
        result = await self.call("setWebhook", {
            "url": url, "secret_token": secret_token, "allowed_updates": list(allowed_updates),
            "drop_pending_updates": drop_pending_updates})
        return result is True

    async def get_webhook_info(self) -> dict[str, Any]:
        """getWebhookInfo (url, pending_update_count, last_error_message, ...); raises TelegramError."""
        result = await self.call("getWebhookInfo")
        return result if isinstance(result, dict) else {}
