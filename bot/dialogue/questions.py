"""The one clarifying question that splits the candidates best.

When a request leaves many different kinds of products, look at the top candidates and ask
about the attribute whose values are spread most evenly among them (highest entropy), offering
its most common real values as quick replies. A photo whose type is uncertain gets a
confirming question instead ("Is this a sandal or a flip-flop?").
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Sequence

from bot.dialogue.state import DialogueState
from nlu.vocabulary import singular

ASKABLE = ("article_type", "gender", "color", "usage")
MIN_ENTROPY_BITS = 1.0  # below this the candidates are already alike on every askable attribute
DONT_MIND = "Don't mind"


@dataclass
class Question:
    field: str
    text: str
    options: list[str]
    entropy: float = 0.0
    kind: str = "clarify"  # clarify | confirm_photo
    scores: dict[str, float] = field(default_factory=dict)

    def buttons(self) -> list[dict]:
        extra = "Neither" if self.kind == "confirm_photo" else DONT_MIND
        return [{"title": o, "payload": o} for o in self.options] + [{"title": extra, "payload": extra}]

    def to_dict(self) -> dict:
        return {"field": self.field, "text": self.text, "options": self.options, "kind": self.kind,
                "entropy": round(self.entropy, 3)}


def entropy(values: Sequence[str]) -> float:
    """Shannon entropy in bits of the value distribution (empty values ignored)."""
    counts = Counter(v for v in values if v)
    n = sum(counts.values())
    return -sum(c / n * math.log2(c / n) for c in counts.values()) if n else 0.0


def _phrase(field_name: str, options: list[str]) -> str:
    opts = [o.lower() if field_name in ("gender", "color", "usage") else o for o in options]
    listed = ", ".join(opts[:-1]) + f" or {opts[-1]}" if len(opts) > 1 else opts[0]
    listed = listed[0].upper() + listed[1:]
    return {
        "gender": f"Who is it for: {listed}?",
        "color": f"Any colour in mind: {listed}?",
        "usage": f"What is it for: {listed}?",
        "article_type": f"What kind are you after: {listed}?",
    }.get(field_name, f"{listed}?")


def choose_question(candidates: Sequence, state: DialogueState, *, top: int = 40,
                    max_options: int = 3) -> Question | None:
    """The question to ask about these candidates (products with attribute fields), or None.

    Only for vague requests, only about attributes the shopper has not named, never one
    already asked in this conversation.
    """
    if not state.is_vague() or state.pending_question:
        return None
    cands = list(candidates)[:top]
    if len(cands) < 4:
        return None
    scores: dict[str, float] = {}
    for f in ASKABLE:
        if state.wanted.get(f) or f in state.asked:
            continue
        scores[f] = entropy([getattr(p, f, "") for p in cands])
    if not scores:
        return None
    best = max(scores, key=scores.get)
    if scores[best] < MIN_ENTROPY_BITS:
        return None
    options = [v for v, _ in Counter(getattr(p, best, "") for p in cands if getattr(p, best, "")).most_common(max_options)]
    if len(options) < 2:
        return None
    return Question(best, _phrase(best, options), options, scores[best], scores=scores)


def confirm_photo_type(photo: dict | None, state: DialogueState, *, sure: float = 0.6,
                       runner_up: float = 0.15) -> Question | None:
    """'Is this a sandal or a flip-flop?' when the photo's two likeliest types are close."""
    if not photo or state.wanted.get("article_type") or "article_type" in state.asked or state.pending_question:
        return None
    top = photo.get("top", {}).get("article_type") or []
    if len(top) < 2 or top[0][1] >= sure or top[1][1] < runner_up:
        return None
    a, b = top[0][0], top[1][0]
    return Question("article_type", f"Is this {_article(a)} or {_article(b)}?", [a, b],
                    kind="confirm_photo", scores={a: top[0][1], b: top[1][1]})


_PAIRED = ("jeans", "trousers", "shorts", "pants", "leggings", "sunglasses", "briefs", "boxers", "capris",
           "tights", "socks", "track pants", "shoes", "flip flops", "sandals", "heels", "flats", "lounge pants")


def _article(value: str) -> str:
    """'a sandal', 'an innerwear vest', 'jeans' (things that come in pairs keep their plural)."""
    word = value.lower()
    if word.endswith(_PAIRED) and not word.endswith(("flip flops", "sandals", "heels", "flats")):
        return word
    one = singular(word)
    return f"an {one}" if one[:1] in "aeiou" else f"a {one}"
