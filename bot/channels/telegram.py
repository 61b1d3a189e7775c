"""Telegram channel: the Bot API webhook ``POST /telegram/webhook`` in the gateway process.

Mounted by :func:`bot.gateway.create_app` when ``SHOP_TELEGRAM_BOT_TOKEN`` is set; the app then
refuses to start unless ``SHOP_TELEGRAM_WEBHOOK_SECRET`` is set too (:class:`TelegramConfigError`),
and every webhook call must carry it in ``X-Telegram-Bot-Api-Secret-Token`` (else 401, and
nothing is processed).

The contract of the webhook:

* 401: wrong or missing secret header; 400: the body is not JSON or not a Telegram Update;
  413: a body over 1 MiB; 200 otherwise, also when the update is ignored (edited messages,
  channel posts, ...), a duplicate (same ``update_id``) or could not be answered (Rasa or
  Telegram down), so that Telegram never retries an update forever.
* The update is acted on after the 200 is sent (a background task); updates of one chat are
  handled one at a time, in the order they arrived.
* ``message.text`` -> Rasa; ``message.photo`` (or an image sent as a file) -> the largest size
  within ``SHOP_MAX_UPLOAD_BYTES`` is fetched (getFile + download, capped), checked and stored
  exactly like a chat upload, and its sha256 goes to Rasa as metadata ``{"image": sha}`` with the
  caption as text (no caption: ``/find_photo``); ``message.voice`` -> downloaded the same way and
  handed to the :class:`~bot.channels.voice.Transcriber` ("I heard: ...", then the words go on
  as text; below ``SHOP_SPEECH_MIN_CONFIDENCE`` "Did I get that right?" with Yes (the words) /
  "No, let me type" buttons and no search; audio it cannot use gets the recogniser's reason;
  without a transcriber: "Voice messages are not available yet, please type");
  ``callback_query`` (an inline button) -> answerCallbackQuery, then its data is the text.
  The Rasa sender is ``telegram:<chat id>``.
* Rasa's answer is translated like the chat's (:func:`bot.gateway.messages.translate`) and each
  message sent: its text with sendMessage (quick replies as an inline keyboard), its products as
  one sendPhoto each (at most 5; caption ``title — brand — $price`` and the reason; a
  "More like this" button), a comparison as text. Rasa down: the chat's apology.
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import inspect
import json
import logging
import re
import sys
from collections import OrderedDict
from contextlib import asynccontextmanager
from pathlib import PurePosixPath
from typing import Any, AsyncIterator

import httpx
from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from bot.channels.telegram_api import (MAX_CAPTION_CHARS, MAX_PHOTO_UPLOAD_BYTES, MAX_TEXT_CHARS, FileTooLarge,
                                       TelegramAPI, TelegramError, inline_keyboard)
from bot.channels.voice import AudioError, Transcriber, Transcript
from bot.dialogue.cards import money
from bot.gateway.catalog import image_path
from bot.gateway.chat import MAX_TEXT_CHARS as MAX_TURN_CHARS
from bot.gateway.chat import PHOTO_ONLY_MESSAGE, UNAVAILABLE_TEXT, confirm_replies
from bot.gateway.deps import GatewayState
from bot.gateway.messages import translate
from bot.gateway.services import RasaUnavailable
from bot.gateway.settings import GatewaySettings
from bot.gateway.uploads import MEDIA_TYPES, ImageRejected, check_image, too_large_message

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
ALLOWED_UPDATES = ("message", "callback_query")
SENDER_PREFIX = "telegram:"
MAX_UPDATE_BYTES = 1024 * 1024
MAX_PRODUCT_PHOTOS = 5
MAX_CALLBACK_BYTES = 64
CALLBACK_ID_PREFIX = "cb:"        # callback_data standing for a payload over 64 bytes
MAX_CALLBACK_IDS = 10_000         # remembered long payloads (oldest forgotten first)
RECENT_UPDATES = 1_000            # update_ids remembered to drop Telegram's re-deliveries
MORE_LIKE_TITLE = "More like this"
MORE_LIKE_PAYLOAD = "more like number {}"
HTTP_TIMEOUT = httpx.Timeout(30.0, connect=10.0)

VOICE_UNAVAILABLE_TEXT = "Voice messages are not available yet, please type."
VOICE_FAILED_TEXT = "Sorry, I couldn't make out that voice message. Could you type it instead?"
VOICE_EMPTY_TEXT = "I couldn't hear any words in that voice message. Could you try again, or type it?"
VOICE_TOO_LARGE_TEXT = "That voice message is too long for me. Could you keep it shorter, or type it?"
FETCH_FAILED_TEXT = "Sorry, I couldn't fetch that from Telegram. Please send it again."
STORE_FAILED_TEXT = "The photo could not be stored; please try again."
UNSUPPORTED_TEXT = "I can read text, photos and voice messages. What are you looking for?"
EXPIRED_BUTTON_TEXT = "That button has expired. Please type your answer instead."
TOO_LONG_TEXT = f"That message is too long for me: please keep it under {MAX_TURN_CHARS} characters."
HELP_TEXT = ("Tell me what you are looking for, e.g. \"red summer dress under 50\", send a photo of something "
             "you like (add words: \"like this but in blue\"), or a voice message. Then say \"cheaper\", "
             "\"in blue\", \"tell me about number 2\", \"compare 1 and 3\" or \"start over\".")
#: Telegram commands that mean something to the shop: /start greets, /help is answered here.
COMMANDS = {"/start": "hi"}


class TelegramConfigError(ValueError):
    """The Telegram settings do not allow serving the webhook (the message says which)."""


# ------------------------------------------------------------------------- the Update subset
class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class Chat(_Model):
    id: int
    type: str = "private"


class User(_Model):
    id: int
    is_bot: bool = False


class PhotoSize(_Model):
    file_id: str
    width: int = 0
    height: int = 0
    file_size: int | None = None


class Voice(_Model):
    file_id: str
    duration: int | None = None
    mime_type: str | None = None
    file_size: int | None = None


class Document(_Model):
    file_id: str
    file_name: str | None = None
    mime_type: str | None = None
    file_size: int | None = None


class Message(_Model):
    message_id: int = 0
    chat: Chat
    sender: User | None = Field(None, alias="from")
    text: str | None = None
    caption: str | None = None
    photo: list[PhotoSize] | None = None
    voice: Voice | None = None
    document: Document | None = None


class CallbackQuery(_Model):
    id: str
    sender: User = Field(alias="from")
    message: Message | None = None
    data: str | None = None


class Update(_Model):
    """The parts of a Bot API Update the channel acts on; other kinds are ignored."""

    update_id: int
    message: Message | None = None
    callback_query: CallbackQuery | None = None


# ---------------------------------------------------------------------------------- helpers
def sender_id(chat_id: int) -> str:
    """The Rasa sender of a Telegram chat."""
    return f"{SENDER_PREFIX}{chat_id}"


def fit(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` UTF-16 code units (how Telegram counts), "…" marking a cut."""
    if len(text.encode("utf-16-le")) <= limit * 2:
        return text
    out, used = [], 0
    for ch in text:
        units = len(ch.encode("utf-16-le")) // 2
        if used + units > limit - 1:
            break
        out.append(ch)
        used += units
    return "".join(out).rstrip() + "…"


def split_text(text: str, limit: int = MAX_TEXT_CHARS) -> list[str]:
    """``text`` in pieces of at most ``limit`` characters, cut at line ends where possible."""
    pieces: list[str] = []
    rest = text
    while len(rest.encode("utf-16-le")) > limit * 2:
        head = fit(rest, limit)[:-1]  # without the "…"
        cut = head.rfind("\n")
        if cut < limit // 2:
            cut = len(head)
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip("\n")
    if rest.strip() or not pieces:
        pieces.append(rest)
    return pieces


def product_caption(card: dict[str, Any]) -> str:
    """``title — brand — $price`` and the reason on the next line, at most 1024 characters."""
    title = str(card.get("title") or f"Product {card.get('id')}")
    head = [title]
    if card.get("brand"):
        head.append(str(card["brand"]))
    price = card.get("price")
    head.append(money(price) if isinstance(price, (int, float)) and not isinstance(price, bool) else money(None))
    caption = " — ".join(head)
    if card.get("why"):
        caption += "\n" + str(card["why"])
    return fit(caption, MAX_CAPTION_CHARS)


def comparison_text(table: dict[str, Any]) -> str:
    """A comparison table (``columns``, ``rows`` of ``label``/``values``) as lines of text."""
    columns = [str(c) for c in table.get("columns") or []]
    lines = [" | ".join(["", *columns])] if columns else []
    for row in table.get("rows") or []:
        if isinstance(row, dict):
            lines.append(" | ".join([str(row.get("label", "")), *(str(v) for v in row.get("values") or [])]))
    return "\n".join(lines)


def _positions(msg: dict[str, Any], count: int) -> list[int]:
    """The list positions ("number N") of a message's products: a comparison's columns ("#2"),
    the position a product's own "More like this" quick reply names, else 1..count."""
    table = msg.get("comparison")
    if isinstance(table, dict):
        found = [int(m.group(1)) for c in table.get("columns") or [] if (m := re.fullmatch(r"#(\d+)", str(c)))]
        if len(found) == count:
            return found
    if count == 1:
        for reply in msg.get("quick_replies") or []:
            if m := re.fullmatch(MORE_LIKE_PAYLOAD.format(r"(\d+)"), str(reply.get("payload", ""))):
                return [int(m.group(1))]
    return list(range(1, count + 1))


class _CallbackIds:
    """callback_data for a payload: the payload itself when it fits Telegram's 64 bytes, else a
    short id remembered here (in memory; an id from before a restart reads as expired)."""

    def __init__(self, capacity: int = MAX_CALLBACK_IDS) -> None:
        self.capacity = capacity
        self._payloads: OrderedDict[str, str] = OrderedDict()

    def data(self, payload: str) -> str:
        if len(payload.encode()) <= MAX_CALLBACK_BYTES and not payload.startswith(CALLBACK_ID_PREFIX):
            return payload
        key = CALLBACK_ID_PREFIX + hashlib.sha256(payload.encode()).hexdigest()[:24]
        self._payloads[key] = payload
        self._payloads.move_to_end(key)
        while len(self._payloads) > self.capacity:
            self._payloads.popitem(last=False)
        return key

    def payload(self, data: str) -> str | None:
        """The payload a button's data stands for; None for a forgotten id."""
        if not data.startswith(CALLBACK_ID_PREFIX):
            return data
        return self._payloads.get(data)


# ---------------------------------------------------------------------------------- channel
class TelegramChannel:
    """The webhook route and what it does with each update; ``router`` goes into the app and
    :meth:`running` wraps the app's lifespan (it owns the Bot API client)."""

    def __init__(self, settings: GatewaySettings, state: GatewayState, *,
                 transcriber: Transcriber | None = None) -> None:
        token = settings.telegram_bot_token.get_secret_value().strip() if settings.telegram_bot_token else ""
        if not token:
            raise TelegramConfigError("SHOP_TELEGRAM_BOT_TOKEN is not set")
        if settings.telegram_webhook_secret is None:
            raise TelegramConfigError("SHOP_TELEGRAM_BOT_TOKEN is set but SHOP_TELEGRAM_WEBHOOK_SECRET is not: "
                                      "the Telegram webhook needs a secret (1-256 of A-Z a-z 0-9 _ -)")
        secret = settings.telegram_webhook_secret.get_secret_value()
        if not SECRET_RE.fullmatch(secret):
            raise TelegramConfigError("SHOP_TELEGRAM_WEBHOOK_SECRET must be 1 to 256 characters of "
                                      "A-Z, a-z, 0-9, '_' and '-' (what Telegram accepts as secret_token)")
        self.settings, self.state, self.transcriber = settings, state, transcriber
        self._token, self._secret = token, secret.encode()
        self.api: TelegramAPI | None = None
        self.callbacks = _CallbackIds()
        self._recent: OrderedDict[int, None] = OrderedDict()
        self._locks: dict[int, tuple[asyncio.Lock, int]] = {}
        self.router = APIRouter(tags=["telegram"])
        self.router.add_api_route(WEBHOOK_PATH, self.webhook, methods=["POST"], response_model=None,
                                  summary="Telegram Bot API webhook")

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """The Bot API client for the app's lifetime."""
        async with httpx.AsyncClient(timeout=HTTP_TIMEOUT, trust_env=False) as http:
            self.api = TelegramAPI(http, self._token, self.settings.telegram_api_url)
            log.info("telegram: webhook at %s, Bot API at %s, voice %s", WEBHOOK_PATH,
                     self.settings.telegram_api_url, "on" if self.transcriber is not None else "off")
            try:
                yield
            finally:
                self.api = None

    # ------------------------------------------------------------------------------ webhook
    async def webhook(self, request: Request, background: BackgroundTasks) -> JSONResponse:
        """Check the secret, parse the Update, answer 200 and act on it after the answer."""
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, self._secret):
            log.warning("telegram: refused a webhook call with a %s %s header",
                        "wrong" if given else "missing", SECRET_HEADER)
            return JSONResponse({"error": "wrong or missing secret token"}, status_code=401)
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_UPDATE_BYTES:
            return JSONResponse({"error": "the update is too large"}, status_code=413)
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_UPDATE_BYTES:
                return JSONResponse({"error": "the update is too large"}, status_code=413)
        try:
            update = Update.model_validate(json.loads(body))
        except (ValueError, RecursionError, ValidationError):  # not JSON, too deep, not an Update
            log.info("telegram: refused a malformed update (%d bytes)", len(body))
            return JSONResponse({"error": "the body is not a Telegram Update"}, status_code=400)
        if update.update_id in self._recent:
            log.info("telegram: update %d again: already handled", update.update_id)
            return JSONResponse({"ok": True})
        self._recent[update.update_id] = None
        while len(self._recent) > RECENT_UPDATES:
            self._recent.popitem(last=False)
        if update.message is None and update.callback_query is None:
            log.debug("telegram: ignored update %d (not a message or a button)", update.update_id)
            return JSONResponse({"ok": True})
        background.add_task(self._handle, update)
        return JSONResponse({"ok": True})

    @asynccontextmanager
    async def _chat_turn(self, chat_id: int) -> AsyncIterator[None]:
        """One update of a chat at a time (Telegram may deliver a chat's updates in parallel)."""
        lock, users = self._locks.get(chat_id) or (asyncio.Lock(), 0)
        self._locks[chat_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[chat_id]
            if users <= 1:
                del self._locks[chat_id]
            else:
                self._locks[chat_id] = (lock, users - 1)

    async def _handle(self, update: Update) -> None:
        """Act on one update; never raises (a background task has no one to raise to)."""
        if update.message is not None:
            chat_id = update.message.chat.id
        else:
            query = update.callback_query
            assert query is not None
            chat_id = query.message.chat.id if query.message is not None else query.sender.id
        try:
            async with self._chat_turn(chat_id):
                if self.api is None:
                    log.error("telegram: update %d dropped: the app has not started", update.update_id)
                    return
                if update.message is not None:
                    await self._message(update.message)
                else:
                    assert update.callback_query is not None
                    await self._callback(update.callback_query, chat_id)
        except Exception:
            log.exception("telegram: update %d failed", update.update_id)

    # -------------------------------------------------------------------- incoming messages
    @property
    def _bot(self) -> TelegramAPI:
        assert self.api is not None
        return self.api

    async def _say(self, chat_id: int, text: str, reply_markup: dict[str, Any] | None = None) -> None:
        pieces = split_text(text)
        for i, piece in enumerate(pieces):
            await self._bot.send_message(chat_id, piece, reply_markup if i == len(pieces) - 1 else None)

    async def _message(self, msg: Message) -> None:
        chat_id = msg.chat.id
        if msg.sender is not None and msg.sender.is_bot:
            return
        sizes = msg.photo or []
        if not sizes and msg.document is not None and (msg.document.mime_type or "").startswith("image/"):
            sizes = [PhotoSize(file_id=msg.document.file_id, file_size=msg.document.file_size)]  # sent as a file
        if msg.voice is not None:
            log.info("telegram: chat %s sent a voice message", chat_id)
            text = await self._transcribe(chat_id, msg.voice)
            if text is not None:
                await self._turn(chat_id, text)
        elif sizes:
            log.info("telegram: chat %s sent a photo (%d sizes)", chat_id, len(sizes))
            sha = await self._photo(chat_id, sizes)
            if sha is not None:
                await self._turn(chat_id, (msg.caption or "").strip() or PHOTO_ONLY_MESSAGE, sha)
        elif msg.text is not None and msg.text.strip():
            text = msg.text.strip()
            command = text.split()[0].split("@")[0].lower() if text.startswith("/") else ""
            if command == "/help":
                await self._say(chat_id, HELP_TEXT)
            elif command in COMMANDS:
                await self._turn(chat_id, COMMANDS[command])
            else:
                await self._turn(chat_id, text)
        elif msg.chat.type == "private":  # stickers, documents, locations... (not in groups)
            await self._say(chat_id, UNSUPPORTED_TEXT)

    async def _callback(self, query: CallbackQuery, chat_id: int) -> None:
        await self._bot.answer_callback_query(query.id)
        if not query.data:
            return
        payload = self.callbacks.payload(query.data)
        log.info("telegram: chat %s pressed a button", chat_id)
        if payload is None:
            await self._say(chat_id, EXPIRED_BUTTON_TEXT)
            return
        await self._turn(chat_id, payload)

    async def _fetch(self, chat_id: int, file_id: str, limit: int, too_large: str) -> tuple[bytes, str] | None:
        """(bytes, file_path) of a Telegram file of at most ``limit`` bytes; None after telling
        the shopper why not."""
        info = await self._bot.get_file(file_id)
        if info is None:
            await self._say(chat_id, FETCH_FAILED_TEXT)
            return None
        size, path = info.get("file_size"), info.get("file_path")
        if isinstance(size, int) and size > limit:
            await self._say(chat_id, too_large)
            return None
        if not isinstance(path, str) or not path:  # Telegram gives no path for files over 20 MB
            await self._say(chat_id, too_large if size is None else FETCH_FAILED_TEXT)
            return None
        try:
            return await self._bot.download(path, limit), path
        except FileTooLarge:
            await self._say(chat_id, too_large)
        except TelegramError as exc:
            log.warning("telegram: could not download a file: %s", exc)
            await self._say(chat_id, FETCH_FAILED_TEXT)
        return None

    async def _photo(self, chat_id: int, sizes: list[PhotoSize]) -> str | None:
        """The sha256 of the largest size within the upload limit, checked and stored like a
        chat upload; None after telling the shopper why not."""
        limit = self.settings.max_upload_bytes
        too_large = too_large_message(limit)
        ordered = sorted(sizes, key=lambda s: (s.width * s.height, s.file_size or 0), reverse=True)
        fitting = [s for s in ordered if s.file_size is None or s.file_size <= limit]
        if not fitting:
            await self._say(chat_id, too_large)
            return None
        fetched = await self._fetch(chat_id, fitting[0].file_id, limit, too_large)
        if fetched is None:
            return None
        data = fetched[0]
        try:
            ext = await run_in_threadpool(check_image, data, self.settings.max_image_pixels)
        except ImageRejected as exc:
            await self._say(chat_id, str(exc))
            return None
        try:
            sha = await run_in_threadpool(self.state.uploads.save, data, ext)
        except OSError:
            log.exception("telegram: could not store a photo in %s", self.state.uploads.root)
            await self._say(chat_id, STORE_FAILED_TEXT)
            return None
        log.info("telegram: chat %s photo stored as %s", chat_id, sha)
        return sha

    async def _transcribe(self, chat_id: int, voice: Voice) -> str | None:
        """The words of a voice message, after saying "I heard: ..."; None after telling the
        shopper why not."""
        if self.transcriber is None:
            await self._say(chat_id, VOICE_UNAVAILABLE_TEXT)
            return None
        limit = self.settings.max_upload_bytes
        if voice.file_size is not None and voice.file_size > limit:
            await self._say(chat_id, VOICE_TOO_LARGE_TEXT)
            return None
        fetched = await self._fetch(chat_id, voice.file_id, limit, VOICE_TOO_LARGE_TEXT)
        if fetched is None:
            return None
        data, path = fetched
        filename = PurePosixPath(path).name or "voice.oga"
        try:
            if inspect.iscoroutinefunction(self.transcriber.transcribe):
                result = await self.transcriber.transcribe(data, filename)
            else:
                result = await run_in_threadpool(self.transcriber.transcribe, data, filename)
                if inspect.isawaitable(result):
                    result = await result
        except AudioError as exc:  # damaged, silent, too long, unsupported: its message says which
            log.info("telegram: chat %s voice message refused: %s", chat_id, exc)
            await self._say(chat_id, str(exc) or VOICE_FAILED_TEXT)
            return None
        except Exception:
            log.exception("telegram: transcription failed")
            await self._say(chat_id, VOICE_FAILED_TEXT)
            return None
        text = " ".join((result.text if isinstance(result, Transcript) else
                         str(getattr(result, "text", "") or "")).split())
        if not text:
            await self._say(chat_id, VOICE_EMPTY_TEXT)
            return None
        confidence = getattr(result, "confidence", None)
        confirm = confidence is not None and confidence < self.settings.speech.speech_min_confidence
        log.info("telegram: chat %s voice transcribed (%d chars, language %s, confidence %s)%s", chat_id, len(text),
                 getattr(result, "language", None) or "?", "?" if confidence is None else f"{confidence:.2f}",
                 " asking to confirm" if confirm else "")
        if confirm:  # nothing is searched until the shopper says yes (the button sends the words)
            await self._say(chat_id, f"I heard: {text}. Did I get that right?", self._keyboard(confirm_replies(text)))
            return None
        await self._say(chat_id, f"I heard: {text}")
        return text

    # ----------------------------------------------------------------------- Rasa and back
    async def _turn(self, chat_id: int, text: str, sha: str | None = None) -> None:
        """One shopper turn to Rasa; its answer (or the apology) back to the chat."""
        if len(text) > MAX_TURN_CHARS:
            await self._say(chat_id, TOO_LONG_TEXT)
            return
        try:
            if self.state.rasa is None:
                raise RasaUnavailable("the gateway has not started its Rasa client")
            outputs = await self.state.rasa.send(sender_id(chat_id), text, {"image": sha} if sha else None)
        except RasaUnavailable as exc:
            log.warning("telegram: Rasa unavailable: %s", exc)
            await self._say(chat_id, UNAVAILABLE_TEXT)
            return
        for message in translate(outputs, self.state.products):
            await self._send(chat_id, message)

    def _keyboard(self, replies: list[dict[str, Any]]) -> dict[str, Any] | None:
        """Quick replies as an inline keyboard: short titles two to a row, else one a row."""
        buttons = []
        for reply in replies:
            payload = str(reply.get("payload") or reply.get("title") or "")
            title = str(reply.get("title") or payload)
            if payload:
                buttons.append((fit(title, 64), self.callbacks.data(payload)))
        if not buttons:
            return None
        per_row = 2 if all(len(title) <= 16 for title, _ in buttons) else 1
        return inline_keyboard(buttons[i:i + per_row] for i in range(0, len(buttons), per_row))

    async def _send(self, chat_id: int, msg: dict[str, Any]) -> None:
        """One translated chat message as Telegram messages."""
        text = msg.get("text") if isinstance(msg.get("text"), str) else None
        if not text and isinstance(msg.get("comparison"), dict):
            text = comparison_text(msg["comparison"])
        products = [p for p in msg.get("products") or [] if isinstance(p, dict)][:MAX_PRODUCT_PHOTOS]
        positions = _positions(msg, len(products))
        more_like = {MORE_LIKE_PAYLOAD.format(n) for n in positions}
        replies = [r for r in msg.get("quick_replies") or []
                   if isinstance(r, dict) and str(r.get("payload")) not in more_like]  # on the photo instead
        keyboard = self._keyboard(replies)
        if text and text.strip():
            await self._say(chat_id, text, keyboard)
        elif keyboard is not None:
            await self._say(chat_id, "Choose one:", keyboard)
        for card, position in zip(products, positions):
            await self._send_product(chat_id, card, position)
        image = msg.get("image")
        if isinstance(image, str) and image.startswith(("https://", "http://")):
            await self._bot.send_photo(chat_id, image)

    async def _send_product(self, chat_id: int, card: dict[str, Any], position: int) -> None:
        """A product card as a photo (the catalog file, uploaded) with its caption and a
        "More like this" button; as text when there is no usable photo."""
        caption = product_caption(card)
        markup = inline_keyboard([[(MORE_LIKE_TITLE, self.callbacks.data(MORE_LIKE_PAYLOAD.format(position)))]])
        product = self.state.products.get(str(card.get("id")))
        path = image_path(product, self.settings.catalog_dir) \
            if product is not None and card.get("image_url") else None
        data: bytes | None = None
        if path is not None:
            try:
                data = await run_in_threadpool(path.read_bytes)
            except OSError as exc:
                log.warning("telegram: could not read the photo of product %s: %s", card.get("id"), exc)
            if data is not None and len(data) > MAX_PHOTO_UPLOAD_BYTES:
                data = None
        if data is not None and path is not None:
            content_type = MEDIA_TYPES.get(path.suffix[1:].lower().replace("jpeg", "jpg"), "application/octet-stream")
            sent = await self._bot.send_photo(chat_id, data, filename=path.name, caption=caption,
                                              reply_markup=markup, content_type=content_type)
            if sent is not None:
                return
        await self._bot.send_message(chat_id, caption, markup)


# ------------------------------------------------------------------------------ command line
def _settings_or_exit() -> tuple[GatewaySettings, str, str]:
    settings = GatewaySettings()
    token = settings.telegram_bot_token.get_secret_value().strip() if settings.telegram_bot_token else ""
    secret = settings.telegram_webhook_secret.get_secret_value() if settings.telegram_webhook_secret else ""
    if not token:
        sys.exit("SHOP_TELEGRAM_BOT_TOKEN is not set (the token BotFather gave you)")
    if not SECRET_RE.fullmatch(secret):
        sys.exit("SHOP_TELEGRAM_WEBHOOK_SECRET must be set: 1 to 256 characters of A-Z, a-z, 0-9, '_' and '-' "
                 "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')")
    return settings, token, secret


async def _run(args: argparse.Namespace) -> int:
    settings, token, secret = _settings_or_exit()
    async with httpx.AsyncClient(timeout=HTTP_TIMEOUT, trust_env=False) as http:
        api = TelegramAPI(http, token, settings.telegram_api_url)
        try:
            if args.command == "set-webhook":
                await api.set_webhook(args.url, secret, allowed_updates=ALLOWED_UPDATES,
                                      drop_pending_updates=args.drop_pending_updates)
                print(f"Webhook set: Telegram now posts {', '.join(ALLOWED_UPDATES)} updates to {args.url}")
            elif args.command == "delete-webhook":
                await api.call("deleteWebhook", {"drop_pending_updates": args.drop_pending_updates})
                print("Webhook deleted")
            else:
                info = await api.get_webhook_info()
                print(json.dumps(info, indent=2, ensure_ascii=False))
        except TelegramError as exc:
            print(f"Telegram refused: {exc.description}", file=sys.stderr)
            return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m bot.channels.telegram set-webhook --url https://your.host/telegram/webhook``."""
    parser = argparse.ArgumentParser(prog="python -m bot.channels.telegram",
                                     description="Register the gateway's Telegram webhook with the Bot API "
                                                 "(token and secret from SHOP_TELEGRAM_BOT_TOKEN and "
                                                 "SHOP_TELEGRAM_WEBHOOK_SECRET).")
    sub = parser.add_subparsers(dest="command", required=True)
    hook = sub.add_parser("set-webhook", help="setWebhook with the secret token, for messages and button presses")
    hook.add_argument("--url", required=True, help=f"the public HTTPS URL of the gateway's {WEBHOOK_PATH}")
    hook.add_argument("--drop-pending-updates", action="store_true", help="forget updates Telegram still holds")
    delete = sub.add_parser("delete-webhook", help="deleteWebhook (the bot stops receiving updates)")
    delete.add_argument("--drop-pending-updates", action="store_true")
    sub.add_parser("webhook-info", help="getWebhookInfo: the URL, pending updates, the last delivery error")
    args = parser.parse_args(argv)
    if args.command == "set-webhook":
        if not args.url.startswith("https://"):
            parser.error("--url must be an https:// URL (Telegram only delivers webhooks over HTTPS)")
        if not args.url.rstrip("/").endswith(WEBHOOK_PATH):
            print(f"note: the gateway serves the webhook at {WEBHOOK_PATH}; {args.url} does not end with it",
                  file=sys.stderr)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return asyncio.run(_run(args))


if __name__ == "__main__":
    sys.exit(main())
