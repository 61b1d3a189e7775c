"""Which shown products the shopper points at ("the second one", "compare 1 and 3")."""
from __future__ import annotations

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.dialogue.base import message_text, ordinal_entities
from bot.dialogue.state import DialogueState
from nlu.references import positions
from retrieval.explain import explain


def pick(tracker: Tracker, state: DialogueState, dispatcher: CollectingDispatcher,
         want: int = 1) -> list[tuple[int, str]]:
    """[(position, product id)] of the shown products meant, or [] after saying why not."""
    if not state.shown:
        dispatcher.utter_message(text="I haven't shown you anything yet. What are you looking for?")
        return []
    pos = positions(message_text(tracker)) or ordinal_entities(tracker)
    if not pos and want == 1 and state.focus in state.shown:
        pos = [state.shown.index(state.focus) + 1]
    if not pos:
        pos = list(range(1, want + 1)) if want > 1 or len(state.shown) == 1 else []
    if len(pos) < want and want > 1 and len(pos) == 1 and len(state.shown) >= 2:
        other = 1 if pos[0] != 1 else 2  # "compare it with the first"
        pos = [pos[0], other]
    if not pos:
        dispatcher.utter_message(text="Which one do you mean? Say for example \"number 2\".")
        return []
    n = len(state.shown)
    out, bad = [], []
    for p in pos:
        i = n if p == -1 else p
        (out if 1 <= i <= n else bad).append(i)
    if bad:
        dispatcher.utter_message(text=f"I showed {n} product{'s' if n != 1 else ''}; "
                                      f"pick a number from 1 to {n}.")
        return []
    out = list(dict.fromkeys(out))
    if len(out) < want:
        dispatcher.utter_message(text="Tell me which two to compare, for example \"compare 1 and 2\".")
        return []
    return [(i, state.shown[i - 1]) for i in out]


def pick_one(engine, tracker: Tracker, state: DialogueState,
             dispatcher: CollectingDispatcher) -> tuple[int, str, object | None] | None:
    """(position, product id, the product or None when it left the catalog) of the one shown
    product meant, or None after saying why not."""
    chosen = pick(tracker, state, dispatcher, want=1)
    if not chosen:
        return None
    position, product_id = chosen[0]
    return position, product_id, engine.index.get(product_id)


def reason_for(engine, product, state: DialogueState) -> str:
    """The one-line reason for a product against what the shopper asked so far."""
    from nlu.constraints import ParsedQuery

    why = explain(product, state.query(ParsedQuery(text="")), text_similarity=None, visual_similarity=None,
                  weights={}, relaxed=[])
    return why["reason"]
