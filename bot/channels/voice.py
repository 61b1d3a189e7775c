"""What the channels need from speech recognition: bytes of a voice message in, words out.

A channel that receives a voice message (Telegram's OGG/Opus ``voice``) hands its bytes to a
:class:`Transcriber` and treats the transcript like typed text. The gateway takes one through
``create_app(..., transcriber=...)``; without one, voice messages are answered with a polite
"please type".
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Awaitable, Protocol, runtime_checkable


@dataclass(frozen=True)
class Transcript:
    """What was said: the text, the detected language (e.g. "en") and a confidence in [0, 1]
    (None when the recognizer gives none)."""

    text: str
    language: str | None = None
    confidence: float | None = None


@runtime_checkable
class Transcriber(Protocol):
    """Speech to text. ``filename`` carries the container's extension (``voice.oga``, ``a.mp3``).

    May be blocking (it is then run in a worker thread) or ``async``; it may raise on audio it
    cannot decode, which the channel turns into an apology to the shopper.
    """

    def transcribe(self, data: bytes, filename: str) -> Transcript | Awaitable[Transcript]: ...
