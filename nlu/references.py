"""Text -> which shown result the shopper means: "the second one", "number 3", "compare 1 and 2".

Positions are 1-based as the shopper counts; "the last one" is -1. Bare numbers count only in
a pointing context ("compare 1 and 2", "#2", "number 3"), never after a price word.
"""
from __future__ import annotations

import re

_WORDS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
          "eighth": 8, "ninth": 9, "tenth": 10, "last": -1, "latter": -1, "former": 1}
_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
                 "nine": 9, "ten": 10}
_ORDINAL = re.compile(r"\b(" + "|".join(_WORDS) + r")\b|\b(\d{1,2})(?:st|nd|rd|th)\b", re.I)
_POINTED = re.compile(r"(?:\b(?:number|no\.?|nr\.?|item|option|result|product|pick|choice)\s*|#)\s*"
                      r"(\d{1,2}|" + "|".join(_NUMBER_WORDS) + r")\b", re.I)
_COMPARE = re.compile(r"\b(?:compare|between|vs\.?|versus|and|or|with|&)\s+(\d{1,2})\b|"
                      r"\b(\d{1,2})\s*(?:and|&|vs\.?|versus|with|or|,)\s*(?=\d{1,2}\b)", re.I)
_PRICE_BEFORE = re.compile(r"(?:under|below|over|above|than|around|about|\$|€|£|between|from|to|budget|max|"
                           r"least|most)\s*$", re.I)
_CURRENCY_AFTER = re.compile(r"^\s*(?:\$|€|£|dollars?|bucks?|euros?|pounds?|usd|k\b)", re.I)


def find_ordinals(text: str, max_position: int = 20) -> list[tuple[int, int, int]]:
    """(start, end, position) for each result the text points at, in order of mention."""
    found: dict[tuple[int, int], int] = {}
    for m in _ORDINAL.finditer(text):
        word, digits = m.group(1), m.group(2)
        pos = _WORDS[word.lower()] if word else int(digits)
        if word and word.lower() in ("last", "latter", "former") and not _pointing_word(text, m.end()):
            continue  # "last season", "the latter" alone is fine, "last year" is not a result
        found[m.span()] = pos
    for m in _POINTED.finditer(text):
        g = m.group(1).lower()
        found[m.span()] = _NUMBER_WORDS.get(g) or int(g)
    if re.search(r"\b(compare|comparison|vs\.?|versus|difference|differ|better|side by side)\b", text, re.I):
        for m in _COMPARE.finditer(text):
            g = m.group(1) or m.group(2)
            s = m.start(1) if m.group(1) else m.start(2)
            e = s + len(g)
            if _PRICE_BEFORE.search(text[:s]) or _CURRENCY_AFTER.match(text[e:]):
                continue
            found.setdefault((s, e), int(g))
        # "compare 1 and 2": the trailing number after the last joiner
        for m in re.finditer(r"\b(?:and|&|vs\.?|versus|with|or|,)\s*(\d{1,2})\b(?!\s*(?:\$|dollars?|bucks?|k\b))",
                             text, re.I):
            s, e = m.span(1)
            if not any(a <= s < b for a, b in found) and not _PRICE_BEFORE.search(text[:m.start()]):
                found.setdefault((s, e), int(m.group(1)))
    out = sorted((s, e, p) for (s, e), p in found.items() if p == -1 or 1 <= p <= max_position)
    # drop spans inside another (the "2" inside "#2")
    return [o for o in out if not any(a <= o[0] and o[1] <= b and (a, b) != (o[0], o[1]) for a, b, _ in out)]


def positions(text: str, max_position: int = 20) -> list[int]:
    """Just the positions, in order of mention, without repeats."""
    return list(dict.fromkeys(p for _, _, p in find_ordinals(text, max_position)))


def _pointing_word(text: str, end: int) -> bool:
    return bool(re.match(r"\s*(?:one|ones|item|product|result|option|pair|$|[.,!?])", text[end:], re.I))
