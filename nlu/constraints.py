"""Text -> constraints: what a shopper asked for, in the catalog's own values.

``parse("red casual shoes for my wife under 80 dollars, not Nike", vocab)`` gives
article_type=Casual Shoes, color=Red, gender=Women, max_price=80, brand excluded: Nike. The same
function serves the batch search and the conversation, so the two never disagree.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Iterable

from nlu import lexicon
from nlu.vocabulary import FIELDS, Entry, Vocabulary

CATEGORY_FIELDS = ("sub_category", "master_category")
FIELD_PRIORITY = {f: i for i, f in enumerate(
    ("article_type", "color", "gender", "brand", "usage", "sub_category", "master_category"))}

# ------------------------------------------------------------------------------------ prices
_CUR = r"(?:\$|usd|us\$|dollars?|bucks?|€|eur|euros?|£|gbp|pounds?|rs\.?|inr|rupees?)"
_NUM = r"(\d+(?:[.,]\d+)?k?)"
_AMT = rf"(?:{_CUR}\s*)?{_NUM}(?:\s*{_CUR})?"
_PRICE_PATTERNS: list[tuple[str, str]] = [
    ("range", rf"\b(?:between|from)\s+{_AMT}\s+(?:and|to|-)\s+{_AMT}"),
    ("range", rf"(?:{_CUR}\s*{_NUM}\s*(?:-|to|–)\s*(?:{_CUR}\s*)?{_NUM}|{_NUM}\s*(?:-|to|–)\s*{_NUM}\s*{_CUR})"),
    ("max", rf"\b(?:under|undr|unde|below|bellow|belo|beneath|less than|lower than|cheaper than|max(?:imum)?|at most|up to|upto|"
            rf"no more than|not more than|not over|within|budget of|budget is|budget)\s*(?:of\s+)?(?:(?:a|an|my|the)\s+)?{_AMT}"),
    # "I don't want to spend more than 40", "can't pay over $50": a cap, not a floor
    ("max", rf"\b(?:don'?t|do not|doesn'?t|does not|won'?t|will not|can'?t|cannot|not)\s+(?:want to\s+|wanna\s+|like to\s+)?"
            rf"(?:spend|pay|go)\s+(?:more than|over|above|beyond)\s*{_AMT}"),
    ("max", rf"{_AMT}\s+budget\b"),
    ("max", rf"(?:<=?|≤)\s*{_AMT}"),
    ("max", rf"{_AMT}\s+(?:or less|or under|or below|and under|and below|max|tops|at most)\b"),
    ("min", rf"\b(?:over|above|more than|greater than|at least|min(?:imum)?|starting at|no less than|"
            rf"pricier than)\s*{_AMT}"),
    ("min", rf"(?:>=?|≥)\s*{_AMT}"),
    ("min", rf"{_AMT}\s*(?:or more|or above|and up|and above|plus|\+)(?=\s|$|[,.!?])"),
    ("around", rf"\b(?:around|about|approximately|approx\.?|roughly|near|close to|~)\s*{_AMT}"),
    # a bare amount ("a wallet for $40", "jeans at $150", "black jacket 100 dollars") is what the
    # shopper means to spend: a cap. Speech turns "up to 150 dollars" into "at $150".
    ("max", rf"(?:{_CUR}\s*{_NUM}|{_NUM}\s*{_CUR})"),
]
_CHEAP = re.compile(r"\b(cheap|cheaper|cheapest|inexpensive|affordable|budget|low[- ]cost|low[- ]priced|"
                    r"bargain|economical|value for money|on a budget|not too expensive)\b")
_PRICEY = re.compile(r"\b(expensive|pricey|premium|luxury|luxurious|high[- ]end|designer|upmarket|"
                     r"more expensive|fancy)\b")

_UNITS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen".split())}
_TENS = {w: 10 * (i + 2) for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split())}
_NUMWORD = re.compile(r"(?i)\b(?:(?:a|one|two|three|four|five)\s+hundred(?:\s+and)?\s*)?(?:(?:" + "|".join(_TENS) +
                      r")(?:[\s-](?:one|two|three|four|five|six|seven|eight|nine))?|(?:" + "|".join(_UNITS) +
                      r"))\b|\b(?:a|one|two|three|four|five)\s+hundred\b")


def _words_to_number(phrase: str) -> int:
    total, current = 0, 0
    for w in re.split(r"[\s-]+", phrase):
        if w in ("a",):
            current = 1
        elif w in _UNITS:
            current += _UNITS[w]
        elif w in _TENS:
            current += _TENS[w]
        elif w == "hundred":
            total += max(current, 1) * 100
            current = 0
    return total + current


def _numbers_from_words(text: str) -> str:
    """'under fifty dollars' -> 'under 50 dollars' (only where a price word is near)."""
    if not re.search(rf"{_CUR}|under|below|over|above|less|more|between|around|budget", text, re.I):
        return text
    def repl(m: re.Match) -> str:
        word = m.group(0)
        if word.strip().lower() in ("a", "one"):
            return word
        return str(_words_to_number(word.lower())).ljust(len(word))
    return _NUMWORD.sub(repl, text)


def _amount(s: str) -> float:
    s = s.replace(",", "") if re.fullmatch(r"\d{1,3}(,\d{3})+(\.\d+)?k?", s) else s.replace(",", ".")
    mult = 1000.0 if s.endswith("k") else 1.0
    return float(s.rstrip("k")) * mult


# ------------------------------------------------------------------------------------ negation
_NEGATORS = {"not", "no", "non", "without", "except", "excluding", "avoid", "never", "nothing", "none",
             "dont", "don't", "hate", "minus", "exclude", "anything but", "other than", "but not",
             "rather than", "instead of", "isn't", "aren't", "nor", "neither"}
_NEG_MULTI = ("anything but", "other than", "but not", "rather than", "instead of", "no more", "don't want",
              "do not want", "dont want", "not in", "not a", "no more of")
_CONJ = {"or", "and", ",", "nor", "/", "&", "a", "an", "the", "in", "any", "color", "colour", "colours",
         "colors"}

STOPWORDS = set("""a an the i im i'm me my we our you your for of in on at to with and or but some any
looking look search searching find finding show showing want wanted need needing give get buy buying
please pls like would could can do does is are am it its this that these those something thing things
one ones kind sort type pair pairs maybe also just really very so too which what where who how there
here good nice new style styles item items product products shop shopping store see got have has let
lets let's gift present hey hi hello same similar but instead version anything else exactly just
other within budget""".split())


# ------------------------------------------------------------------------------------ results
@dataclass(frozen=True)
class Constraint:
    """One attribute the shopper named (or excluded)."""

    field: str  # article_type, color, gender, brand, usage, sub_category, master_category
    values: tuple[str, ...]  # accepted catalog values, preferred first
    negated: bool = False
    surface: str = ""  # the words that named it
    source: str = "text"  # text, fuzzy (a near miss of a known word), photo, dialogue

    def to_dict(self) -> dict:
        d = asdict(self)
        d["values"] = list(self.values)
        return d


@dataclass
class ParsedQuery:
    """Everything understood in one request."""

    text: str
    constraints: list[Constraint] = field(default_factory=list)
    min_price: float | None = None
    max_price: float | None = None
    price_pref: str | None = None  # "low" (cheap) or "high" (premium)
    residual: str = ""  # content words not used by any constraint (style, material, ...)
    # where prices were named: (start, end, kind, value) over the original text; kind is
    # max, min, range or around and value the amount(s) as written ("40", "20-40")
    price_spans: list[tuple[int, int, str, str]] = field(default_factory=list)

    def wanted(self, fld: str) -> tuple[str, ...]:
        """Accepted values for a field (union over positive constraints), preferred first."""
        vals: list[str] = []
        for c in self.constraints:
            if c.field == fld and not c.negated:
                vals.extend(v for v in c.values if v not in vals)
        return tuple(vals)

    def excluded(self, fld: str) -> set[str]:
        return {v for c in self.constraints if c.field == fld and c.negated for v in c.values[:1]}

    def is_empty(self) -> bool:
        return not self.constraints and self.min_price is None and self.max_price is None and not self.price_pref

    def to_dict(self) -> dict:
        return {"text": self.text, "constraints": [c.to_dict() for c in self.constraints],
                "min_price": self.min_price, "max_price": self.max_price,
                "price_pref": self.price_pref, "residual": self.residual,
                "price_spans": [list(s) for s in self.price_spans]}

    @classmethod
    def from_dict(cls, d: dict) -> "ParsedQuery":
        cons = [Constraint(c["field"], tuple(c["values"]), c.get("negated", False), c.get("surface", ""),
                           c.get("source", "text")) for c in d.get("constraints", [])]
        return cls(d.get("text", ""), cons, d.get("min_price"), d.get("max_price"), d.get("price_pref"),
                   d.get("residual", ""), [tuple(s) for s in d.get("price_spans", [])])


# ------------------------------------------------------------------------------------ parser
def edit_distance(a: str, b: str) -> int:
    """Damerau-Levenshtein distance (adjacent transpositions count as one edit)."""
    d = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        d[i][0] = i
    for j in range(len(b) + 1):
        d[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[-1][-1]


class ConstraintParser:
    """Finds catalog values, prices and negations in free text, using a Vocabulary."""

    def __init__(self, vocab: Vocabulary, fuzzy: bool = True) -> None:
        self.vocab = vocab
        self.fuzzy = fuzzy
        self._by_phrase: dict[tuple[str, ...], list[Entry]] = {}
        for e in vocab.entries:
            self._by_phrase.setdefault(tuple(_tokens(e.phrase)), []).append(e)
        for lst in self._by_phrase.values():
            # by field priority; a phrase naming both a sub and a main category ("accessories")
            # means the one with more products
            lst.sort(key=lambda e: (FIELD_PRIORITY.get(e.field, 99) if e.field not in CATEGORY_FIELDS else
                                    FIELD_PRIORITY["sub_category"] - vocab.count(e.field, e.values[0]) / 1e9))
        self._max_len = max((len(k) for k in self._by_phrase), default=1)
        self._fuzzy_words = {k[0]: v for k, v in self._by_phrase.items()
                             if len(k) == 1 and len(k[0]) >= 4 and v[0].field in ("article_type", "color")}
        # brands of 6+ letters too ("addidas"), when the word is no other value's exact form
        self._fuzzy_words.update({k[0]: v for k, v in self._by_phrase.items()
                                  if len(k) == 1 and len(k[0]) >= 6 and v[0].field == "brand"
                                  and not v[0].case_sensitive and k[0] not in self._fuzzy_words})

    def parse(self, text: str) -> ParsedQuery:
        """Parse one request. Never raises on odd input; unknown words end up in ``residual``."""
        text = (text or "").strip()
        q = ParsedQuery(text=text)
        cased = text.replace("\u2019", "'").replace("\u2018", "'")
        cased = re.sub(r"(?<=[A-Za-z]s)'(?=\s|$|[,.!?;:])", " ", cased)  # "girls' tops": the plural possessive
        cased = _numbers_from_words(cased)
        cased = self._parse_prices(cased, q)
        for pattern, pref in ((_CHEAP, "low"), (_PRICEY, "high")):
            for m in pattern.finditer(cased.lower()):
                q.price_pref = q.price_pref or pref
                cased = _blank(cased, m)
        cased_toks = _tokens(normalise_keep_case(cased))
        toks = [t.lower() for t in cased_toks]
        used = [False] * len(toks)
        found: list[tuple[int, int, Constraint]] = []
        i = 0
        while i < len(toks):
            hit = self._match_at(toks, i, cased_toks)
            if hit is None:
                i += 1
                continue
            n, entry, source = hit
            found.append((i, i + n, Constraint(entry.field, entry.values, False, " ".join(toks[i:i + n]), source)))
            for j in range(i, i + n):
                used[j] = True
            i += n
        found = self._merge_usage_and_category(found)
        found = self._head_of_compound(found)
        found = self._colour_among_types(found)
        found = self._usage_inside_type(found)
        found = self._apply_negation(toks, found)
        q.constraints = _dedupe([c for _, _, c in found])
        q.residual = " ".join(t for t, u in zip(toks, used)
                              if not u and t not in STOPWORDS and t not in _NEGATORS and not t.isdigit())
        return q

    # -- pieces
    def _match_at(self, toks: list[str], i: int, cased: list[str]) -> tuple[int, Entry, str] | None:
        for n in range(min(self._max_len, len(toks) - i), 0, -1):
            entries = self._by_phrase.get(tuple(toks[i:i + n]))
            if not entries:
                continue
            for e in entries:
                if e.case_sensitive and not _cased_match(cased, toks, i, n, e.original):
                    continue
                return n, e, "text"
        if self.fuzzy and len(toks[i]) >= 5 and toks[i] not in STOPWORDS and toks[i] not in lexicon.COMMON_WORDS:
            k = 1 if len(toks[i]) < 7 else 2
            scored = sorted((edit_distance(toks[i], w), w) for w in self._fuzzy_words
                            if w[0] == toks[i][0] and abs(len(w) - len(toks[i])) <= k)
            if scored and scored[0][0] <= k:
                best = [self._fuzzy_words[w][0] for dist, w in scored if dist == scored[0][0]]
                # "wallett" is one edit from "wallet" and "wallets": a tie between forms of one value is fine
                if len({(e.field, e.values) for e in best}) == 1:
                    return 1, best[0], "fuzzy"
        return None

    def _parse_prices(self, text: str, q: ParsedQuery) -> str:
        """Find price bounds; return the text with those words blanked out (same length)."""
        for kind, pattern in _PRICE_PATTERNS:
            for m in list(re.finditer(pattern, text.lower())):
                nums = [_amount(g) for g in m.groups() if g]
                if not nums:
                    continue
                if kind == "range" and len(nums) >= 2:
                    lo, hi = sorted(nums[:2])
                    q.min_price, q.max_price = lo, hi
                elif kind == "max":
                    q.max_price = nums[0] if q.max_price is None else min(q.max_price, nums[0])
                elif kind == "min":
                    q.min_price = nums[0] if q.min_price is None else max(q.min_price, nums[0])
                elif kind == "around" and q.min_price is None and q.max_price is None:
                    q.min_price, q.max_price = round(nums[0] * 0.8, 2), round(nums[0] * 1.2, 2)
                else:
                    continue
                shown = "-".join(f"{x:g}" for x in ((lo, hi) if kind == "range" and len(nums) >= 2 else nums[:1]))
                q.price_spans.append((m.start(), m.end(), kind, shown))
                text = _blank(text, m)
        return text

    def _merge_usage_and_category(self, found: list[tuple[int, int, Constraint]]) -> list[tuple[int, int, Constraint]]:
        """'formal black shoes' names Formal Shoes: a usage word plus a category word that together
        are an article type become that type."""
        usage = [f for f in found if f[2].field == "usage" and not f[2].negated]
        cats = [f for f in found if f[2].field in ("sub_category", "master_category")]
        for u in usage:
            for c in cats:
                for phrase in (f"{u[2].surface} {c[2].surface}", f"{u[2].values[0]} {c[2].surface}".lower()):
                    entries = [e for e in self._by_phrase.get(tuple(_tokens(phrase)), []) if e.field == "article_type"]
                    if entries:
                        merged = (min(u[0], c[0]), max(u[1], c[1]),
                                  Constraint("article_type", entries[0].values, False, phrase, "text"))
                        rest = [f for f in found if f is not u and f is not c]
                        return sorted([*rest, merged], key=lambda f: f[0])
        return found

    def _usage_inside_type(self, found: list[tuple[int, int, Constraint]]) -> list[tuple[int, int, Constraint]]:
        """'formal shirts' is Shirts, and formal too: a usage word inside a type's phrase is kept as
        a usage when the type's own name does not already say it ("formal shoes" -> Formal Shoes)."""
        out = list(found)
        have_usage = any(c.field == "usage" for _, _, c in found)
        for start, end, c in found:
            if c.field != "article_type" or c.negated or have_usage:
                continue
            words = _tokens(c.surface)
            for w in words[:-1]:
                usage = [e for e in self._by_phrase.get((w,), []) if e.field == "usage"]
                if usage and not any(w in v.lower() or usage[0].values[0].lower() in v.lower() for v in c.values):
                    out.append((start, start + 1, Constraint("usage", usage[0].values, False, w, c.source)))
                    have_usage = True
                    break
        return sorted(out, key=lambda f: f[0])

    def _head_of_compound(self, found: list[tuple[int, int, Constraint]]) -> list[tuple[int, int, Constraint]]:
        """'denim jacket', 'khaki shorts': of two kinds named side by side, the last word is the
        product and the first only describes it (a colour when it can be one, else nothing); when
        only the last can be a colour ("a belt, khaki"), the first is the product."""
        out: list[tuple[int, int, Constraint]] = []
        for f in found:
            prev = out[-1] if out else None
            if prev is not None and prev[1] == f[0] and prev[2].field == "article_type" == f[2].field \
                    and not prev[2].negated and not f[2].negated:
                out.pop()
                colour = self._as_colour(prev[2])
                last_colour = self._as_colour(f[2])
                if last_colour is not None and colour is None:  # "a belt, khaki": the belt, in khaki
                    out.append(prev)
                    out.append((f[0], f[1], Constraint("color", last_colour.values, False, f[2].surface, f[2].source)))
                    continue
                if colour is not None:
                    out.append((prev[0], prev[1], Constraint("color", colour.values, False, prev[2].surface,
                                                             prev[2].source)))
            out.append(f)
        return out

    def _as_colour(self, c: Constraint) -> Entry | None:
        """The colour the words of ``c`` can also name ("khaki"), or None."""
        colour = [e for e in self._by_phrase.get(tuple(_tokens(c.surface)), []) if e.field == "color"]
        return colour[0] if colour else None

    def _colour_among_types(self, found: list[tuple[int, int, Constraint]]) -> list[tuple[int, int, Constraint]]:
        """'socks in khaki', 'a belt, khaki': where a request names two kinds and one of the words can
        also be a colour (khaki, the trousers, or the colour), that word is the colour and the
        other the product. Two kinds that cannot be colours ("shirts or tshirts") stay as they are."""
        kinds = [f for f in found if f[2].field == "article_type" and not f[2].negated]
        if len(kinds) < 2:
            return found
        as_colour = {id(f): e for f in kinds if (e := self._as_colour(f[2])) is not None}
        if not as_colour or len(as_colour) == len(kinds) or any(c.field == "color" and not c.negated
                                                                 for _, _, c in found):
            return found
        return [(s, e, Constraint("color", as_colour[id(f)].values, False, c.surface, c.source))
                if id(f) in as_colour else f for f in found for s, e, c in [f]]

    @staticmethod
    def _apply_negation(toks: list[str], found: list[tuple[int, int, Constraint]]) -> list[tuple[int, int, Constraint]]:
        out = []
        negating = False
        prev_end, prev_field = 0, None
        for start, end, c in found:
            gap = toks[prev_end:start]
            gap_text = " ".join(gap)
            if any(t in _NEGATORS for t in gap) or any(p in gap_text for p in _NEG_MULTI) or \
                    (gap_text.endswith("n't") or " n't" in gap_text):
                negating = True
            elif negating:
                # "not black or brown" and "no black, brown" go on; "no Nike running shoes" stops
                # ... but a different kind of value after a comma or "in" is wanted again
                # ("not nike, in navy"), unless "or"/"nor" joins them ("no nike or black")
                negating = (bool(gap) and all(t in _CONJ for t in gap)
                            and (c.field == prev_field or any(t in ("or", "nor") for t in gap))) or \
                    (not gap and c.field == prev_field)
            if negating:
                c = Constraint(c.field, c.values[:1], True, c.surface, c.source)
            out.append((start, end, c))
            prev_end, prev_field = end, c.field
        return out


def entity_spans(text: str, parsed: ParsedQuery) -> list[dict]:
    """Where each understood constraint sits in ``text``, as NLU entities.

    One dict per mention: ``{"entity": field, "value": canonical value, "start", "end",
    "role": "excluded" (negated only)}``; prices as ``{"entity": "price", "role": kind,
    "value": "40"}``. Offsets index ``text`` as given (the parser keeps lengths).
    """
    out: list[dict] = []
    taken: list[tuple[int, int]] = []

    def free(a: int, b: int) -> bool:
        return all(b <= s or a >= e for s, e in taken)

    for start, end, kind, value in parsed.price_spans:
        s, e = _trim(text, start, end)
        out.append({"entity": "price", "value": value, "start": s, "end": e, "role": kind})
        taken.append((s, e))
    for c in parsed.constraints:
        words = _tokens(c.surface)
        if not words:
            continue
        pattern = r"(?<![\w])" + r"[\W_]+".join(re.escape(w) for w in words) + r"(?![\w])"
        spans = [m.span() for m in re.finditer(pattern, text, re.I)]
        if not spans and len(words) > 1:  # merged from apart words ("formal black shoes"): the head word
            spans = [m.span() for m in re.finditer(rf"(?<![\w]){re.escape(words[-1])}(?![\w])", text, re.I)]
        for s, e in spans:
            if c.values[0].endswith(".") and text[e:e + 1] == ".":  # "U.S. Polo Assn."
                e += 1
            if free(s, e):
                ent = {"entity": c.field, "value": c.values[0], "start": s, "end": e}
                if c.negated:
                    ent["role"] = "excluded"
                out.append(ent)
                taken.append((s, e))
                break
    return sorted(out, key=lambda d: d["start"])


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and (text[end - 1].isspace() or text[end - 1] in ",.!?"):
        end -= 1
    return start, end


def normalise_keep_case(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s'&.+]", " ", text.replace("-", " "))).strip()


def _blank(text: str, m: re.Match) -> str:
    return text[:m.start()] + " " * (m.end() - m.start()) + text[m.end():]


def _tokens(s: str) -> list[str]:
    """Words of a normalised string; hyphens split words, edge dots and quotes are dropped."""
    out = []
    for t in s.replace("-", " ").split(" "):
        t = t.strip(".,'") if not t.endswith("s'") else t.rstrip(".,")
        if t:
            out.append(t)
    return out


def _cased_match(cased: list[str], toks: list[str], i: int, n: int, original: str) -> bool:
    """A case-sensitive brand ("W", "Basics") counts only when typed with its capitals."""
    if len(cased) != len(toks):
        return False
    words = cased[i:i + n]
    return " ".join(words) == " ".join(_tokens(normalise_keep_case(original))) or \
        all(w[:1].isupper() for w in words)


def _dedupe(cons: Iterable[Constraint]) -> list[Constraint]:
    seen: dict[tuple, Constraint] = {}
    for c in cons:
        seen.setdefault((c.field, c.values, c.negated), c)
    return list(seen.values())


def parse(text: str, vocab: Vocabulary) -> ParsedQuery:
    """Convenience: parse with a fresh parser (build a ConstraintParser once to parse many)."""
    return ConstraintParser(vocab).parse(text)


__all__ = ["Constraint", "ConstraintParser", "ParsedQuery", "entity_spans", "parse", "FIELDS", "STOPWORDS"]
