"""The dialogue's pure parts: state across turns, questions, comparison."""
from __future__ import annotations

from bot.dialogue.cards import comparison
from bot.dialogue.questions import choose_question, confirm_photo_type, entropy
from bot.dialogue.state import DialogueState
from nlu.constraints import ConstraintParser
from nlu.vocabulary import Vocabulary
from retrieval.catalog import Product
from tests.fixtures import DEFAULT_ROWS

PARSER = ConstraintParser(Vocabulary.from_rows(DEFAULT_ROWS))
PRODUCTS = [Product.from_dict(r) for r in DEFAULT_ROWS]


def turn(state: DialogueState, text: str) -> DialogueState:
    return state.apply(PARSER.parse(text))


def test_slots_round_trip_and_numbers_are_cast():
    s = DialogueState.from_slots({"article_type": ["Tshirts"], "max_price": "60", "min_price": "junk",
                                  "excluded": ["brand:Nike", "nonsense", "size:XL"], "shown_prices": ["10", None, 5]})
    assert s.max_price == 60.0 and isinstance(s.max_price, float) and s.min_price is None
    assert s.excluded == [("brand", "Nike")]
    assert s.shown_prices == [10.0, 5.0]
    assert DialogueState.from_slots(s.slot_values()) == s


def test_refinements_replace_and_exclusions_add_up():
    s = turn(DialogueState(), "red tshirts for men under 40")
    assert s.wanted == {"color": ["Red"], "article_type": ["Tshirts"], "gender": ["Men"]} and s.max_price == 40
    s = turn(s, "in blue")
    assert s.wanted["color"] == ["Blue"] and s.wanted["article_type"] == ["Tshirts"]
    s = turn(s, "not Nike")
    s = turn(s, "no black")
    assert s.excluded == [("brand", "Nike"), ("color", "Black")]
    s = turn(s, "black please")  # asking for an excluded value lifts the exclusion
    assert s.wanted["color"] == ["Black"] and ("color", "Black") not in s.excluded
    s = turn(s, "between 20 and 30")
    assert (s.min_price, s.max_price) == (20, 30)


def test_cheaper_and_more_expensive_are_relative_to_what_was_shown():
    s = DialogueState(wanted={"article_type": ["Watches"]}, shown_prices=[20.0, 40.0, 100.0])
    assert turn(s, "cheaper").max_price == 40.0
    assert turn(s, "more expensive").min_price == 40.0
    assert turn(DialogueState(), "something cheap").price_pref == "low"  # nothing shown yet


def test_new_topic_and_query_sources():
    s = turn(DialogueState(), "black jeans for women")
    assert s.is_new_topic(PARSER.parse("show me watches"))
    assert not s.is_new_topic(PARSER.parse("in blue"))
    q = s.query(PARSER.parse("in blue"))
    sources = {c.field: c.source for c in q.constraints}
    assert sources["color"] == "text" or sources["color"] == "dialogue"
    q2 = turn(s, "in blue").query(PARSER.parse("in blue"))
    assert {c.field: c.source for c in q2.constraints} == {"color": "text", "article_type": "dialogue",
                                                           "gender": "dialogue"}


def test_entropy():
    assert entropy([]) == 0.0
    assert entropy(["a", "a"]) == 0.0
    assert abs(entropy(["a", "b"]) - 1.0) < 1e-9
    assert abs(entropy(["a", "b", "c", "d"]) - 2.0) < 1e-9


def test_question_picks_the_most_spread_attribute_and_never_repeats():
    state = DialogueState(wanted={"usage": ["Casual"]})
    q = choose_question(PRODUCTS, state)
    spread = {f: entropy([getattr(p, f) for p in PRODUCTS]) for f in ("article_type", "gender", "color")}
    assert q is not None and q.field == max(spread, key=spread.get)
    assert q.buttons()[-1]["title"] == "Don't mind" and len(q.options) == 3
    again = choose_question(PRODUCTS, DialogueState(wanted={"usage": ["Casual"]}, asked=[q.field]))
    assert again is not None and again.field != q.field
    # a specific request gets none
    assert choose_question(PRODUCTS, DialogueState(wanted={"article_type": ["Watches"], "gender": ["Men"]})) is None


def test_uncertain_photo_type_is_confirmed_once():
    photo = {"top": {"article_type": [("Sandals", 0.45), ("Flip Flops", 0.35), ("Heels", 0.1)]}}
    q = confirm_photo_type(photo, DialogueState(photo="x"))
    assert q is not None and q.kind == "confirm_photo"
    assert q.text == "Is this a sandal or a flip flop?" and q.options == ["Sandals", "Flip Flops"]
    assert q.buttons()[-1]["title"] == "Neither"
    assert confirm_photo_type(photo, DialogueState(photo="x", asked=["article_type"])) is None
    sure = {"top": {"article_type": [("Sandals", 0.9), ("Flip Flops", 0.05)]}}
    assert confirm_photo_type(sure, DialogueState(photo="x")) is None


def test_comparison_table():
    a, b = PRODUCTS[0], PRODUCTS[1]
    text, table = comparison([(1, a, "red"), (2, b, "black")])
    assert table["ids"] == [a.id, b.id] and table["rows"][0]["label"] == "Price"
    assert "#1 is the cheaper one" in text
