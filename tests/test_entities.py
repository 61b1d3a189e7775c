"""Entities with character spans (what Rasa gets), result positions, and the generated data."""
from __future__ import annotations

import json
import re

import pytest

from nlu.constraints import ConstraintParser
from nlu.entities import intent_with_entities, message_entities
from nlu.references import positions
from nlu.vocabulary import Vocabulary
from tests.fixtures import DEFAULT_ROWS


@pytest.fixture(scope="module")
def parser() -> ConstraintParser:
    return ConstraintParser(Vocabulary.from_rows(DEFAULT_ROWS))


def spans(parser, text):
    return [(text[e["start"]:e["end"]], e["entity"], e["value"], e.get("role")) for e in message_entities(parser, text)]


def test_entities_point_at_the_words(parser):
    text = "red tshirts for my wife under 80 dollars, not Nike"
    assert spans(parser, text) == [
        ("red", "color", "Red", None), ("tshirts", "article_type", "Tshirts", None),
        ("wife", "gender", "Women", None), ("under 80 dollars", "price", "80", "max"),
        ("Nike", "brand", "Nike", "excluded")]


def test_price_kinds_and_number_words(parser):
    assert spans(parser, "jeans between $20 and $40")[1] == ("between $20 and $40", "price", "20-40", "range")
    assert spans(parser, "watches around fifty bucks")[1] == ("around fifty bucks", "price", "50", "around")
    assert spans(parser, "shoes over 100")[1] == ("over 100", "price", "100", "min")


def test_merged_usage_and_category_points_at_the_head_word(parser):
    got = spans(parser, "casual black shoes")
    assert ("black", "color", "Black", None) in got
    assert any(e[1] == "article_type" and e[0] in ("shoes", "casual black shoes") and e[2] == "Casual Shoes" for e in got)


def test_everyday_words_are_not_typos_of_products(parser):
    for text in ("write me a poem", "clear everything", "howdy"):
        assert spans(parser, text) == [], text


@pytest.mark.parametrize("text,expected", [
    ("the second one", [2]), ("tell me about number 3", [3]), ("compare 1 and 2", [1, 2]),
    ("compare the first and the third", [1, 3]), ("#4 please", [4]), ("the last one", [-1]),
    ("compare 2, 3 and 6", [2, 3, 6]), ("which is better, 1 or 3?", [1, 3]), ("number two", [2]),
    ("shoes under 50 and 2 shirts", []), ("last year's style", []), ("compare under 40 and 60", []),
])
def test_positions(text, expected):
    assert positions(text) == expected


def test_ordinals_are_entities_too(parser):
    assert spans(parser, "compare 1 and 2") == [("1", "ordinal", 1, None), ("2", "ordinal", 2, None)]


def test_generated_examples_are_annotated_as_the_parser_reads_them():
    from bot.nlu_data import render

    vocab = Vocabulary.from_rows(DEFAULT_ROWS)
    text = render(vocab, seed=3, per_template=2)
    assert "- intent: search" in text and "- lookup: article_type" in text and "- synonym:" in text
    parser = ConstraintParser(vocab)
    ann = re.compile(r"\[([^\]]*)\]\{([^}]*)\}")
    agree = total = 0
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("- ") or "[" not in line:
            continue
        plain, gold, pos = "", [], 0
        for m in ann.finditer(line[2:]):
            plain += line[2:][pos:m.start()]
            d = json.loads("{" + m.group(2) + "}")
            gold.append((len(plain), len(plain) + len(m.group(1)), d["entity"], d.get("role")))
            plain += m.group(1)
            pos = m.end()
        plain += line[2:][pos:]
        got = {(e["start"], e["end"], e["entity"], e.get("role")) for e in message_entities(parser, plain)}
        total += len(gold)
        agree += len(set(gold) & got)
    assert total > 100 and agree / total > 0.95
    brands = re.findall(r'\[([^\]]*)\]\{"entity": "brand", "value": "([^"]*)"', text)
    lower = [(said, value) for said, value in brands if said == value.lower() != value]
    assert lower and len(lower) < len(brands), "shoppers type brands in lower case too, not only"


@pytest.mark.parametrize("intent, text, want", [
    ("deny", "only nike", "search"),  # the classifier read "n..." as "no"
    ("deny", "no, in black", "search"),
    ("affirm", "yes, black shoes", "search"),
    ("thanks", "thanks, now red ones", "search"),
    ("deny", "no", "deny"),
    ("deny", "no, for women", "deny"),  # a gender alone: the classifier's answer stands
    ("affirm", "yes please", "affirm"),
    ("greet", "hi there", "greet"),
    ("out_of_scope", "can you call my mom", "out_of_scope"),  # small talk is never turned into a search
    ("more_like", "more like the black one", "more_like"),
    ("search", "black", "search"),
    (None, "black", None),
])
def test_a_bare_answer_that_names_products_is_a_search(parser, intent, text, want):
    assert intent_with_entities(intent, message_entities(parser, text)) == want
