"""Constraint-aware search over the tiny catalog with fake encoders."""
from __future__ import annotations

import pytest

from nlu.constraints import Constraint
from retrieval.search import SearchError, with_constraints
from tests.fixtures import DEFAULT_ROWS, write_image


def ids(res):
    return [h.product.id for h in res.hits]


def rows_where(**want):
    return {r["id"] for r in DEFAULT_ROWS if all(r[k] == v for k, v in want.items())}


def test_hard_filters_respect_what_was_asked(engine):
    res = engine.search("tshirts for men", k=10)
    assert set(ids(res)) == rows_where(article_type="Tshirts", gender="Men")
    for h in res.hits:
        assert {m["field"] for m in h.why["matched"]} == {"article_type", "gender"}
        assert not h.why["failed"]


def test_price_bounds_and_reason(engine):
    res = engine.search("shoes under 100 dollars", k=10)
    assert res.hits and all(h.product.price <= 100 for h in res.hits)
    assert set(ids(res)) == {r["id"] for r in DEFAULT_ROWS if r["sub_category"] == "Shoes" and r["price"] <= 100}
    assert "under your $100" in res.hits[0].reason
    res = engine.search("watches between 30 and 50", k=10)
    assert ids(res) == ["1022"]


def test_exclusions(engine):
    res = engine.search("tshirts not red, no Nike", k=10)
    got = set(ids(res))
    assert got == rows_where(article_type="Tshirts") - {"1001"}
    assert all(h.product.color != "Red" and h.product.brand != "Nike" for h in res.hits)


def test_never_empty_without_saying_why(engine):
    res = engine.search("purple jeans", k=5)
    assert res.hits, "relaxed instead of empty"
    assert res.relaxed and res.relaxed[0]["field"] == "color"
    assert "Without colour" in res.message or "Without color" in res.message
    assert all(h.product.article_type == "Jeans" for h in res.hits)
    assert any(f["relaxed"] for f in res.hits[0].why["failed"])
    assert "instead of purple" in res.hits[0].reason


def test_exclusions_are_never_relaxed(engine):
    res = engine.search("sunglasses not black, not purple", k=5)
    assert not res.hits or all(h.product.color not in ("Black", "Purple") for h in res.hits)
    assert res.message


def test_soft_ranking_by_words(engine):
    res = engine.search("striped formal shirts", k=3)
    assert ids(res)[0] == "1007"  # the striped one first among shirts


def test_cheap_prefers_low_prices(engine):
    res = engine.search("cheap tshirts", k=2)
    cheapest = sorted(r["price"] for r in DEFAULT_ROWS if r["article_type"] == "Tshirts")[:2]
    assert sorted(h.product.price for h in res.hits) == cheapest
    assert "low price" in res.hits[0].reason
    res = engine.search("premium tshirts", k=1)
    assert res.hits[0].product.price == max(r["price"] for r in DEFAULT_ROWS if r["article_type"] == "Tshirts")


def test_photo_search_finds_the_same_colour(engine, tmp_path):
    photo = write_image(tmp_path / "q.jpg", "Pink", size=(60, 80))
    res = engine.search(image=str(photo), k=3)
    assert res.hits[0].product.color == "Pink"
    assert res.hits[0].why["visual_similarity"] > 0.9
    assert "looks like your photo" in res.hits[0].reason


def test_photo_plus_words(engine, tmp_path):
    photo = write_image(tmp_path / "q.jpg", "Blue", size=(60, 80))
    res = engine.search("shirts", image=photo.read_bytes(), k=3, fusion="model")
    assert res.hits[0].product.id == "1007"  # the blue shirt
    assert res.hits[0].why["weights"]["photo"] > res.hits[0].why["weights"]["text"] > 0


def test_dialogue_constraints_and_excluded_ids(engine):
    parsed = engine.parser.parse("tshirts")
    parsed = with_constraints(parsed, [Constraint("gender", ("Women",), source="dialogue")])
    res = engine.search(parsed=parsed, k=5)
    assert ids(res) == ["1003"]
    res = engine.search("tshirts for men", k=5, exclude_ids=["1001"])
    assert "1001" not in ids(res)


def test_bad_requests_are_clear_errors(engine, tmp_path):
    with pytest.raises(SearchError, match="empty"):
        engine.search("   ")
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8 this is not really a jpeg")
    with pytest.raises(SearchError, match="photo"):
        engine.search(image=str(bad))
    with pytest.raises(SearchError, match="photo"):
        engine.search(image=b"")


def test_unknown_words_fall_back_to_dense_ranking(engine):
    res = engine.search("digital", k=3)
    assert res.hits and not res.relaxed and not res.parsed.constraints
    assert res.hits[0].product.id == "1022"
    assert res.hits[0].why["text_similarity"] is not None


def test_surface_words_refine_within_a_type(engine):
    res = engine.search("aviators", k=2)
    assert [h.product.article_type for h in res.hits] == ["Sunglasses"] * 2
    assert res.hits[0].product.id == "1023"


def test_scores_sorted_and_to_dict(engine):
    res = engine.search("black", k=10)
    scores = [h.score for h in res.hits]
    assert scores == sorted(scores, reverse=True)
    d = res.hits[0].to_dict()
    assert set(d) == {"id", "score", "why"} and isinstance(d["why"]["reason"], str)
    assert all(h.product.color == "Black" for h in res.hits)


def test_usage_reranks_but_does_not_filter(engine):
    res = engine.search("tshirts for the gym", k=10)
    assert set(ids(res)) == rows_where(article_type="Tshirts")  # nothing filtered away
    assert res.hits[0].product.usage == "Sports" and res.hits[1].product.usage == "Sports"
    res = engine.search("tshirts, not for sports", k=10)
    assert all(h.product.usage != "Sports" for h in res.hits)


def test_unknown_reference_or_strategy_is_a_clear_error(engine, tiny_index, encoders):
    with pytest.raises(SearchError, match="unknown product 'nope'"):
        engine.search("tshirts", reference_id="nope")
    with pytest.raises(ValueError, match="unknown fusion 'mix'"):
        engine.search("tshirts", fusion="mix")
    from retrieval.search import SearchEngine

    with pytest.raises(ValueError, match="unknown fusion 'mix'"):
        SearchEngine(tiny_index, *encoders, fusion="mix")
    res = engine.search("tshirts", reference_id="1001", k=10)  # the pointed-at product is not shown again
    assert "1001" not in ids(res) and res.hits[0].why["weights"].keys() == {"text", "reference"}


def test_a_relaxed_price_is_said_in_each_reason(engine):
    res = engine.search("jeans under 5 dollars", k=3)
    assert res.relaxed[0]["field"] == "max_price" and "under $5" in res.message
    assert all(h.product.price > 5 for h in res.hits)
    assert "over your $5 (none left within it)" in res.hits[0].reason
