"""The constraint parser and the vocabulary it reads (no models)."""
from __future__ import annotations

import pytest

from nlu.constraints import ConstraintParser, ParsedQuery, edit_distance
from nlu.vocabulary import Vocabulary, singular
from tests.fixtures import DEFAULT_ROWS

ROWS = DEFAULT_ROWS + [
    {"article_type": "Sweatshirts", "color": "Olive", "gender": "Men", "brand": "W"},
    {"article_type": "Sweaters", "color": "Grey", "gender": "Women", "brand": "Basics"},
    {"article_type": "Backpacks", "color": "Grey", "gender": "Unisex", "brand": "Wildcraft"},
    {"article_type": "Rucksacks", "color": "Black", "gender": "Unisex", "brand": "Wildcraft"},
    {"article_type": "Formal Shoes", "color": "Black", "gender": "Men", "brand": "Clarks"},
    {"article_type": "Kurtas", "color": "Off White", "gender": "Kids", "brand": "Fabindia"},
    {"article_type": "Ties", "color": "Maroon", "gender": "Men", "brand": "U.S. Polo Assn."},
    {"article_type": "Trousers", "color": "Khaki", "gender": "Men", "brand": "Basics"},
    {"article_type": "Belts", "color": "Tan", "gender": "Men", "brand": "Basics"},
    {"article_type": "Tops", "color": "Pink", "gender": "Girls", "brand": "Basics"},
    {"article_type": "Shorts", "color": "Blue", "gender": "Boys", "brand": "Basics"},
    {"article_type": "Socks", "color": "Black", "gender": "Men", "brand": "Basics"},
]


@pytest.fixture(scope="module")
def parser() -> ConstraintParser:
    return ConstraintParser(Vocabulary.from_rows(ROWS))


def pos(q: ParsedQuery) -> dict[str, str]:
    return {c.field: c.values[0] for c in q.constraints if not c.negated}


def neg(q: ParsedQuery) -> dict[str, str]:
    return {c.field: c.values[0] for c in q.constraints if c.negated}


@pytest.mark.parametrize("text, want", [
    ("kurta in navy blue under 50 dollars", {"article_type": "Kurtas", "color": "Navy Blue"}),
    ("brown casual shoes for my wife", {"article_type": "Casual Shoes", "color": "Brown", "gender": "Women"}),
    ("looking for black dress shoes", {"article_type": "Formal Shoes", "color": "Black"}),
    ("show me grey jumper", {"article_type": "Sweaters", "color": "Grey"}),
    ("I want a olive hoodie", {"article_type": "Sweatshirts", "color": "Olive"}),
    ("navy button-down shirt", {"article_type": "Shirts", "color": "Navy Blue"}),
    ("green sneakers for a man", {"article_type": "Casual Shoes", "color": "Green", "gender": "Men"}),
    ("maroon necktie", {"article_type": "Ties", "color": "Maroon"}),
    ("off-white kurta", {"article_type": "Kurtas", "color": "Off White"}),
    ("gray T-Shirt", {"article_type": "Tshirts", "color": "Grey"}),
    ("blue shades for my husband", {"article_type": "Sunglasses", "color": "Blue", "gender": "Men"}),
    ("US Polo tie", {"article_type": "Ties", "brand": "U.S. Polo Assn."}),
])
def test_everyday_names_map_to_catalog_values(parser, text, want):
    assert pos(parser.parse(text)) == want


def test_longest_phrase_wins(parser):
    q = parser.parse("navy blue flip flops")
    assert pos(q) == {"color": "Navy Blue", "article_type": "Flip Flops"}


def test_alternatives_keep_preference_order(parser):
    q = parser.parse("grey rucksack")
    assert q.wanted("article_type") == ("Backpacks", "Rucksacks")
    assert parser.parse("tshirt for my son").wanted("gender") == ("Boys", "Kids")


@pytest.mark.parametrize("text, lo, hi", [
    ("jeans under 50", None, 50), ("jeans under $50", None, 50), ("jeans below 49.99 dollars", None, 49.99),
    ("jeans between 20 and 40 dollars", 20, 40), ("jeans from $40 to $20", 20, 40),
    ("jeans $20-$40", 20, 40), ("jeans over 100", 100, None), ("jeans at least 30 bucks", 30, None),
    ("jeans under fifty dollars", None, 50), ("jeans 60 or less", None, 60),
    ("jeans around 100 dollars", 80, 120), ("jeans size 32", None, None),
    ("jeans under 1,200 dollars", None, 1200),
    ("jeans within a 50 dollar budget", None, 50), ("jeans, a 30 dollar budget", None, 30),
    ("I don't want to spend more than 40 on jeans", None, 40), ("can't pay over $60 for jeans", None, 60),
    ("jeans for $50", None, 50), ("jeans at $150", None, 150), ("jeans 40 dollars", None, 40),
])
def test_prices(parser, text, lo, hi):
    q = parser.parse(text)
    assert (q.min_price, q.max_price) == (lo, hi)
    assert pos(q) == {"article_type": "Jeans"}


@pytest.mark.parametrize("text, want", [
    ("socks in khaki", {"article_type": "Socks", "color": "Khaki"}),
    ("looking for a belt, khaki", {"article_type": "Belts", "color": "Khaki"}),
    ("a belt, tan", {"article_type": "Belts", "color": "Tan"}),
    ("chinos, preferably khaki", {"article_type": "Trousers", "color": "Khaki"}),
    ("khaki shorts", {"article_type": "Shorts", "color": "Khaki"}),
    ("khakis", {"article_type": "Trousers"}),
    ("navy polo shirt", {"article_type": "Tshirts", "color": "Navy Blue"}),
    ("girls' tops in pink", {"article_type": "Tops", "color": "Pink", "gender": "Girls"}),
    ("boys' shorts", {"article_type": "Shorts", "gender": "Boys"}),
    ("a gent's watch for my papa", {"article_type": "Watches", "gender": "Men"}),
])
def test_a_word_that_can_be_a_kind_or_a_colour(parser, text, want):
    """'khaki' names trousers or a colour: beside another kind it is the colour, wherever it stands."""
    assert pos(parser.parse(text)) == want


def test_two_kinds_that_are_not_colours_stay(parser):
    assert parser.parse("shirts or tshirts").wanted("article_type") == ("Shirts", "Tshirts")


def test_price_preferences(parser):
    assert parser.parse("cheap sneakers").price_pref == "low"
    assert parser.parse("a premium watch").price_pref == "high"
    assert parser.parse("a watch").price_pref is None


def test_negations(parser):
    q = parser.parse("sneakers, not black")
    assert pos(q) == {"article_type": "Casual Shoes"} and neg(q) == {"color": "Black"}
    q = parser.parse("no Nike running shoes")
    assert neg(q) == {"brand": "Nike"} and pos(q) == {"article_type": "Sports Shoes"}
    q = parser.parse("tshirt not black or brown from Puma")
    assert q.excluded("color") == {"Black", "Brown"} and pos(q)["brand"] == "Puma"
    q = parser.parse("anything but red")
    assert q.excluded("color") == {"Red"} and not pos(q)
    q = parser.parse("shirts, I don't want blue")
    assert q.excluded("color") == {"Blue"}


def test_case_sensitive_brands(parser):
    assert pos(parser.parse("W sweatshirt"))["brand"] == "W"
    assert "brand" not in pos(parser.parse("a sweatshirt w a hood"))
    assert "brand" not in pos(parser.parse("basics of style"))


def test_typos_are_forgiven_but_marked(parser):
    q = parser.parse("tshrit for women")
    c = [c for c in q.constraints if c.field == "article_type"][0]
    assert c.values == ("Tshirts",) and c.source == "fuzzy"
    assert not parser.parse("sharks").constraints  # two edits from "shirts": too far for 6 letters


def test_residual_keeps_unknown_content_words(parser):
    q = parser.parse("show me a striped linen shirt")
    assert q.residual == "striped linen"


def test_odd_input_never_raises(parser):
    for text in ["", "   ", "$$$", "🙂🙂", "under", "between and", "a" * 5000, "not", "1-2-3"]:
        q = parser.parse(text)
        assert isinstance(q, ParsedQuery)


def test_round_trip_dict(parser):
    q = parser.parse("red Nike tshirt under 30, not black")
    assert ParsedQuery.from_dict(q.to_dict()).to_dict() == q.to_dict()


def test_vocabulary_only_knows_served_values():
    v = Vocabulary.from_rows(DEFAULT_ROWS)
    assert "Dresses" not in v.values["article_type"]
    assert not ConstraintParser(v).parse("red dress").wanted("article_type")
    assert "hoodie" not in v.surface_forms("article_type").get("Sweatshirts", [])


def test_vocabulary_round_trip_and_shop_synonyms(tmp_path):
    v = Vocabulary.from_rows(DEFAULT_ROWS, {"article_type": {"Kurtas": ["kameez shirt"]}})
    v.save(tmp_path / "v.json")
    w = Vocabulary.load(tmp_path / "v.json")
    assert w.to_json() == v.to_json()
    assert ConstraintParser(w).parse("kameez shirt").wanted("article_type") == ("Kurtas",)
    with pytest.raises(ValueError):
        Vocabulary.from_rows(DEFAULT_ROWS, {"fabric": {"x": ["y"]}})


def test_surface_forms_for_lookup_tables():
    forms = Vocabulary.from_rows(DEFAULT_ROWS).surface_forms("article_type")
    assert "sneakers" in forms["Casual Shoes"] and "tshirts" in forms["Tshirts"]


def test_helpers():
    assert singular("flip flops") == "flip flop" and singular("watches") == "watch"
    assert edit_distance("tshrit", "tshirt") == 1 and edit_distance("abc", "abc") == 0


def test_usage_plus_category_names_a_type(parser):
    assert pos(parser.parse("formal black shoes for men")) == {"article_type": "Formal Shoes", "color": "Black",
                                                               "gender": "Men"}
    assert pos(parser.parse("red t shirts"))["article_type"] == "Tshirts"  # plurals of everyday names


def test_typo_between_forms_of_one_value(parser):
    for typo, value in (("wallett", None), ("sunglases", "Sunglasses"), ("tshirst", "Tshirts")):
        q = parser.parse(typo)
        if value:
            assert q.wanted("article_type") == (value,), typo
    assert "within" not in parser.parse("tshirt within a budget of 80").residual
