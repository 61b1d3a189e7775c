"""Voice turns through the gateway (POST /api/chat with an ``audio`` part).

The fast tests use a fake transcriber; one slow test runs the real Whisper model on a clip made
with espeak-ng.
"""
from __future__ import annotations

import asyncio
import io
import shutil
import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from bot.channels.voice import Transcriber, Transcript
from bot.gateway import GatewaySettings, create_app
from bot.gateway.chat import CONFIRM_DENY_PAYLOAD, UNAVAILABLE_TEXT, VOICE_UNAVAILABLE_TEXT
from nlu.speech import NO_WORDS_TEXT, AudioError, AudioTooLarge, SpeechModelError, SpeechSettings, UnsupportedAudio
from retrieval.catalog import Product
from retrieval.settings import Settings
from tests.gateway_fakes import FakeProbe, FakeRasa

WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 64  # the fake transcriber never decodes it
MAX_AUDIO = 50_000




class FakeTranscriber:
    """Answers with ``transcript`` or raises ``error``; records what it was given."""

    def __init__(self, transcript: Transcript | None = None, error: Exception | None = None) -> None:
        self.transcript = transcript or Transcript("black leather wallet under $40", "en", 0.9)
        self.error = error
        self.calls: list[tuple[int, str | None]] = []

    def transcribe(self, data: bytes, filename: str | None = None) -> Transcript:
        self.calls.append((len(data), filename))
        if self.error is not None:
            raise self.error
        return self.transcript


class AsyncTranscriber(FakeTranscriber):
    async def transcribe(self, data: bytes, filename: str | None = None) -> Transcript:  # type: ignore[override]
        await asyncio.sleep(0)
        return super().transcribe(data, filename)


def jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 24), (10, 20, 200)).save(buf, "JPEG")
    return buf.getvalue()


@pytest.fixture
def settings(tmp_path: Path) -> GatewaySettings:
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    return GatewaySettings(
        uploads_dir=tmp_path / "uploads", max_upload_bytes=60_000, gateway_secret=None, cors_origins=[],
        retrieval=Settings(catalog_dir=catalog, index_dir=tmp_path / "index"),
        speech=SpeechSettings(max_audio_bytes=MAX_AUDIO, speech_min_confidence=0.5))


@pytest.fixture
def rasa() -> FakeRasa:
    return FakeRasa([{"recipient_id": "x", "text": "Here you go."}])


@pytest.fixture
def transcriber() -> FakeTranscriber | None:
    return FakeTranscriber()


@pytest.fixture
def client(settings: GatewaySettings, rasa: FakeRasa, transcriber: FakeTranscriber | None):
    products = {"p1": Product(id="p1", title="Black Wallet", price=30.0)}
    app = create_app(settings, rasa=rasa, products=products, action_server=FakeProbe(), transcriber=transcriber)
    with TestClient(app) as c:
        yield c


def post_voice(client: TestClient, audio: bytes = WAV, name: str = "voice.wav", **data: str):
    return client.post("/api/chat", data={"sender": "s1", **data}, files={"audio": (name, audio, "audio/wav")})


# ------------------------------------------------------------------------------------ heard
def test_fake_transcriber_is_a_transcriber() -> None:
    assert isinstance(FakeTranscriber(), Transcriber)


@pytest.mark.parametrize("transcriber", [FakeTranscriber(), AsyncTranscriber()])
def test_voice_turn_says_what_it_heard_then_rasa_answers(client: TestClient, rasa: FakeRasa,
                                                         transcriber: FakeTranscriber) -> None:
    resp = post_voice(client, name="note.webm")
    assert resp.status_code == 200, resp.text
    messages = resp.json()["messages"]
    assert messages[0] == {"text": "I heard: “black leather wallet under $40”",
                           "transcript": {"text": "black leather wallet under $40", "language": "en",
                                          "confidence": 0.9}}
    assert messages[1]["text"] == "Here you go."
    assert rasa.calls == [("s1", "black leather wallet under $40", None)]
    assert transcriber.calls == [(len(WAV), "note.webm")]


def test_voice_with_a_photo_and_typed_words(client: TestClient, rasa: FakeRasa) -> None:
    resp = client.post("/api/chat", data={"sender": "s1", "text": "in blue"},
                       files={"audio": ("v.ogg", WAV, "audio/ogg"), "image": ("p.jpg", jpeg(), "image/jpeg")})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    sha = body["upload"]["sha256"]
    assert rasa.calls == [("s1", "black leather wallet under $40 in blue", {"image": sha})]
    assert body["messages"][0]["text"].startswith("I heard: “black leather wallet")


@pytest.mark.parametrize("transcriber", [FakeTranscriber(Transcript("black leather wallet", "en", 0.31))])
def test_low_confidence_asks_before_searching(client: TestClient, rasa: FakeRasa) -> None:
    resp = post_voice(client)
    assert resp.status_code == 200
    (message,) = resp.json()["messages"]
    assert message["text"] == "I heard: “black leather wallet”. Did I get that right?"
    assert message["transcript"] == {"text": "black leather wallet", "language": "en", "confidence": 0.31}
    assert message["quick_replies"] == [{"title": "Yes", "payload": "black leather wallet"},
                                        {"title": "No, let me type", "payload": CONFIRM_DENY_PAYLOAD}]
    assert rasa.calls == []  # nothing searched; "Yes" sends the words back as a typed turn
    resp = client.post("/api/chat", json={"sender": "s1", "text": message["quick_replies"][0]["payload"]})
    assert resp.status_code == 200 and rasa.calls == [("s1", "black leather wallet", None)]


@pytest.mark.parametrize("transcriber", [FakeTranscriber(Transcript("red heels", "en", None))])
def test_no_confidence_is_trusted(client: TestClient, rasa: FakeRasa) -> None:
    resp = post_voice(client)
    assert resp.status_code == 200 and rasa.calls == [("s1", "red heels", None)]
    assert resp.json()["messages"][0]["transcript"]["confidence"] is None


def test_rasa_down_after_hearing(client: TestClient, rasa: FakeRasa) -> None:
    rasa.down = True
    resp = post_voice(client)
    assert resp.status_code == 503
    texts = [m["text"] for m in resp.json()["messages"]]
    assert texts[0].startswith("I heard:") and texts[1] == UNAVAILABLE_TEXT


# ------------------------------------------------------------------------------------ errors
@pytest.mark.parametrize("transcriber, status, needle", [
    (FakeTranscriber(error=UnsupportedAudio("That file is not a recording I can play.")), 415, "not a recording"),
    (FakeTranscriber(error=AudioTooLarge("That voice message is too long")), 413, "too long"),
    (FakeTranscriber(error=AudioError("The voice message is empty.")), 422, "empty"),
    (FakeTranscriber(Transcript("  ", "en", 0.0)), 422, NO_WORDS_TEXT),
    (FakeTranscriber(error=SpeechModelError("package missing")), 503, VOICE_UNAVAILABLE_TEXT),
    (FakeTranscriber(error=RuntimeError("decoder crashed")), 503, VOICE_UNAVAILABLE_TEXT),
    (None, 503, VOICE_UNAVAILABLE_TEXT),
])
def test_audio_errors_are_clear_and_never_500(client: TestClient, rasa: FakeRasa, status: int, needle: str) -> None:
    resp = post_voice(client)
    assert resp.status_code == status, resp.text
    assert needle in resp.json()["error"]
    assert rasa.calls == []


def test_too_large_recording_is_413_before_transcribing(client: TestClient, rasa: FakeRasa,
                                                        transcriber: FakeTranscriber) -> None:
    resp = post_voice(client, audio=WAV + b"\x00" * MAX_AUDIO)
    assert resp.status_code == 413 and "too large" in resp.json()["error"]
    assert transcriber.calls == [] and rasa.calls == []


def test_audio_must_be_a_file_and_only_one(client: TestClient, rasa: FakeRasa) -> None:
    resp = client.post("/api/chat", data={"sender": "s1", "audio": "hello"})
    assert resp.status_code == 422 and "audio must be a file" in resp.json()["error"]
    resp = client.post("/api/chat", data={"sender": "s1"},
                       files=[("audio", ("a.wav", WAV, "audio/wav")), ("audio", ("b.wav", WAV, "audio/wav"))])
    assert resp.status_code == 400 and resp.json()["error"].startswith("Malformed form data")
    assert rasa.calls == []


def test_empty_audio_part_is_ignored_like_an_empty_photo_part(client: TestClient, rasa: FakeRasa,
                                                              transcriber: FakeTranscriber) -> None:
    resp = client.post("/api/chat", data={"sender": "s1", "text": "red heels"},
                       files={"audio": ("", b"", "application/octet-stream")})
    assert resp.status_code == 200 and rasa.calls == [("s1", "red heels", None)]
    assert transcriber.calls == []


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOP_MAX_AUDIO_BYTES", "123456")
    monkeypatch.setenv("SHOP_MAX_AUDIO_SECONDS", "12")
    monkeypatch.setenv("SHOP_SPEECH_MODEL", "/models/whisper-small")
    monkeypatch.setenv("SHOP_SPEECH_COMPUTE_TYPE", "float32")
    monkeypatch.setenv("SHOP_SPEECH_MIN_CONFIDENCE", "0.7")
    monkeypatch.setenv("SHOP_SPEECH_LANGUAGES", "en, hi")
    s = GatewaySettings()
    assert s.max_audio_bytes == 123456 and s.speech.max_audio_seconds == 12
    assert s.speech.speech_model == "/models/whisper-small" and s.speech.speech_compute_type == "float32"
    assert s.speech.speech_min_confidence == 0.7 and s.speech.speech_languages == ["en", "hi"]


# ------------------------------------------------------------------------------------ real model
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("espeak-ng") is None or shutil.which("sox") is None,
                    reason="needs espeak-ng and sox")
def test_real_transcriber_through_the_gateway(tmp_path: Path, settings: GatewaySettings, rasa: FakeRasa) -> None:
    from nlu.speech import SpeechToText, word_error_rate

    raw, wav = tmp_path / "raw.wav", tmp_path / "q.wav"
    subprocess.run(["espeak-ng", "-w", str(raw), "black leather wallet under forty dollars"], check=True)
    subprocess.run(["sox", str(raw), "-r", "16000", "-c", "1", str(wav)], check=True)
    settings = settings.model_copy(update={"speech": SpeechSettings(speech_min_confidence=0.3)})  # default limits
    app = create_app(settings, rasa=rasa, products={}, action_server=FakeProbe(), transcriber=SpeechToText())
    with TestClient(app) as c:
        resp = c.post("/api/chat", data={"sender": "s1"}, files={"audio": ("q.wav", wav.read_bytes(), "audio/wav")})
        assert resp.status_code == 200, resp.text
        heard = resp.json()["messages"][0]["transcript"]
        assert heard["language"] == "en" and 0.3 <= heard["confidence"] <= 1, heard
        assert word_error_rate("black leather wallet under forty dollars", heard["text"]) <= 0.34
        assert rasa.calls and rasa.calls[0][1] == heard["text"]
        resp = c.post("/api/chat", data={"sender": "s1"},
                      files={"audio": ("photo.wav", jpeg(), "audio/wav")})  # a photo renamed .wav
        assert resp.status_code == 415 and "not a recording" in resp.json()["error"]
