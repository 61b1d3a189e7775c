"""Text -> NLU entities with character spans: catalog values, prices, shown-result positions.

The one place the dialogue's entity extractor (bot/rasa_components.py, inside Rasa) and the
tests get entities from, so Rasa's entities and the search's constraints come from one parser.
"""
from __future__ import annotations

from nlu.constraints import ConstraintParser, entity_spans
from nlu.references import find_ordinals


def message_entities(parser: ConstraintParser, text: str) -> list[dict]:
    """[{"entity", "value", "start", "end", "role"?}] in order of position."""
    parsed = parser.parse(text)
    out = entity_spans(text, parsed)
    taken = [(e["start"], e["end"]) for e in out]
    for start, end, position in find_ordinals(text):
        if all(end <= s or start >= e for s, e in taken):
            out.append({"entity": "ordinal", "value": position, "start": start, "end": end})
    return sorted(out, key=lambda e: e["start"])
