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


# Answers that carry no request of their own: one of them that also names a kind of product, a
# colour or a brand is a search ("only nike", "no, in black", "thanks, now red ones"). Greetings,
# goodbyes and small talk are left alone ("do you like football" names Footballs, "call my mom"
# a gender), and so are a gender, usage or price alone.
BARE_INTENTS = frozenset({"deny", "affirm", "thanks"})
REQUEST_ENTITIES = frozenset({"article_type", "color", "brand", "sub_category", "master_category"})


def intent_with_entities(intent: str | None, entities: list[dict]) -> str | None:
    """The intent a message should have given the entities found in it: ``search`` where a bare
    answer (``BARE_INTENTS``) names a ``REQUEST_ENTITIES`` value, else ``intent`` unchanged.
    The classifier reads letters ("nike" starts like "no" and "nope"); the parser reads words."""
    if intent in BARE_INTENTS and any(e.get("entity") in REQUEST_ENTITIES for e in entities):
        return "search"
    return intent
