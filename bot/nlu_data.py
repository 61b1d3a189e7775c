"""Rasa training data generated from the catalog vocabulary: one command, any shop's catalog.

``python -m bot data`` writes ``data/generated/catalog.yml`` (search and refine examples filled
with the catalog's own values, their synonyms and lookup tables) and ``var/rasa/vocabulary.json``
(read by the Rasa entity extractor at training time). The hand-written intents that do not depend
on the catalog (greet, compare, "the second one", ...) stay in ``data/nlu.yml``.

Examples are annotated from the templates (the slot a value was put in), not by running the
parser, so training data tests the parser rather than copying it.
"""
from __future__ import annotations

import hashlib
import json
import logging
import random
import re
from dataclasses import dataclass
from pathlib import Path

from nlu.vocabulary import Vocabulary

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
GENERATED = REPO_ROOT / "data" / "generated" / "catalog.yml"
VOCAB_OUT = REPO_ROOT / "var" / "rasa" / "vocabulary.json"

# {slot} names: type, color, gender, brand, usage, category, max, min, range, around, xcolor, xbrand, xtype
SEARCH_TEMPLATES = [
    "show me {color} {type}", "I'm looking for {type} for {gender}", "{brand} {type} {max}",
    "do you have {color} {type} from {brand}", "I need {usage} {type}", "find me {gender} {type} {range}",
    "{type}", "{color} {type}", "any {color} {type} but not {xbrand}", "looking for {type} {around}",
    "I want to buy {type}", "can you find {usage} {type} for {gender}", "{gender} {type} {max}",
    "I'd like some {color} {type} please", "search for {brand} {type}", "{type} for {gender} in {color}",
    "got any {type} {min}?", "show me {type} that are not {xcolor}", "I need a new pair of {type}",
    "looking for {color} {usage} {type} for {gender}", "what {type} do you have", "show {brand} {category}",
    "I'm after some {category} for {gender}", "{category} for {usage} {max}", "buy {type}",
    "need {type} for my {gender_word}", "gift for my {gender_word}, maybe {type}", "recommend some {type}",
    "{brand} {type} for {gender} {max}", "{color} {type} for {gender}", "{type} {max} but no {xcolor}",
    "show me {type} from {brand}", "looking for {gender} {category}", "i want {color} {brand} {type}",
    "cheap {type} for {gender}", "premium {type}", "help me find {type}", "do you sell {type}?",
]
REFINE_TEMPLATES = [
    "in {color}", "do you have it in {color}", "for {gender}", "{max}", "cheaper", "more expensive",
    "something cheaper", "not {xbrand}", "no {xcolor}", "without {xcolor}", "only {brand}",
    "show me {color} ones", "what about {color}", "make it {color}", "any in {color}?", "the same for {gender}",
    "like this but in {color}", "{color}", "{gender}", "for {gender} please", "{color} please", "just {brand}",
    "can I see them in {color}", "something less expensive", "a bit cheaper please", "not {xcolor}",
    "no {xbrand} please", "i don't like {xbrand}", "anything but {xcolor}", "{range}", "{min}", "{around}",
    "same but {color}", "same but for {gender}", "only {color} ones", "from {brand}", "by {brand}",
    "show more expensive ones", "like this but cheaper", "like this but for {gender}", "only {usage} ones",
    "for {usage}", "{usage} please", "not {xtype}", "without {xbrand}", "cheaper ones please",
    "do they come in {color}", "I prefer {color}", "make it for {gender}", "I'd rather have {color}",
    "actually for {gender}", "what about {type}", "show {type} instead", "maybe {color}?", "hmm, {color} maybe",
    "the {gender} version", "i dont want {xtype}", "no {xtype} please", "lower price please, {max}",
    "actually make it {color}", "and {max}", "ok now {type}", "rather {type}", "{type} instead",
    "not {xbrand} please", "no {xbrand}", "nothing from {xbrand}", "not {xcolor} ones", "not in {xcolor}",
    "can i see {gender} ones", "can I see {color} ones", "can i see some {type}", "show me {gender} ones",
]
GENDER_WORDS = ["wife", "husband", "son", "daughter", "mom", "dad", "girlfriend", "boyfriend", "sister",
                "brother"]
PRICE_FORMS = {
    "max": ["under {a}", "under ${a}", "below {a} dollars", "less than ${a}", "under {a} bucks", "up to {a}",
            "max {a}", "{a} dollars or less"],
    "min": ["over {a}", "above ${a}", "more than {a} dollars", "at least {a}"],
    "range": ["between {a} and {b}", "between ${a} and ${b}", "from {a} to {b} dollars", "${a}-${b}"],
    "around": ["around {a}", "about ${a}", "roughly {a} dollars"],
}


@dataclass
class Span:
    text: str
    entity: str
    value: str
    role: str | None = None


def _values(vocab: Vocabulary, fld: str, rng: random.Random) -> str:
    counts = vocab.counts.get(fld, {})
    vals = [v for v in vocab.values.get(fld, []) if v in counts]
    weights = [counts[v] ** 0.5 for v in vals]
    return rng.choices(vals, weights)[0]


def _surface(vocab: Vocabulary, fld: str, value: str, rng: random.Random,
             case_rng: random.Random | None = None, cased: frozenset[str] = frozenset()) -> str:
    forms = vocab.surface_forms(fld).get(value) or [value.lower()]
    if fld == "brand":
        # shoppers type "only nike": half the brands the parser reads in any case come lower-cased
        # (from their own random stream, so the rest of the generated data stays as it was)
        if case_rng is not None and value not in cased and case_rng.random() < 0.5:
            return value.lower()
        return value if value.upper() != value or len(value) <= 4 else value.title()
    plain = value.lower()
    return plain if plain in forms and rng.random() < 0.5 else rng.choice(forms)


class Generator:
    """Fills templates with the catalog's values; every example is annotated."""

    def __init__(self, vocab: Vocabulary, seed: int = 13) -> None:
        self.vocab = vocab
        self.rng = random.Random(seed)
        self.case_rng = random.Random(seed + 1)
        self._cased = frozenset(e.values[0] for e in vocab.entries if e.field == "brand" and e.case_sensitive)
        self.fields = {f for f, vals in vocab.values.items() if vals}
        type_phrases = {e.phrase for e in vocab.entries if e.field == "article_type"}
        self._categories = [v for v, forms in vocab.surface_forms("sub_category").items()
                            if forms and not set(forms) & type_phrases and vocab.counts["sub_category"].get(v, 0) >= 20]

    def _fill(self, slot: str) -> Span | None:
        rng, v = self.rng, self.vocab
        field_of = {"type": "article_type", "color": "color", "gender": "gender", "brand": "brand",
                    "usage": "usage", "category": "sub_category", "xcolor": "color", "xbrand": "brand",
                    "xtype": "article_type"}
        if slot in field_of:
            fld = field_of[slot]
            if fld not in self.fields:
                return None
            if slot == "category":  # only categories no article type shares a name with ("Topwear")
                value = self.rng.choice(self._categories) if self._categories else None
                if value is None:
                    return None
            elif slot == "usage":  # the rare usages make odd sentences
                value = rng.choice([u for u, n in v.counts["usage"].items() if n >= 50] or v.values["usage"])
            elif slot == "gender":
                value = rng.choice([g for g in v.values["gender"] if g in ("Men", "Women", "Boys", "Girls")]
                                   or v.values["gender"])
            else:
                value = _values(v, fld, rng)
            text = _surface(v, fld, value, rng, self.case_rng, self._cased)
            if fld == "gender" and text in ("him", "her"):
                text = value.lower()
            return Span(text, fld, value, "excluded" if slot.startswith("x") else None)
        if slot == "gender_word":
            word = rng.choice(GENDER_WORDS)
            hits = [g for g, forms in v.surface_forms("gender").items() if word in forms]
            return Span(word, "gender", hits[0]) if hits else None
        if slot in PRICE_FORMS:
            a = rng.choice([20, 25, 30, 40, 50, 60, 75, 80, 100, 120, 150, 200])
            b = a + rng.choice([10, 20, 30, 50])
            form = rng.choice(PRICE_FORMS[slot])
            value = f"{a}-{b}" if slot == "range" else str(a)
            return Span(form.format(a=a, b=b), "price", value, slot)
        raise KeyError(slot)

    def example(self, template: str) -> str | None:
        """One annotated example in Rasa's markdown-in-YAML entity syntax, or None."""
        out, pos = [], 0
        for m in re.finditer(r"\{(\w+)\}", template):
            span = self._fill(m.group(1))
            if span is None:
                return None
            out.append(template[pos:m.start()])
            ann = {"entity": span.entity, "value": span.value}
            if span.role:
                ann["role"] = span.role
            out.append(f"[{span.text}]{json.dumps(ann, ensure_ascii=False)}")
            pos = m.end()
        out.append(template[pos:])
        return "".join(out)

    def examples(self, templates: list[str], per_template: int) -> list[str]:
        """Distinct examples of every template: 3 x per_template fillings each (repeats dropped),
        one for a template without slots."""
        seen: dict[str, None] = {}
        for t in templates:
            for _ in range(3 * per_template if "{" in t else 1):
                ex = self.example(t)
                if ex is not None:
                    seen.setdefault(ex, None)
        return list(seen)


def _block(lines: list[str]) -> str:
    return "".join(f"      - {line}\n" for line in lines)


def render(vocab: Vocabulary, seed: int = 13, per_template: int = 4) -> str:
    """The generated YAML file's text."""
    gen = Generator(vocab, seed)
    # one intent: a new search and a refinement differ by content (a new kind of product or
    # not), which the dialogue state decides; Rasa only has to tell searching from the rest
    search = gen.examples(SEARCH_TEMPLATES, per_template) + gen.examples(REFINE_TEMPLATES, max(1, per_template // 2))
    parts = ['# GENERATED by `python -m bot data` from the catalog vocabulary; do not edit.\n',
             'version: "3.1"\n', "nlu:\n"]
    parts.append(f"  - intent: search\n    examples: |\n{_block(search)}")
    used: set[str] = set()
    for fld in ("article_type", "color", "gender", "usage", "brand", "sub_category"):
        if fld not in gen.fields:
            continue
        forms_by_value = vocab.surface_forms(fld)
        for value, forms in sorted(forms_by_value.items()):
            syn = [f for f in forms if f != value and f.lower() != value.lower() and f not in used
                   and not f.startswith(("-", "[", "{"))]
            used.update(syn)
            if syn:
                parts.append(f"  - synonym: {json.dumps(value, ensure_ascii=False)}\n    examples: |\n{_block(syn)}")
        lookup = sorted({f for forms in forms_by_value.values() for f in forms if f[:1] not in "-[{"})
        if lookup:
            parts.append(f"  - lookup: {fld}\n    examples: |\n{_block(lookup)}")
    return "".join(parts)


def load_vocabulary(settings) -> Vocabulary:
    """The catalog's vocabulary (from the catalog itself, so set-up can train Rasa before any
    index is built; the search engine makes the same one from the index's products)."""
    from nlu.vocabulary import load_synonyms_file
    from retrieval.catalog import load_catalog

    catalog = load_catalog(settings.catalog_dir, settings.catalog_columns or None, settings.catalog_csv,
                           check_images="none")
    return Vocabulary.from_rows(catalog.rows(), load_synonyms_file(settings.synonyms_file))


def write(settings, out: Path = GENERATED, vocab_out: Path = VOCAB_OUT) -> dict:
    """Write the generated training data and the vocabulary; return what was written."""
    vocab = load_vocabulary(settings)
    text = render(vocab)
    out.parent.mkdir(parents=True, exist_ok=True)
    vocab_out.parent.mkdir(parents=True, exist_ok=True)
    vocab_json = json.dumps(vocab.to_json(), ensure_ascii=False, sort_keys=True)
    for path, content in ((out, text), (vocab_out, vocab_json)):
        if not path.exists() or path.read_text() != content:
            path.write_text(content)
    return {"data": str(out), "vocabulary": str(vocab_out),
            "examples": text.count("\n      - "), "sha": hashlib.sha256((text + vocab_json).encode()).hexdigest()[:12]}
