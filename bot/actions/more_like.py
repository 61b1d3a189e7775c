"""action_more_like: "more like the first" — the pointed-at product becomes the query's anchor."""
from __future__ import annotations

from dataclasses import replace

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.dialogue.base import ShopAction, message_text
from bot.dialogue.pointing import pick_one
from bot.dialogue.present import search_and_show
from bot.dialogue.state import DialogueState


class ActionMoreLike(ShopAction):
    def name(self) -> str:
        return "action_more_like"

    def handle(self, dispatcher: CollectingDispatcher, tracker: Tracker, state: DialogueState) -> DialogueState:
        chosen = pick_one(self.services.engine, tracker, state, dispatcher)
        if chosen is None:
            return state
        position, product_id, product = chosen
        turn = self.services.engine.parser.parse(message_text(tracker))
        turn.residual = ""  # "more like the second": the pointing words are not what to look for
        state = replace(state.apply(turn), reference=product_id, photo=None, focus=product_id, keywords="")
        if product is not None and product.article_type and not turn.wanted("article_type") \
                and not any(turn.wanted(f) for f in ("sub_category", "master_category")):
            # the same kind of product as the one pointed at, unless the shopper names another
            state.wanted = {**{f: v for f, v in state.wanted.items() if f not in ("sub_category", "master_category")},
                            "article_type": [product.article_type]}
        lead = f"More like number {position}, {product.title}:" if product else None
        return search_and_show(self.services, dispatcher, state, turn, "", lead=lead,
                               exclude_ids=tuple(state.shown))
