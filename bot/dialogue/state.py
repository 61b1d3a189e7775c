"""What the shopper wants so far, carried in Rasa slots from turn to turn.

``DialogueState.from_slots`` reads the slots, ``apply`` folds one parsed message into it
(refine, exclude, relative price, a new topic), ``query`` turns it into the ParsedQuery the
search engine takes (this turn's words marked ``text``, earlier turns ``dialogue``), and
``slot_values`` writes it back.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from nlu.constraints import Constraint, ParsedQuery

FIELDS = ("article_type", "color", "gender", "brand", "usage", "sub_category", "master_category")
WHAT = ("article_type", "sub_category", "master_category")  # fields that say what kind of product


@dataclass
class DialogueState:
    """Accumulated constraints and conversation context."""

    wanted: dict[str, list[str]] = field(default_factory=dict)  # field -> accepted values
    excluded: list[tuple[str, str]] = field(default_factory=list)  # (field, value)
    min_price: float | None = None
    max_price: float | None = None
    price_pref: str | None = None
    keywords: str = ""
    photo: str | None = None  # content hash of the shopper's photo
    reference: str | None = None  # product id the shopper pointed at ("more like the first")
    shown: list[str] = field(default_factory=list)
    shown_prices: list[float] = field(default_factory=list)
    focus: str | None = None
    asked: list[str] = field(default_factory=list)
    pending_question: str | None = None

    # ------------------------------------------------------------------ slots
    @classmethod
    def from_slots(cls, slots: Mapping[str, Any]) -> "DialogueState":
        def num(x: Any) -> float | None:
            try:
                return None if x is None or x == "" else float(x)
            except (TypeError, ValueError):
                return None

        excluded = []
        for item in slots.get("excluded") or []:
            if isinstance(item, str) and ":" in item:
                f, v = item.split(":", 1)
                if f in FIELDS:
                    excluded.append((f, v))
        prices = [p for p in (num(x) for x in slots.get("shown_prices") or []) if p is not None]
        return cls(
            wanted={f: [str(v) for v in slots[f]] for f in FIELDS if slots.get(f)},
            excluded=excluded,
            min_price=num(slots.get("min_price")),
            max_price=num(slots.get("max_price")),
            price_pref=slots.get("price_pref") if slots.get("price_pref") in ("low", "high") else None,
            keywords=str(slots.get("keywords") or ""),
            photo=slots.get("photo") or None,
            reference=slots.get("reference") or None,
            shown=[str(s) for s in slots.get("shown") or []],
            shown_prices=prices,
            focus=slots.get("focus") or None,
            asked=[str(a) for a in slots.get("asked") or []],
            pending_question=slots.get("pending_question") or None,
        )

    def slot_values(self) -> dict[str, Any]:
        """Every slot this state owns (None clears one)."""
        out: dict[str, Any] = {f: list(self.wanted[f]) if self.wanted.get(f) else None for f in FIELDS}
        out.update(
            excluded=[f"{f}:{v}" for f, v in self.excluded] or None,
            min_price=self.min_price, max_price=self.max_price, price_pref=self.price_pref,
            keywords=self.keywords or None, photo=self.photo, reference=self.reference,
            shown=list(self.shown) or None, shown_prices=list(self.shown_prices) or None,
            focus=self.focus, asked=list(self.asked) or None, pending_question=self.pending_question,
        )
        return out

    # ------------------------------------------------------------------ turns
    def is_new_topic(self, parsed: ParsedQuery) -> bool:
        """A search naming a different kind of product than the one so far starts afresh."""
        for f in WHAT:
            new = set(parsed.wanted(f))
            if new and self.wanted.get(f) and not new & set(self.wanted[f]):
                return True
        new_what = any(parsed.wanted(f) for f in WHAT)
        old_fields = {f for f in WHAT if self.wanted.get(f)}
        # "shoes" after "a belt" changes field level too: compare by the field that the message names
        return new_what and bool(old_fields) and not any(parsed.wanted(f) for f in old_fields)

    def fresh(self, keep: tuple[str, ...] = ("gender",)) -> "DialogueState":
        """A new search: keep only who it is for (and the questions already asked about it)."""
        kept = {f: v for f, v in self.wanted.items() if f in keep}
        return DialogueState(wanted=kept, asked=[a for a in self.asked if a in keep])

    def apply(self, parsed: ParsedQuery) -> "DialogueState":
        """Fold this message's constraints in: a named value replaces the field's earlier one,
        an exclusion adds up, a new price bound replaces the old, "cheaper"/"more expensive"
        move the bound relative to what was shown."""
        s = replace(self, wanted=dict(self.wanted), excluded=list(self.excluded), asked=list(self.asked))
        for c in parsed.constraints:
            if c.negated:
                item = (c.field, c.values[0])
                if item not in s.excluded:
                    s.excluded.append(item)
                if c.values[0] in s.wanted.get(c.field, []):
                    rest = [v for v in s.wanted[c.field] if v != c.values[0]]
                    s.wanted[c.field] = rest
                    if not rest:
                        del s.wanted[c.field]
        for f in FIELDS:
            vals = list(parsed.wanted(f))
            if vals:
                s.wanted[f] = vals
                s.excluded = [(ef, ev) for ef, ev in s.excluded if not (ef == f and ev in vals)]
                if f in WHAT:  # one level of "what" at a time: Sandals replaces Footwear
                    for g in WHAT:
                        if g != f:
                            s.wanted.pop(g, None)
        if parsed.min_price is not None or parsed.max_price is not None:
            s.min_price, s.max_price = parsed.min_price, parsed.max_price
            s.price_pref = None
        elif parsed.price_pref:
            s = s._relative_price(parsed.price_pref)
        if parsed.residual:
            s.keywords = parsed.residual
        return s

    def _relative_price(self, pref: str) -> "DialogueState":
        """'cheaper': under the middle price of what was shown; 'more expensive': over it."""
        if not self.shown_prices:
            return replace(self, price_pref=pref)
        mid = statistics.median(self.shown_prices)
        if pref == "low":
            return replace(self, max_price=round(mid, 2), min_price=None, price_pref="low")
        return replace(self, min_price=round(mid, 2), max_price=None, price_pref="high")

    def answer(self, field_name: str | None) -> "DialogueState":
        """The pending question is settled (answered, or "don't mind"): never ask it again."""
        asked = list(self.asked)
        if field_name and field_name not in asked:
            asked.append(field_name)
        return replace(self, asked=asked, pending_question=None)

    # ------------------------------------------------------------------ search
    def query(self, turn: ParsedQuery) -> ParsedQuery:
        """The whole request: this turn's words as said, earlier answers as dialogue constraints."""
        said = {(c.field, c.values, c.negated) for c in turn.constraints}
        cons: list[Constraint] = [c for c in turn.constraints
                                  if (c.negated and (c.field, c.values[0]) in self.excluded)
                                  or (not c.negated and self.wanted.get(c.field) == list(c.values))]
        for f, vals in self.wanted.items():
            if not any(c.field == f and not c.negated for c in cons):
                cons.append(Constraint(f, tuple(vals), False, vals[0].lower(), "dialogue"))
        for f, v in self.excluded:
            if (f, (v,), True) not in said and not any(c.field == f and c.negated and c.values[0] == v for c in cons):
                cons.append(Constraint(f, (v,), True, v.lower(), "dialogue"))
        return ParsedQuery(turn.text, cons, self.min_price, self.max_price, self.price_pref,
                           turn.residual or self.keywords)

    def is_vague(self) -> bool:
        """Too little said to narrow the catalog: no kind of product, or nothing but a kind."""
        named = sum(1 for f in FIELDS if self.wanted.get(f)) + \
            (self.min_price is not None or self.max_price is not None)
        return not self.photo and not self.reference and (
            not any(self.wanted.get(f) for f in WHAT) or named < 2)

    def describe(self) -> str:
        """'black casual shoes for men, under $80, not Nike' for messages."""
        w = self.wanted
        what = " ".join(x for x in (
            " or ".join(w.get("color", [])[:2]).lower(),
            (w.get("brand") or [""])[0],
            " or ".join((w.get("article_type") or w.get("sub_category") or w.get("master_category")
                         or ["products"])[:3]).lower(),
        ) if x)
        if w.get("gender"):
            what += " for " + " or ".join(w["gender"][:2]).lower()
        if w.get("usage"):
            what += f", {w['usage'][0].lower()} wear"
        if self.min_price is not None and self.max_price is not None:
            what += f", ${self.min_price:g}-${self.max_price:g}"
        elif self.max_price is not None:
            what += f", under ${self.max_price:g}"
        elif self.min_price is not None:
            what += f", over ${self.min_price:g}"
        if self.excluded:
            what += ", not " + " or ".join(v for _, v in self.excluded)
        return what
