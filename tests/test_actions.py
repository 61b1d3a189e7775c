"""The shop's actions run like Rasa runs them (Tracker in, events out), on the tiny catalog with
the real search engine over fake encoders; no server."""
from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
from PIL import Image

from bot.actions import ACTIONS
from bot.dialogue.base import Services
from bot.dialogue.photos import PhotoStore
from tests.dialogue_fakes import Conversation
from tests.fixtures import COLOR_RGB


@pytest.fixture
def uploads(tmp_path: Path) -> Path:
    folder = tmp_path / "uploads"
    folder.mkdir()
    return folder


@pytest.fixture
def chat(engine, uploads) -> Conversation:
    services = Services(engine, PhotoStore(uploads), show=6, candidates=20)
    return Conversation({cls(services).name(): cls(services) for cls in ACTIONS})


def by_id(engine, pid: str):
    return engine.index.get(pid)


def store_photo(folder: Path, color: str) -> str:
    buf = io.BytesIO()
    Image.new("RGB", (60, 80), COLOR_RGB[color]).save(buf, "JPEG")
    data = buf.getvalue()
    sha = hashlib.sha256(data).hexdigest()
    (folder / f"{sha}.jpg").write_bytes(data)
    return sha


def test_search_then_refine_keeps_what_was_said(chat, engine):
    chat.say("show me tshirts", "search")
    first = chat.products()
    assert first and all(p["article_type"] == "Tshirts" for p in first)
    assert chat.slots["article_type"] == ["Tshirts"] and chat.slots["shown"] == [p["id"] for p in first]

    chat.say("in blue", "search")
    assert chat.slots["color"] == ["Blue"] and chat.slots["article_type"] == ["Tshirts"]
    assert {p["id"] for p in chat.products()} == {"1003"}  # the only blue tshirt

    chat.say("for men", "search")  # nothing left: relaxed, and said so
    assert chat.slots["gender"] == ["Men"]
    assert "Nothing matches" in chat.text()
    assert all(p["article_type"] == "Tshirts" for p in chat.products())


def test_every_card_has_a_reason(chat):
    chat.say("black shoes for men", "search")
    cards = chat.products()
    assert cards and all(c["reason"] for c in cards)
    assert cards[0]["id"] == "1013" and "Black" in cards[0]["reason"]


def test_exclusions_add_up_and_price_is_a_number(chat):
    chat.say("shoes under 150", "search")
    assert chat.slots["max_price"] == 150.0 and isinstance(chat.slots["max_price"], float)
    chat.say("not Nike", "search")
    chat.say("no white", "search")
    assert set(chat.slots["excluded"]) == {"brand:Nike", "color:White"}
    ids = {p["id"] for p in chat.products()}
    assert ids and not ids & {"1013", "1015"}  # the Nike and the white pair are gone


def test_cheaper_moves_the_price_below_what_was_shown(chat):
    chat.say("shoes", "search")
    shown = [p["price"] for p in chat.products()]
    chat.say("cheaper", "search")
    cap = chat.slots["max_price"]
    assert cap is not None and cap < max(shown)
    assert all(p["price"] <= cap for p in chat.products())
    chat.say("more expensive", "search")
    assert chat.slots["min_price"] is not None and chat.slots["max_price"] is None


def test_a_new_kind_of_product_starts_afresh_but_keeps_who_it_is_for(chat):
    chat.say("red tshirts for men", "search")
    chat.say("show me watches", "search")
    assert chat.slots["article_type"] == ["Watches"]
    assert chat.slots["color"] is None and chat.slots["gender"] == ["Men"]
    assert [p["id"] for p in chat.products()][0] == "1021"


def test_product_info_and_compare_use_the_shown_list(chat, engine):
    chat.say("watches", "search")
    shown = chat.slots["shown"]
    msgs = chat.say("tell me about number 2", "product_info")
    assert by_id(engine, shown[1]).title in chat.text(msgs)
    assert chat.slots["focus"] == shown[1]
    assert chat.products()[0]["id"] == shown[1]

    chat.say("compare 1 and 2", "compare")
    table = next(m["custom"]["comparison"] for m in chat.replies[-1] if m["custom"].get("comparison"))
    assert table["ids"] == shown[:2]
    labels = [r["label"] for r in table["rows"]]
    assert {"Price", "Colour", "Brand", "Type", "Why it fits"} <= set(labels)


def test_pointing_outside_the_list_is_explained(chat):
    chat.say("watches", "search")
    n = len(chat.slots["shown"])
    chat.say("tell me about number 9", "product_info")
    assert f"from 1 to {n}" in chat.text()
    chat.say("compare them", "compare")
    assert any(m["custom"].get("comparison") for m in chat.replies[-1])


def test_asking_about_results_before_any_search(chat):
    chat.say("the second one", "product_info")
    assert "haven't shown" in chat.text()


def test_more_like_anchors_on_the_pointed_product(chat):
    chat.say("tshirts", "search")
    first = chat.slots["shown"][0]
    chat.say("more like the first", "more_like")
    assert chat.slots["reference"] == first
    ids = [p["id"] for p in chat.products()]
    assert ids and first not in ids


def test_start_over_clears_everything(chat):
    chat.say("red tshirts under 30 not Puma", "search")
    chat.say("start over", "start_over")
    assert all(v is None for v in chat.slots.values())


def test_vague_request_gets_one_question_with_real_values(chat, engine):
    chat.say("something casual", "search")
    q = chat.question()
    assert q is not None and q["kind"] == "clarify"
    assert q["field"] in ("article_type", "gender", "color")
    assert chat.slots["pending_question"] == q["field"] and q["field"] in chat.slots["asked"]
    titles = [b["title"] for b in q["buttons"]]
    assert titles[-1] == "Don't mind" and len(titles) >= 3
    # the options are values that the candidates really have
    casual = {getattr(p, q["field"]) for p in engine.index.products if p and p.usage == "Casual"}
    assert set(titles[:-1]) <= casual

    chat.say("don't mind", "dont_mind")
    assert chat.slots["pending_question"] in (None, *[f for f in ("article_type", "gender", "color", "usage")
                                                        if f != q["field"]])
    asked = chat.slots["asked"]
    assert asked.count(q["field"]) == 1  # never the same question twice


def test_answering_the_question_sets_the_value(chat):
    chat.say("something casual", "search")
    q = chat.question()
    answer = q["options"][0]
    chat.say(answer, "search")
    assert chat.slots[q["field"]] and answer in chat.slots[q["field"]]
    assert q["field"] in chat.slots["asked"]


def test_a_specific_request_gets_no_question(chat):
    chat.say("black sports shoes for men", "search")
    assert chat.question() is None


def test_photo_search_and_words_on_top(chat, uploads):
    sha = store_photo(uploads, "Red")
    chat.say("/find_photo", "find_photo", metadata={"image": sha})
    assert chat.slots["photo"] == sha
    assert chat.products()
    chat.say("in blue", "search")
    assert chat.slots["photo"] == sha and chat.slots["color"] == ["Blue"]
    assert all(p["color"] == "Blue" for p in chat.products())


def test_bad_photo_reference_gets_a_clear_message(chat, uploads):
    for ref in ("../../etc/passwd", "0" * 64, 42):
        msgs = chat.say("find this", "find_photo", metadata={"image": ref})
        assert "couldn't open the photo" in chat.text(msgs)
    assert chat.slots["photo"] is None


def test_find_photo_without_a_photo_asks_for_one(chat):
    chat.say("find this", "find_photo")
    assert "Send me a photo" in chat.text()


def test_engine_failure_does_not_end_the_conversation(chat):
    class Broken:
        parser = chat.actions["action_search"].services.engine.parser

        def search(self, *a, **k):
            raise RuntimeError("index went away")

    chat.actions["action_search"].services.engine = Broken()
    msgs = chat.say("red tshirts", "search")
    assert "went wrong" in chat.text(msgs)


def test_nothing_said_asks_what_they_want(chat):
    chat.say("yes", "affirm")
    assert "What are you looking for" in chat.text()


def test_a_plain_no_without_a_question_searches_nothing(chat):
    chat.say("watches", "search")
    shown = chat.slots["shown"]
    chat.say("/deny", "deny")
    assert "Type what you're looking for" in chat.text() and not chat.products()
    assert chat.slots["shown"] == shown


def test_a_shown_product_that_left_the_catalog_is_explained(chat):
    chat.say("watches", "search")
    chat.slots["shown"] = ["gone-1", *chat.slots["shown"][1:]]  # removed by a catalog update meanwhile
    chat.say("tell me about the first one", "product_info")
    assert "no longer in the catalog" in chat.text() and not chat.products()
    chat.say("more like the first", "more_like")
    assert "unknown product" in chat.text() and not chat.products()
