"""What the channels need from speech recognition: bytes of a voice message in, words out.

A channel that receives a voice message (Telegram's OGG/Opus ``voice``) hands its bytes to a
:class:`Transcriber` and treats the transcript like typed text. The gateway takes one through
``create_app(..., transcriber=...)``; without one, voice messages are answered with a polite
"please type".

The real one is :class:`nlu.speech.SpeechToText` (Whisper on the CPU); :class:`Transcript` is
defined there (nlu does not import bot) and re-exported here. It raises
:class:`~nlu.speech.AudioError` (message meant for the shopper) on audio it cannot use.
"""
from __future__ import annotations

from typing import Awaitable, Protocol, runtime_checkable

from nlu.speech import AudioError, SpeechToText, Transcript

__all__ = ["AudioError", "SpeechToText", "Transcriber", "Transcript"]


@runtime_checkable
class Transcriber(Protocol):
    """Speech to text. ``filename`` carries the container's extension (``voice.oga``, ``a.mp3``).

    May be blocking (it is then run in a worker thread) or ``async``; it may raise on audio it
    cannot decode, which the channel turns into an apology to the shopper.
    """

    def transcribe(self, data: bytes, filename: str | None = None) -> Transcript | Awaitable[Transcript]: ...
