"""The Telegram channel end to end: the gateway app (fake Rasa) + a Bot API stand-in on loopback."""
from __future__ import annotations

import hashlib
import io
import logging
import os
from pathlib import Path
from typing import Any, Iterator

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from pydantic import SecretStr

from bot.channels import Transcript
from bot.channels.telegram import (EXPIRED_BUTTON_TEXT, SECRET_HEADER, UNSUPPORTED_TEXT, VOICE_EMPTY_TEXT,
                                   VOICE_FAILED_TEXT, VOICE_UNAVAILABLE_TEXT, TelegramConfigError, fit, main,
                                   product_caption, split_text)
from bot.gateway import GatewaySettings, create_app
from bot.gateway.chat import CONFIRM_DENY_PAYLOAD, PHOTO_ONLY_MESSAGE, UNAVAILABLE_TEXT
from nlu.speech import SUPPORTED_TEXT, AudioTooLarge, UnsupportedAudio, too_long_text
from retrieval.catalog import Product
from retrieval.settings import Settings
from tests.telegram_standin import TelegramStandIn
from tests.gateway_fakes import FakeProbe, FakeRasa

TOKEN = "123456:TEST-token_abc"
SECRET = "s3cret-Token_for-tests"
MAX_UPLOAD = 60_000
CHAT = 4242
SENDER = f"telegram:{CHAT}"


# ----------------------------------------------------------------------------------- fakes
class FakeTranscriber:
    def __init__(self, text: str = "red shoes for men", fail: bool | Exception = False,
                 confidence: float = 0.93) -> None:
        self.text, self.fail, self.confidence = text, fail, confidence
        self.calls: list[tuple[bytes, str]] = []

    def transcribe(self, data: bytes, filename: str) -> Transcript:
        self.calls.append((data, filename))
        if isinstance(self.fail, Exception):
            raise self.fail
        if self.fail:
            raise RuntimeError("cannot decode")
        return Transcript(self.text, "en", self.confidence)


def jpeg_bytes(size: tuple[int, int] = (64, 48), color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def noisy_jpeg(min_bytes: int) -> bytes:
    side = 128
    while True:
        buf = io.BytesIO()
        Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(buf, "JPEG", quality=95)
        if buf.tell() >= min_bytes:
            return buf.getvalue()
        side *= 2


def card(pid: str, title: str, brand: str, price: float | None, reason: str, has_image: bool = True) -> dict:
    """A product card as bot/dialogue/cards.py makes it."""
    return {"id": pid, "title": title, "brand": brand, "price": price, "color": "Red", "article_type": "Dresses",
            "gender": "Women", "usage": "Casual", "reason": reason, "has_image": has_image}


def search_outputs(n: int = 3) -> list[dict]:
    """What Rasa's REST channel returns for action_search: header, cards, a question with buttons."""
    cards = [card("p1", "Red Summer Dress", "Acme", 39.9, "red dress, under 50"),
             card("p2", "Plain Tee", "Basic", 9.5, "cheap and red", has_image=False)]
    cards += [card(f"p{i}", f"Dress {i}", "Acme", 20.0 + i, f"reason {i}") for i in range(3, 3 + max(0, n - 2))]
    return [
        {"recipient_id": SENDER, "text": "Here are red dresses under 50:"},
        {"recipient_id": SENDER, "custom": {"products": cards[:n], "weights": {"text": 1.0}}},
        {"recipient_id": SENDER, "text": "Who is it for: women or men?",
         "buttons": [{"title": "Women", "payload": "Women"}, {"title": "Men", "payload": "Men"},
                     {"title": "Don't mind", "payload": "Don't mind"}]},
        {"recipient_id": SENDER, "custom": {"question": {"field": "gender", "text": "Who is it for: women or men?",
                                                         "options": ["Women", "Men"], "kind": "clarify"}}},
    ]


# -------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def standin() -> Iterator[TelegramStandIn]:
    with TelegramStandIn(token=TOKEN) as server:
        yield server


@pytest.fixture
def bot(standin: TelegramStandIn) -> TelegramStandIn:
    standin.reset()
    return standin


@pytest.fixture
def catalog_dir(tmp_path: Path) -> Path:
    root = tmp_path / "catalog"
    (root / "images").mkdir(parents=True)
    for i in range(1, 9):
        (root / "images" / f"p{i}.jpg").write_bytes(jpeg_bytes(color=(20 * i, 30, 30)))
    (tmp_path / "outside.jpg").write_bytes(jpeg_bytes())
    return root


@pytest.fixture
def products(catalog_dir: Path) -> dict[str, Product]:
    items = [Product(id="p1", title="Red Summer Dress", brand="Acme", price=39.9, image="images/p1.jpg"),
             Product(id="p2", title="Plain Tee", brand="Basic", price=9.5, image=None),
             Product(id="p9", title="Escaping", image="../outside.jpg")]
    items += [Product(id=f"p{i}", title=f"Dress {i}", brand="Acme", price=20.0 + i,
                      image=str(catalog_dir / "images" / f"p{i}.jpg")) for i in range(3, 9)]
    return {p.id: p for p in items}


@pytest.fixture
def settings(tmp_path: Path, catalog_dir: Path, standin: TelegramStandIn) -> GatewaySettings:
    return GatewaySettings(
        uploads_dir=tmp_path / "uploads", max_upload_bytes=MAX_UPLOAD, gateway_secret=None, cors_origins=[],
        retrieval=Settings(catalog_dir=catalog_dir, index_dir=tmp_path / "index"),
        telegram_bot_token=SecretStr(TOKEN), telegram_webhook_secret=SecretStr(SECRET),
        telegram_api_url=standin.url + "/")


@pytest.fixture
def rasa() -> FakeRasa:
    return FakeRasa()


@pytest.fixture
def transcriber() -> FakeTranscriber | None:
    return None


@pytest.fixture
def client(settings: GatewaySettings, rasa: FakeRasa, products: dict[str, Product],
           transcriber: FakeTranscriber | None) -> Iterator[TestClient]:
    app = create_app(settings, rasa=rasa, products=products, action_server=FakeProbe(), transcriber=transcriber)
    with TestClient(app) as c:
        yield c


# -------------------------------------------------------------------------------- updates
_ids = iter(range(1000, 10**9))


def message(**fields: Any) -> dict:
    return {"update_id": next(_ids), "message": {
        "message_id": next(_ids), "date": 1700000000, "chat": {"id": CHAT, "type": "private", "first_name": "Ann"},
        "from": {"id": CHAT, "is_bot": False, "first_name": "Ann"}, **fields}}


def photo_sizes(*sizes: tuple[str, int, int, int | None]) -> list[dict]:
    out = []
    for file_id, w, h, size in sizes:
        item = {"file_id": file_id, "file_unique_id": "u" + file_id, "width": w, "height": h}
        if size is not None:
            item["file_size"] = size
        out.append(item)
    return out


def callback(data: str, query_id: str = "cbq-1") -> dict:
    return {"update_id": next(_ids), "callback_query": {
        "id": query_id, "chat_instance": "ci", "data": data, "from": {"id": CHAT, "is_bot": False, "first_name": "Ann"},
        "message": {"message_id": 7, "date": 1700000000, "chat": {"id": CHAT, "type": "private"}, "text": "Who?"}}}


def post(client: TestClient, update: Any, secret: str | None = SECRET, **kwargs: Any):
    headers = {SECRET_HEADER: secret} if secret is not None else {}
    if isinstance(update, (bytes, str)):
        return client.post("/telegram/webhook", content=update, headers={**headers, "content-type": "application/json"})
    return client.post("/telegram/webhook", json=update, headers=headers, **kwargs)


# ------------------------------------------------------------------------------------ text
def test_text_message_gets_text_product_photos_and_question(client: TestClient, bot: TelegramStandIn,
                                                            rasa: FakeRasa, catalog_dir: Path) -> None:
    rasa.outputs = search_outputs(n=7)
    resp = post(client, message(text="  red dress under 50 "))
    assert resp.status_code == 200
    assert rasa.calls == [(SENDER, "red dress under 50", None)]
    assert bot.methods() == ["sendMessage"] + ["sendPhoto", "sendMessage", "sendPhoto", "sendPhoto", "sendPhoto"] \
        + ["sendMessage"]  # header, 5 cards (p2 has no photo: text), the question
    header, *cards, question = bot.calls
    assert header.params == {"chat_id": CHAT, "text": "Here are red dresses under 50:"}

    first = cards[0]
    assert first.multipart and first.params["chat_id"] == str(CHAT)
    assert first.params["caption"] == "Red Summer Dress — Acme — $39.90\nred dress, under 50"
    filename, data, ctype = first.files["photo"]
    assert data == (catalog_dir / "images" / "p1.jpg").read_bytes() and filename == "p1.jpg" and ctype == "image/jpeg"
    assert first.buttons() == [("More like this", "more like number 1")]
    assert cards[1].method == "sendMessage" and cards[1].params["text"] == "Plain Tee — Basic — $9.50\ncheap and red"
    assert cards[1].buttons() == [("More like this", "more like number 2")]
    assert [c.buttons()[0][1] for c in cards] == [f"more like number {i}" for i in range(1, 6)]
    assert cards[4].params["caption"] == "Dress 5 — Acme — $25\nreason 5"

    assert question.params["text"] == "Who is it for: women or men?"
    assert question.buttons() == [("Women", "Women"), ("Men", "Men"), ("Don't mind", "Don't mind")]
    assert question.markup == {"inline_keyboard": [[{"text": "Women", "callback_data": "Women"},
                                                    {"text": "Men", "callback_data": "Men"}],
                                                   [{"text": "Don't mind", "callback_data": "Don't mind"}]]}


def test_callback_query_is_answered_and_its_data_is_the_text(client: TestClient, bot: TelegramStandIn,
                                                             rasa: FakeRasa) -> None:
    rasa.outputs = [{"recipient_id": SENDER, "text": "Here are red dresses for women:"}]
    resp = post(client, callback("Women", query_id="q-77"))
    assert resp.status_code == 200
    assert bot.methods() == ["answerCallbackQuery", "sendMessage"]
    assert bot.calls[0].params == {"callback_query_id": "q-77"}
    assert rasa.calls == [(SENDER, "Women", None)]
    assert bot.calls[1].params["text"] == "Here are red dresses for women:"


def test_long_payloads_get_short_callback_ids(client: TestClient, bot: TelegramStandIn, rasa: FakeRasa) -> None:
    long_payload = "Sports shoes for running on wet mountain trails — " + "é" * 20  # over 64 bytes
    rasa.outputs = [{"recipient_id": SENDER, "text": "Which kind?",
                     "buttons": [{"title": "Trail", "payload": long_payload}, {"title": "Cheaper", "payload": "/cheaper"},
                                 {"title": "A very long button title indeed that goes on", "payload": "cb:sneaky"}]}]
    post(client, message(text="shoes"))
    (sent,) = bot.calls
    buttons = dict(sent.buttons())
    assert buttons["Cheaper"] == "/cheaper"
    assert len(sent.markup["inline_keyboard"]) == 3  # a long title: one button a row
    for title in ("Trail", "A very long button title indeed that goes on"):
        assert buttons[title].startswith("cb:") and len(buttons[title].encode()) <= 64
    assert buttons["Trail"] != buttons["A very long button title indeed that goes on"]

    bot.reset()
    rasa.outputs = [{"recipient_id": SENDER, "text": "ok"}]
    post(client, callback(buttons["Trail"]))
    post(client, callback(buttons["A very long button title indeed that goes on"]))
    assert [c[1] for c in rasa.calls[-2:]] == [long_payload, "cb:sneaky"]

    post(client, callback("cb:" + "0" * 24))  # an id from before a restart
    assert bot.texts()[-1] == EXPIRED_BUTTON_TEXT and len(rasa.calls) == 3


def test_product_info_and_comparison(client: TestClient, bot: TelegramStandIn, rasa: FakeRasa) -> None:
    # action_product_info: text + card + a "More like this" quick reply naming its list position
    rasa.outputs = [{"recipient_id": SENDER, "text": "Number 3: Dress 3 by Acme, $23.",
                     "buttons": [{"title": "More like this", "payload": "more like number 3"}]},
                    {"recipient_id": SENDER, "custom": {"products": [card("p3", "Dress 3", "Acme", 23, "red")]}}]
    post(client, message(text="tell me about number 3"))
    assert bot.methods() == ["sendMessage", "sendPhoto"]
    assert bot.calls[0].markup is None  # the button rides on the photo, not twice
    assert bot.calls[1].buttons() == [("More like this", "more like number 3")]

    bot.reset()
    table = {"columns": ["#1", "#3"], "ids": ["p1", "p3"],
             "rows": [{"label": "Price", "values": ["$39.90", "$23"]}, {"label": "Why it fits", "values": ["a", "b"]}]}
    rasa.outputs = [{"recipient_id": SENDER, "text": " | #1 | #3\nPrice | $39.90 | $23\nWhy it fits | a | b"},
                    {"recipient_id": SENDER, "custom": {"comparison": table, "products": [
                        card("p1", "Red Summer Dress", "Acme", 39.9, "a"), card("p3", "Dress 3", "Acme", 23, "b")]}}]
    post(client, message(text="compare 1 and 3"))
    assert bot.methods() == ["sendMessage", "sendPhoto", "sendPhoto"]
    assert bot.calls[0].params["text"].startswith(" | #1 | #3\nPrice | $39.90 | $23")
    assert [c.buttons()[0][1] for c in bot.calls[1:]] == ["more like number 1", "more like number 3"]

    bot.reset()  # a product whose photo path leaves the catalog folder goes out as text
    rasa.outputs = [{"recipient_id": SENDER, "custom": {"products": [card("p9", "Escaping", "", None, "r")]}}]
    post(client, message(text="show me"))
    assert bot.methods() == ["sendMessage"] and bot.texts() == ["Escaping — price on request\nr"]

    bot.reset()  # a comparison without text is written out
    rasa.outputs = [{"recipient_id": SENDER, "custom": {"comparison": table}}]
    post(client, message(text="compare 1 and 3"))
    assert bot.texts() == [" | #1 | #3\nPrice | $39.90 | $23\nWhy it fits | a | b"]


def test_commands_and_other_messages(client: TestClient, bot: TelegramStandIn, rasa: FakeRasa) -> None:
    post(client, message(text="/start"))
    assert rasa.calls == [(SENDER, "hi", None)]
    post(client, message(text="/help"))
    assert "send a photo" in bot.texts()[-1] and len(rasa.calls) == 1
    bot.reset()
    post(client, message(sticker={"file_id": "st", "width": 1, "height": 1}))
    assert bot.texts() == [UNSUPPORTED_TEXT]
    bot.reset()
    group = message(sticker={"file_id": "st"})
    group["message"]["chat"] = {"id": -100123, "type": "supergroup"}
    post(client, group)  # no chatter in groups
    post(client, message(text="x" * 1001))
    assert bot.texts() == ["That message is too long for me: please keep it under 1000 characters."]
    assert len(rasa.calls) == 1


# ---------------------------------------------------------------------------------- photos
def test_photo_largest_size_is_fetched_stored_and_hashed(client: TestClient, bot: TelegramStandIn, rasa: FakeRasa,
                                                         settings: GatewaySettings) -> None:
    small, large = jpeg_bytes((90, 67)), jpeg_bytes((320, 240))
    bot.add_file("ph-s", small, "photos/file_1.jpg")
    bot.add_file("ph-l", large, "photos/file_2.jpg")
    sha = hashlib.sha256(large).hexdigest()
    sizes = photo_sizes(("ph-s", 90, 67, len(small)), ("ph-l", 320, 240, len(large)))
    assert post(client, message(photo=list(reversed(sizes)))).status_code == 200
    assert bot.calls[0].method == "getFile" and bot.calls[0].params == {"file_id": "ph-l"}
    assert bot.downloads == ["photos/file_2.jpg"]
    assert rasa.calls == [(SENDER, PHOTO_ONLY_MESSAGE, {"image": sha})]
    assert sorted(p.name for p in settings.uploads_dir.iterdir()) == [f"{sha}.jpg"]
    assert (settings.uploads_dir / f"{sha}.jpg").read_bytes() == large

    post(client, message(photo=sizes, caption="like this but in blue"))
    assert rasa.calls[-1] == (SENDER, "like this but in blue", {"image": sha})
    assert sorted(p.name for p in settings.uploads_dir.iterdir()) == [f"{sha}.jpg"]  # stored once

    # a photo sent as a file (document) is a photo too; PNG keeps its extension
    buf = io.BytesIO()
    Image.new("RGB", (30, 30), (0, 0, 255)).save(buf, "PNG")
    bot.add_file("doc-1", buf.getvalue(), "documents/file_3.png")
    post(client, message(document={"file_id": "doc-1", "file_name": "a.png", "mime_type": "image/png"}))
    png_sha = hashlib.sha256(buf.getvalue()).hexdigest()
    assert rasa.calls[-1] == (SENDER, PHOTO_ONLY_MESSAGE, {"image": png_sha})
    assert (settings.uploads_dir / f"{png_sha}.png").is_file()


def test_photo_over_the_cap_falls_back_or_is_refused(client: TestClient, bot: TelegramStandIn, rasa: FakeRasa,
                                                     settings: GatewaySettings) -> None:
    big = noisy_jpeg(MAX_UPLOAD + 1)
    small = jpeg_bytes((90, 67))
    bot.add_file("big", big, "photos/big.jpg")
    bot.add_file("small", small, "photos/small.jpg")
    # the largest size is over the cap (declared): the largest within it is used
    post(client, message(photo=photo_sizes(("small", 90, 67, len(small)), ("big", 1280, 960, len(big)))))
    assert bot.calls[0].params == {"file_id": "small"} and bot.downloads == ["photos/small.jpg"]
    assert rasa.calls == [(SENDER, PHOTO_ONLY_MESSAGE, {"image": hashlib.sha256(small).hexdigest()})]

    bot.reset()
    rasa.calls.clear()
    # every size over the cap: refused without asking Telegram
    post(client, message(photo=photo_sizes(("big", 1280, 960, len(big)))))
    assert bot.methods() == ["sendMessage"] and "too large" in bot.texts()[0]
    # no size in the update, but getFile says it is over: refused before the download
    post(client, message(photo=photo_sizes(("big", 1280, 960, None))))
    assert bot.methods() == ["sendMessage", "getFile", "sendMessage"] and bot.downloads == []
    # nobody says how large it is: the download stops at the cap
    bot.add_file("big-quiet", big, "photos/big-quiet.jpg", declared_size=None)
    post(client, message(photo=photo_sizes(("big-quiet", 1280, 960, None))))
    assert bot.downloads == ["photos/big-quiet.jpg"]
    assert all("The photo is too large: at most" in t for t in bot.texts())
    assert rasa.calls == []
    assert sorted(p.name for p in settings.uploads_dir.iterdir()) == [hashlib.sha256(small).hexdigest() + ".jpg"]


@pytest.mark.parametrize("data, needle", [
    (b"this is a text file, not a photo\n" * 20, "not a supported image"),
    (jpeg_bytes((400, 300))[:1500], "damaged or incomplete"),
])
def test_non_image_photo_is_refused(client: TestClient, bot: TelegramStandIn, rasa: FakeRasa,
                                    settings: GatewaySettings, data: bytes, needle: str) -> None:
    bot.add_file("bad", data, "photos/bad.jpg")
    assert post(client, message(photo=photo_sizes(("bad", 400, 300, len(data))), caption="like this")).status_code == 200
    assert bot.methods() == ["getFile", "sendMessage"]
    assert needle in bot.texts()[0]
    assert rasa.calls == []
    assert not settings.uploads_dir.exists() or not any(settings.uploads_dir.iterdir())


def test_unknown_file_is_an_apology(client: TestClient, bot: TelegramStandIn, rasa: FakeRasa) -> None:
    post(client, message(photo=photo_sizes(("gone", 100, 100, 100))))
    assert bot.methods() == ["getFile", "sendMessage"]
    assert "couldn't fetch" in bot.texts()[0] and rasa.calls == []


# ----------------------------------------------------------------------------------- voice
def test_voice_without_a_transcriber_is_politely_refused(client: TestClient, bot: TelegramStandIn,
                                                         rasa: FakeRasa) -> None:
    bot.add_file("v1", b"OggS fake opus", "voice/file_7.oga")
    post(client, message(voice={"file_id": "v1", "file_unique_id": "uv1", "duration": 2, "mime_type": "audio/ogg"}))
    assert bot.texts() == [VOICE_UNAVAILABLE_TEXT] and bot.methods() == ["sendMessage"]
    assert rasa.calls == []


@pytest.mark.parametrize("transcriber", [FakeTranscriber()])
def test_voice_with_a_transcriber_is_heard_then_searched(client: TestClient, bot: TelegramStandIn, rasa: FakeRasa,
                                                         transcriber: FakeTranscriber) -> None:
    audio = b"OggS" + bytes(range(256)) * 4
    bot.add_file("v2", audio, "voice/file_8.oga")
    rasa.outputs = [{"recipient_id": SENDER, "text": "Here are red shoes for men:"}]
    post(client, message(voice={"file_id": "v2", "duration": 3, "mime_type": "audio/ogg", "file_size": len(audio)}))
    assert bot.methods() == ["getFile", "sendMessage", "sendMessage"]
    assert transcriber.calls == [(audio, "file_8.oga")]
    assert bot.texts() == ["I heard: red shoes for men", "Here are red shoes for men:"]
    assert rasa.calls == [(SENDER, "red shoes for men", None)]


@pytest.mark.parametrize("transcriber, expected", [(FakeTranscriber(fail=True), VOICE_FAILED_TEXT),
                                                   (FakeTranscriber(text="  "), VOICE_EMPTY_TEXT)])
def test_voice_that_cannot_be_understood(client: TestClient, bot: TelegramStandIn, rasa: FakeRasa,
                                         transcriber: FakeTranscriber, expected: str) -> None:
    bot.add_file("v3", b"OggS...", "voice/file_9.oga")
    post(client, message(voice={"file_id": "v3", "duration": 1}))
    assert bot.texts() == [expected] and rasa.calls == []


@pytest.mark.parametrize("transcriber", [FakeTranscriber(fail=UnsupportedAudio(SUPPORTED_TEXT)),
                                         FakeTranscriber(fail=AudioTooLarge(too_long_text(30)))])
def test_unusable_audio_gets_the_reason(client: TestClient, bot: TelegramStandIn, rasa: FakeRasa,
                                        transcriber: FakeTranscriber) -> None:
    bot.add_file("v4", b"RIFF....", "voice/file_10.oga")
    post(client, message(voice={"file_id": "v4", "duration": 1}))
    assert bot.texts() == [str(transcriber.fail)] and rasa.calls == []


@pytest.mark.parametrize("transcriber", [FakeTranscriber(text="melt in red", confidence=0.31)])
def test_an_unsure_transcript_is_confirmed_before_searching(client: TestClient, bot: TelegramStandIn,
                                                            rasa: FakeRasa, transcriber: FakeTranscriber) -> None:
    bot.add_file("v5", b"OggS unsure", "voice/file_11.oga")
    post(client, message(voice={"file_id": "v5", "duration": 2}))
    assert bot.texts() == ["I heard: melt in red. Did I get that right?"] and rasa.calls == []
    assert bot.calls[-1].buttons() == [("Yes", "melt in red"), ("No, let me type", CONFIRM_DENY_PAYLOAD)]
    rasa.outputs = [{"recipient_id": SENDER, "text": "Here is what I found:"}]
    post(client, callback("melt in red"))  # "Yes": the words go on as a turn
    assert rasa.calls == [(SENDER, "melt in red", None)]


# ------------------------------------------------------------------------- refusals, errors
@pytest.mark.parametrize("secret", [None, "", "wrong", SECRET + "x", SECRET.upper()])
def test_wrong_or_missing_secret_is_401_and_nothing_happens(client: TestClient, bot: TelegramStandIn,
                                                            rasa: FakeRasa, secret: str | None) -> None:
    resp = post(client, message(text="hi"), secret=secret)
    assert resp.status_code == 401
    resp = post(client, b"{not json", secret=secret)
    assert resp.status_code == 401
    assert bot.calls == [] and rasa.calls == []


def test_rasa_down_is_an_apology_and_200(client: TestClient, bot: TelegramStandIn, rasa: FakeRasa) -> None:
    rasa.down = True
    assert post(client, message(text="red dress")).status_code == 200
    assert post(client, callback("Women")).status_code == 200
    assert bot.texts() == [UNAVAILABLE_TEXT, UNAVAILABLE_TEXT]
    assert bot.methods() == ["sendMessage", "answerCallbackQuery", "sendMessage"]


@pytest.mark.parametrize("body", [
    b"{not json", b"", b"[1, 2]", b'"text"', b"null", b'{"message": {"text": "no update_id"}}',
    b'{"update_id": 5, "message": {"text": "no chat"}}', b'{"update_id": 5, "message": "hello"}',
    b'{"update_id": "x"}', b'{"update_id": 6, "callback_query": {"data": "no id"}}',
    b'{"update_id": 7, "message": {"chat": {"id": 1}, "photo": [{"width": 1}]}}', b"\xff\xfe\x00",
    b"[" * 200_000 + b"]" * 200_000,
])
def test_malformed_update_is_400(client: TestClient, bot: TelegramStandIn, rasa: FakeRasa, body: bytes) -> None:
    resp = post(client, body)
    assert resp.status_code == 400, resp.text
    assert "error" in resp.json()
    assert bot.calls == [] and rasa.calls == []


def test_other_update_kinds_and_repeats_are_200_without_calls(client: TestClient, bot: TelegramStandIn,
                                                              rasa: FakeRasa) -> None:
    for kind in ("edited_message", "channel_post", "my_chat_member", "inline_query"):
        update = {"update_id": next(_ids), kind: {"id": "1", "chat": {"id": CHAT, "type": "private"}, "date": 1}}
        assert post(client, update).status_code == 200
    assert post(client, {"update_id": next(_ids)}).status_code == 200
    assert bot.calls == [] and rasa.calls == []
    update = message(text="red dress")
    for _ in range(2):  # Telegram delivers again when it did not see the 200 in time
        assert post(client, update).status_code == 200
    assert len(rasa.calls) == 1


def test_bot_api_errors_never_crash(client: TestClient, bot: TelegramStandIn, rasa: FakeRasa,
                                    caplog: pytest.LogCaptureFixture) -> None:
    rasa.outputs = search_outputs(n=1)
    bot.fail["sendPhoto"] = (400, "Bad Request: PHOTO_INVALID_DIMENSIONS")
    with caplog.at_level(logging.WARNING, logger="bot.channels"):
        assert post(client, message(text="red dress")).status_code == 200
    # the photo Telegram refused goes out as text, with its button
    assert bot.methods() == ["sendMessage", "sendPhoto", "sendMessage", "sendMessage"]
    assert bot.calls[2].params["text"].startswith("Red Summer Dress — Acme — $39.90")
    assert bot.calls[2].buttons() == [("More like this", "more like number 1")]
    assert "PHOTO_INVALID_DIMENSIONS" in caplog.text

    bot.reset()
    rasa.outputs = [{"recipient_id": SENDER, "text": "Here are red dresses for women:"}]
    bot.fail["sendMessage"] = (403, "Forbidden: bot was blocked by the user")
    bot.fail["answerCallbackQuery"] = (400, "Bad Request: query is too old")
    assert post(client, callback("Women")).status_code == 200
    assert bot.methods() == ["answerCallbackQuery", "sendMessage"]


def test_token_is_never_logged(client: TestClient, bot: TelegramStandIn, rasa: FakeRasa,
                               caplog: pytest.LogCaptureFixture) -> None:
    photo = jpeg_bytes()
    bot.add_file("ph", photo, "photos/file_1.jpg")
    rasa.outputs = search_outputs(n=2)
    with caplog.at_level(logging.DEBUG):
        post(client, message(photo=photo_sizes(("ph", 64, 48, len(photo))), caption="secret words"))
        post(client, message(text="hi"), secret="wrong")
    assert "HTTP Request" in caplog.text  # httpx logged its requests, redacted
    assert TOKEN not in caplog.text and TOKEN.split(":")[1] not in caplog.text
    assert SECRET not in caplog.text and "secret words" not in caplog.text


# ----------------------------------------------------------------------------- configuration
def test_configuration(settings: GatewaySettings, rasa: FakeRasa, products: dict[str, Product],
                       monkeypatch: pytest.MonkeyPatch) -> None:
    for secret in (None, "has spaces", "x" * 257):
        bad = settings.model_copy(update={"telegram_webhook_secret": SecretStr(secret) if secret else None})
        with pytest.raises(TelegramConfigError) as info:
            create_app(bad, rasa=rasa, products=products, action_server=FakeProbe())
        assert "SHOP_TELEGRAM_WEBHOOK_SECRET" in str(info.value)
        assert TOKEN not in str(info.value) and (secret is None or secret not in str(info.value))
    off = settings.model_copy(update={"telegram_bot_token": None})
    with TestClient(create_app(off, rasa=rasa, products=products, action_server=FakeProbe())) as c:
        assert post(c, message(text="hi")).status_code == 404  # not mounted without a token
    monkeypatch.setenv("SHOP_TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("SHOP_TELEGRAM_WEBHOOK_SECRET", "")
    monkeypatch.setenv("SHOP_TELEGRAM_API_URL", "http://127.0.0.1:1/")
    s = GatewaySettings()
    assert s.telegram_bot_token is not None and s.telegram_webhook_secret is None
    assert s.telegram_api_url == "http://127.0.0.1:1" and TOKEN not in repr(s)
    monkeypatch.setenv("SHOP_TELEGRAM_BOT_TOKEN", "")
    assert GatewaySettings().telegram_bot_token is None


def test_set_webhook_command(bot: TelegramStandIn, monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("SHOP_TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("SHOP_TELEGRAM_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("SHOP_TELEGRAM_API_URL", bot.url)
    url = "https://shop.example/telegram/webhook"
    assert main(["set-webhook", "--url", url]) == 0
    (call,) = bot.calls
    assert call.method == "setWebhook"
    assert call.params == {"url": url, "secret_token": SECRET, "allowed_updates": ["message", "callback_query"],
                           "drop_pending_updates": False}
    assert url in capsys.readouterr().out
    assert main(["webhook-info"]) == 0 and url in capsys.readouterr().out

    bot.fail["setWebhook"] = (400, "Bad Request: bad webhook: HTTPS url must be provided for webhook")
    assert main(["set-webhook", "--url", url]) == 1
    err = capsys.readouterr().err
    assert "HTTPS url must be provided" in err and TOKEN not in err
    with pytest.raises(SystemExit):
        main(["set-webhook", "--url", "http://shop.example/telegram/webhook"])
    monkeypatch.setenv("SHOP_TELEGRAM_WEBHOOK_SECRET", "")
    with pytest.raises(SystemExit) as info:
        main(["set-webhook", "--url", url])
    assert "SHOP_TELEGRAM_WEBHOOK_SECRET" in str(info.value.code)


# ---------------------------------------------------------------------------------- helpers
def test_text_limits() -> None:
    assert fit("short", 10) == "short"
    cut = fit("😀" * 600, 1024)  # emoji count twice in Telegram's UTF-16 length
    assert cut.endswith("…") and len(cut.encode("utf-16-le")) // 2 <= 1024
    caption = product_caption({"id": "x", "title": "T" * 2000, "brand": None, "price": None, "why": "w"})
    assert len(caption) <= 1024 and caption.endswith("…")
    assert product_caption({"id": "7", "title": None, "brand": "B", "price": 5, "why": ""}) == \
        "Product 7 — B — $5"
    lines = "\n".join(f"line {i:04d} " + "x" * 80 for i in range(200))
    pieces = split_text(lines)
    assert len(pieces) > 1 and all(len(p) <= 4096 for p in pieces)
    assert "\n".join(pieces) == lines
    assert split_text("hello") == ["hello"]
