"""``POST /api/chat``: one shopper turn (text, photo, voice or a mix) forwarded to Rasa.

A voice turn (multipart part ``audio``) is transcribed in a worker thread by the app's
transcriber; the answer starts with ``{"text": "I heard: “...”", "transcript": {"text",
"language", "confidence"}}``. Below ``SHOP_SPEECH_MIN_CONFIDENCE`` nothing is searched: that
message asks "Did I get that right?" with the quick replies Yes (payload: the transcript) and
"No, let me type" (``/deny``), and the widget sends the chosen payload back as text (stateless).
"""
from __future__ import annotations

import inspect
import json
import logging
from typing import TYPE_CHECKING, Annotated, Any, Awaitable, Callable

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.types import Message

from bot.gateway.deps import GatewayState, State, error
from bot.gateway.messages import translate
from bot.gateway.services import RasaUnavailable
from bot.gateway.uploads import ImageRejected, UploadTooLarge, check_image, read_capped
from nlu.speech import NO_WORDS_TEXT, AudioError, too_large_text

if TYPE_CHECKING:
    from bot.channels.voice import Transcriber, Transcript

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api", tags=["chat"])

MAX_TEXT_CHARS = 1000
SENDER_PATTERN = r"^[A-Za-z0-9_.:-]{1,128}$"
SHA256_PATTERN = r"^[0-9a-f]{64}$"
PHOTO_ONLY_MESSAGE = "/find_photo"
UNAVAILABLE_TEXT = "Sorry, I can't reach the assistant right now. Please try again in a moment."
JSON_LIMIT = 64 * 1024       # a JSON turn carries no photo bytes
FORM_OVERHEAD = 64 * 1024    # multipart: the photo plus the other fields and boundaries

VOICE_UNAVAILABLE_TEXT = "Voice messages are not available right now. Please type your request."
CONFIRM_DENY_PAYLOAD = "/deny"
_FIELD_MESSAGES = {
    "sender": "sender is required: 1 to 128 characters of letters, digits, '_', '.', ':' or '-'",
    "text": f"text must be a string of at most {MAX_TEXT_CHARS} characters",
    "image": "image must be null or the sha256 of a photo uploaded earlier; "
             "send a new photo as multipart/form-data",
    "audio": "audio must be a file part (a voice recording) of a multipart/form-data turn",
}


class ChatTurn(BaseModel):
    """The fields of a turn (JSON body or form fields); ``image`` here is an earlier upload's sha256."""

    model_config = ConfigDict(extra="ignore")

    sender: Annotated[str, StringConstraints(pattern=SENDER_PATTERN)]
    text: Annotated[str, StringConstraints(max_length=MAX_TEXT_CHARS)] | None = None
    image: Annotated[str, StringConstraints(pattern=SHA256_PATTERN)] | None = None


class ChatError(Exception):
    """A turn refused before reaching Rasa: HTTP status, message for the shopper, extra fields."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra


class _BodyTooLarge(Exception):
    pass


def _capped(receive: Callable[[], Awaitable[Message]], limit: int) -> Callable[[], Awaitable[Message]]:
    """``receive`` that fails once more than ``limit`` body bytes arrived."""
    seen = 0

    async def wrapped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _BodyTooLarge
        return message

    return wrapped


def _validate(fields: dict[str, Any]) -> ChatTurn:
    try:
        return ChatTurn.model_validate(fields)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False, include_context=False)
        names = [str(e["loc"][0]) if e["loc"] else "body" for e in errors]
        message = "; ".join(dict.fromkeys(_FIELD_MESSAGES.get(n, f"{n}: invalid") for n in names))
        detail = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in errors]
        raise ChatError(422, message, detail=detail) from exc


def _form_too_large(settings: Any) -> str:
    return (f"The request is too large: a photo may have at most {settings.max_upload_bytes / 2**20:.3g} MiB "
            f"and a voice message at most {settings.max_audio_bytes / 2**20:.3g} MiB.")


async def _read_turn(request: Request, state: GatewayState
                     ) -> tuple[ChatTurn, UploadFile | None, UploadFile | None, FormData | None]:
    """Parse a JSON or multipart/urlencoded turn, capping the body size while it streams in;
    (turn, photo upload, audio upload, form)."""
    settings = state.settings
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    is_json = content_type == "application/json" or content_type.endswith("+json")
    is_form = content_type in ("multipart/form-data", "application/x-www-form-urlencoded")
    if not (is_json or is_form):
        raise ChatError(415, "Send the turn as application/json or multipart/form-data.")
    limit = JSON_LIMIT if is_json else settings.max_upload_bytes + settings.max_audio_bytes + FORM_OVERHEAD
    too_large = _form_too_large(settings) if is_form else "The request is too large."
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ChatError(413, too_large)
    capped = Request(request.scope, _capped(request.receive, limit))
    try:
        if is_json:
            try:
                body = json.loads(await capped.body())
            except ValueError as exc:
                raise ChatError(422, "The body is not valid JSON.") from exc
            if not isinstance(body, dict):
                raise ChatError(422, "The body must be a JSON object: {\"sender\", \"text\", \"image\"}.")
            return _validate(body), None, None, None
        form = await capped.form(max_files=2, max_fields=8, max_part_size=16 * 1024)
    except _BodyTooLarge as exc:
        raise ChatError(413, too_large) from exc
    except HTTPException as exc:  # malformed multipart, too many parts
        raise ChatError(400, f"Malformed form data: {exc.detail}") from exc
    fields: dict[str, Any] = {}
    files: dict[str, UploadFile | None] = {"image": None, "audio": None}
    for name in ("sender", "text", "image", "audio"):
        if name in files and sum(isinstance(v, UploadFile) for v in form.getlist(name)) > 1:
            await form.close()
            raise ChatError(400, f"Malformed form data: more than one {name} part.")
        value = form.get(name)
        if isinstance(value, UploadFile):
            if name not in files:
                await form.close()
                raise ChatError(422, _FIELD_MESSAGES[name])
            if value.filename or value.size:  # browsers send an empty part when no file is chosen
                files[name] = value
        elif name == "audio" and value not in (None, ""):
            await form.close()
            raise ChatError(422, _FIELD_MESSAGES[name])
        elif value not in (None, ""):
            fields[name] = value
    try:
        return _validate(fields), files["image"], files["audio"], form
    except ChatError:
        await form.close()
        raise


async def _photo(turn: ChatTurn, upload: UploadFile | None, state: GatewayState) -> str | None:
    """The sha256 of the turn's photo (checked and stored when uploaded now), or None."""
    settings = state.settings
    if upload is not None:
        try:
            data = await read_capped(upload, settings.max_upload_bytes)
            ext = await run_in_threadpool(check_image, data, settings.max_image_pixels)
        except UploadTooLarge as exc:
            raise ChatError(413, str(exc)) from exc
        except ImageRejected as exc:
            raise ChatError(415, str(exc)) from exc
        try:
            return await run_in_threadpool(state.uploads.save, data, ext)
        except OSError as exc:
            log.exception("could not store an uploaded photo in %s", state.uploads.root)
            raise ChatError(500, "The photo could not be stored; please try again.") from exc
    if turn.image is not None:
        if state.uploads.find(turn.image) is None:
            raise ChatError(422, "Unknown photo reference: please send the photo again.")
        return turn.image
    return None


async def _audio(upload: UploadFile, state: GatewayState) -> bytes:
    """The voice recording's bytes, at most ``SHOP_MAX_AUDIO_BYTES`` of them (413 beyond)."""
    limit = state.settings.max_audio_bytes
    try:
        return await read_capped(upload, limit)
    except UploadTooLarge as exc:
        raise ChatError(413, too_large_text(limit)) from exc


async def _transcribe(transcriber: Transcriber | None, data: bytes, filename: str | None) -> Transcript:
    """The transcript of a voice recording (blocking transcribers run in a worker thread);
    ChatError: 413/415/422 for unusable audio, 503 when voice is not available."""
    if transcriber is None:
        raise ChatError(503, VOICE_UNAVAILABLE_TEXT)
    try:
        if inspect.iscoroutinefunction(transcriber.transcribe):
            result = await transcriber.transcribe(data, filename)
        else:
            result = await run_in_threadpool(transcriber.transcribe, data, filename)
            if inspect.isawaitable(result):
                result = await result
    except AudioError as exc:
        raise ChatError(getattr(exc, "status", 422), str(exc)) from exc
    except Exception as exc:  # a missing model, a crash in the decoder: never a 500
        log.exception("voice turn: transcription failed")
        raise ChatError(503, VOICE_UNAVAILABLE_TEXT) from exc
    return result


def _heard(transcript: Transcript, said: str, confirm: bool) -> dict[str, Any]:
    """The "I heard" message; with ``confirm``, the question and its Yes / No quick replies."""
    public = transcript.public() if hasattr(transcript, "public") else {
        "text": transcript.text, "language": getattr(transcript, "language", None),
        "confidence": getattr(transcript, "confidence", None)}
    heard = transcript.text.strip()
    if not confirm:
        return {"text": f"I heard: “{heard}”", "transcript": public}
    return {"text": f"I heard: “{heard}”. Did I get that right?", "transcript": public,
            "quick_replies": confirm_replies(said)}


def confirm_replies(said: str) -> list[dict[str, str]]:
    """The answers to "Did I get that right?" about a transcript: Yes (the words go on as a
    turn) and "No, let me type" (``/deny``). Every channel offers the same two."""
    return [{"title": "Yes", "payload": said}, {"title": "No, let me type", "payload": CONFIRM_DENY_PAYLOAD}]


@router.post("/chat", response_model=None)
async def chat(request: Request, state: State) -> JSONResponse:
    """One turn -> Rasa -> ``{"messages": [...], "upload"?: {"sha256", "url"}}``; 503 when Rasa is down."""
    form: FormData | None = None
    heard: dict[str, Any] | None = None
    try:
        turn, upload, audio, form = await _read_turn(request, state)
        text = (turn.text or "").strip() or None
        if text is None and upload is None and turn.image is None and audio is None:
            raise ChatError(422, "Send some text, a photo, or both.")
        recording = await _audio(audio, state) if audio is not None else None
        sha = await _photo(turn, upload, state)
        if audio is not None and recording is not None:
            transcript = await _transcribe(getattr(request.app.state, "transcriber", None), recording,
                                           audio.filename)
            spoken = " ".join(transcript.text.split())
            if not spoken:
                raise ChatError(422, NO_WORDS_TEXT, transcript=_heard(transcript, "", False)["transcript"])
            said = f"{spoken} {text}" if text else spoken  # typed words with the recording follow it
            text = said[:MAX_TEXT_CHARS]
            threshold = state.settings.speech.speech_min_confidence
            confidence = getattr(transcript, "confidence", None)
            confirm = confidence is not None and confidence < threshold
            heard = _heard(transcript, text, confirm)
            log.info("chat turn: sender=%s voice %d bytes -> %d chars, language %s, confidence %s%s",
                     turn.sender, len(recording), len(spoken), getattr(transcript, "language", None) or "?",
                     "?" if confidence is None else f"{confidence:.2f}", " (asking to confirm)" if confirm else "")
            if confirm:
                extra = {"upload": {"sha256": sha, "url": f"/api/uploads/{sha}"}} if sha is not None else {}
                return JSONResponse({"messages": [heard], **extra})
    except ChatError as exc:
        log.info("chat turn refused (%d): %s", exc.status, exc.message)
        return error(exc.status, exc.message, **exc.extra)
    finally:
        if form is not None:
            await form.close()

    extra: dict[str, Any] = {}
    if sha is not None:
        extra["upload"] = {"sha256": sha, "url": f"/api/uploads/{sha}"}
    before = [heard] if heard is not None else []
    log.info("chat turn: sender=%s text_chars=%d photo=%s", turn.sender, len(text or ""), sha or "-")
    try:
        if state.rasa is None:
            raise RasaUnavailable("the gateway has not started its Rasa client")
        outputs = await state.rasa.send(turn.sender, text or PHOTO_ONLY_MESSAGE,
                                        {"image": sha} if sha is not None else None)
    except RasaUnavailable as exc:
        log.warning("Rasa unavailable: %s", exc)
        return JSONResponse({"messages": [*before, {"text": UNAVAILABLE_TEXT}], "error": str(exc), **extra},
                            status_code=503)
    return JSONResponse({"messages": [*before, *translate(outputs, state.products)], **extra})
