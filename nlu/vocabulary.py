"""The catalog vocabulary: every way a shopper may name a catalog value.

Built from the served catalog's own values (passed in as plain rows) plus the everyday names in
:mod:`nlu.lexicon`. It is the single source for the constraint parser and for the dialogue's
training data (lookup tables and synonyms are generated from it).
"""
from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

from nlu import lexicon

FIELDS = ("article_type", "color", "gender", "brand", "usage", "sub_category", "master_category")

_SPACE = re.compile(r"\s+")
_PUNCT = re.compile(r"[^\w\s'&.+-]")


def normalise(text: str) -> str:
    """Lowercase, unify apostrophes and hyphen spacing, collapse whitespace."""
    text = text.lower().replace("\u2019", "'").replace("\u2018", "'")
    text = _PUNCT.sub(" ", text)
    return _SPACE.sub(" ", text).strip()


def singular(word: str) -> str:
    """A rough English singular for the last word of a phrase ("flip flops" -> "flip flop")."""
    head, _, last = word.rpartition(" ")
    if len(last) > 3 and last.endswith(("ches", "shes", "sses", "xes")):
        last = last[:-2]
    elif len(last) > 4 and last.endswith("ies"):  # "hoodies"? no: "panties" -> "panty", but "ties" -> "tie"
        last = last[:-3] + "y" if last not in ("hoodies", "cookies", "movies", "zombies") else last[:-1]
    elif last.endswith("ies"):
        last = last[:-1]
    elif len(last) > 3 and last.endswith("s") and not last.endswith(("ss", "us")):
        last = last[:-1]
    return f"{head} {last}".strip()


def plural(phrase: str) -> str:
    """A rough English plural of the last word ("t shirt" -> "t shirts")."""
    if phrase.endswith("s"):
        return phrase
    if phrase.endswith(("ch", "sh", "x")):
        return phrase + "es"
    return phrase + "s"


@dataclass(frozen=True)
class Entry:
    """One surface form: the words a shopper types and the catalog values they stand for."""

    field: str
    phrase: str  # normalised words
    values: tuple[str, ...]  # accepted canonical values, preferred first
    case_sensitive: bool = False  # brand names that are also common words
    original: str = ""  # the phrase as cased in the catalog (for case-sensitive matches)


@dataclass
class Vocabulary:
    """Canonical values per field, their counts in the catalog, and all surface forms."""

    values: dict[str, list[str]]
    counts: dict[str, dict[str, int]]
    entries: list[Entry] = field(default_factory=list)

    # ---------------------------------------------------------------- building
    @classmethod
    def from_rows(cls, rows: Iterable[Mapping], extra_synonyms: Mapping | None = None) -> "Vocabulary":
        """Build from catalog rows (plain dicts with the attribute fields)."""
        counts: dict[str, Counter] = {f: Counter() for f in FIELDS}
        for row in rows:
            for f in FIELDS:
                v = str(row.get(f) or "").strip()
                if v:
                    counts[f][v] += 1
        values = {f: sorted(c) for f, c in counts.items()}
        vocab = cls(values=values, counts={f: dict(c) for f, c in counts.items()})
        vocab.entries = vocab._make_entries(extra_synonyms or {})
        return vocab

    def _make_entries(self, extra: Mapping) -> list[Entry]:
        out: dict[tuple[str, str], Entry] = {}

        def add(fld: str, phrase: str, vals: Iterable[str], *, override: bool = False,
                case_sensitive: bool = False, original: str = "") -> None:
            vals = tuple(dict.fromkeys(v for v in vals if v in self.counts[fld]))
            phrase = normalise(phrase)
            if not vals or not phrase:
                return
            key = (fld, phrase)
            if key in out and not override:
                merged = out[key].values + tuple(v for v in vals if v not in out[key].values)
                out[key] = Entry(fld, phrase, merged, out[key].case_sensitive, out[key].original)
            else:
                out[key] = Entry(fld, phrase, vals, case_sensitive, original)

        # 1. the catalog's own values and their singular forms
        for fld in FIELDS:
            for v in self.values[fld]:
                if fld == "brand":
                    cs = normalise(v) in lexicon.COMMON_WORD_BRANDS or len(normalise(v)) <= 2
                    add(fld, v, [v], case_sensitive=cs, original=v)
                    continue
                add(fld, v, [v])
                if fld in ("article_type", "sub_category"):
                    add(fld, singular(normalise(v)), [v])
        # 2. built-in everyday names (override the automatic forms: "rucksack" -> Backpacks first)
        tables = {
            "article_type": lexicon.ARTICLE_TYPE_SYNONYMS, "color": lexicon.COLOR_SYNONYMS,
            "gender": lexicon.GENDER_SYNONYMS, "usage": lexicon.USAGE_SYNONYMS,
            "brand": lexicon.BRAND_SYNONYMS, **lexicon.CATEGORY_SYNONYMS,
        }
        for fld, table in tables.items():
            for canonical, forms in table.items():
                for form in forms:
                    phrase, vals = (form[0], [canonical, *form[1:]]) if isinstance(form, (list, tuple)) \
                        else (form, [canonical])
                    add(fld, phrase, vals, override=True)
                    if fld == "article_type":  # "t shirt" also covers "t shirts", and back
                        for variant in (plural(normalise(phrase)), singular(normalise(phrase))):
                            if (fld, variant) not in out:
                                add(fld, variant, vals)
        # 3. the shop's own synonyms file
        for fld, table in extra.items():
            if fld not in FIELDS:
                raise ValueError(f"synonyms file names an unknown field {fld!r}; known: {', '.join(FIELDS)}")
            for canonical, forms in table.items():
                for form in forms:
                    add(fld, form, [canonical], override=True)
        return sorted(out.values(), key=lambda e: (-len(e.phrase), e.field, e.phrase))

    # ---------------------------------------------------------------- queries
    def surface_forms(self, fld: str) -> dict[str, list[str]]:
        """canonical value -> surface forms (for Rasa synonyms and lookup tables)."""
        out: dict[str, list[str]] = {v: [] for v in self.values[fld]}
        for e in self.entries:
            if e.field == fld:
                out.setdefault(e.values[0], []).append(e.phrase)
        return {k: sorted(set(v)) for k, v in out.items()}

    def count(self, fld: str, value: str) -> int:
        return self.counts.get(fld, {}).get(value, 0)

    # ---------------------------------------------------------------- files
    def to_json(self) -> dict:
        return {"values": self.values, "counts": self.counts,
                "entries": [[e.field, e.phrase, list(e.values), e.case_sensitive, e.original] for e in self.entries]}

    @classmethod
    def from_json(cls, data: Mapping) -> "Vocabulary":
        entries = [Entry(f, p, tuple(v), bool(cs), o) for f, p, v, cs, o in data["entries"]]
        return cls(values={k: list(v) for k, v in data["values"].items()},
                   counts={k: dict(v) for k, v in data["counts"].items()}, entries=entries)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=1, ensure_ascii=False))

    @classmethod
    def load(cls, path: str | Path) -> "Vocabulary":
        return cls.from_json(json.loads(Path(path).read_text()))


def load_synonyms_file(path: str | Path | None) -> dict:
    """Read a shop's synonyms JSON ({field: {canonical: [forms]}}); empty when no path is set."""
    if not path:
        return {}
    data = json.loads(Path(path).read_text())
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ValueError(f"{path}: expected {{field: {{canonical value: [synonyms]}}}}")
    return data
