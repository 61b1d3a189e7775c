"""Run the search for a dialogue state and say the results (shared by search and "more like")."""
from __future__ import annotations

import logging
from dataclasses import replace

from rasa_sdk.executor import CollectingDispatcher

from bot.dialogue.base import Services
from bot.dialogue.cards import card
from bot.dialogue.questions import choose_question, confirm_photo_type
from bot.dialogue.state import DialogueState
from nlu.constraints import ParsedQuery

log = logging.getLogger(__name__)


def search_and_show(services: Services, dispatcher: CollectingDispatcher, state: DialogueState,
                    turn: ParsedQuery, text: str, *, lead: str | None = None,
                    exclude_ids: tuple[str, ...] = ()) -> DialogueState:
    """Search, send the product cards (and at most one question); return the new state."""
    from retrieval.search import SearchError  # the engine's error type (a fake raises it too)

    image = services.photos.read(state.photo) if state.photo else None
    if state.photo and image is None:
        dispatcher.utter_message(text="I can't find the photo you sent earlier any more. Could you send it again?")
        state = replace(state, photo=None)
    parsed = state.query(turn)
    if parsed.is_empty() and not parsed.residual and not text and image is None and not state.reference:
        dispatcher.utter_message(text="What are you looking for? Tell me, or send a photo.")
        return state
    try:
        result = services.engine.search(text=text, image=image, parsed=parsed, k=services.candidates,
                                        reference_id=state.reference, exclude_ids=exclude_ids)
    except SearchError as e:
        dispatcher.utter_message(text=f"Sorry, {e}.")
        return state
    hits = result.hits[:services.show]
    if not hits:
        dispatcher.utter_message(text=f"I couldn't find anything for {state.describe()}. "
                                      "Try fewer details, or say \"start over\".")
        return replace(state, shown=[], shown_prices=[], focus=None)

    header = lead or _header(state, result)
    extra = {}
    if result.photo:
        extra["photo"] = {f: top[0][0] for f, top in result.photo["top"].items() if top}
    if hits[0].why.get("weights"):
        extra["weights"] = hits[0].why["weights"]
    dispatcher.utter_message(text=header, json_message={"products": [card(h.product, h.reason) for h in hits],
                                                        **extra})
    state = replace(state, shown=[h.product.id for h in hits],
                    shown_prices=[h.product.price for h in hits if h.product.price is not None], focus=None)

    question = confirm_photo_type(result.photo, state) or \
        choose_question([h.product for h in result.hits], state, top=services.candidates)
    if question is not None:
        dispatcher.utter_message(text=question.text, buttons=question.buttons(),
                                 json_message={"question": question.to_dict()})
        state = replace(state, pending_question=question.field,
                        asked=[*state.asked, question.field] if question.field not in state.asked else state.asked)
    return state


def _header(state: DialogueState, result) -> str:
    if result.message:
        return f"{result.message} Here are the closest:"
    if state.photo and result.photo:
        look = result.photo["top"]
        guess = " ".join(v for v in ((look.get("color") or [[""]])[0][0].lower(),
                                     (look.get("article_type") or [[""]])[0][0].lower()) if v)
        said = state.describe() if any(state.wanted.values()) else ""
        return (f"It looks like {guess}. " if guess else "") + \
            ("Here is what I found like your photo" + (f", {said}" if said else "") + ":")
    if state.reference:
        return f"More like that one ({state.describe()}):"
    return f"Here are {state.describe()}:"
