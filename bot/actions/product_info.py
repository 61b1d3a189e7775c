"""action_product_info: "tell me about number 3"."""
from __future__ import annotations

from dataclasses import replace

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.dialogue.base import ShopAction
from bot.dialogue.cards import card, details
from bot.dialogue.pointing import pick_one, reason_for
from bot.dialogue.state import DialogueState


class ActionProductInfo(ShopAction):
    def name(self) -> str:
        return "action_product_info"

    def handle(self, dispatcher: CollectingDispatcher, tracker: Tracker, state: DialogueState) -> DialogueState:
        chosen = pick_one(self.services.engine, tracker, state, dispatcher)
        if chosen is None:
            return state
        position, product_id, product = chosen
        if product is None:
            dispatcher.utter_message(text="That product is no longer in the catalog, sorry.")
            return state
        why = reason_for(self.services.engine, product, state)
        dispatcher.utter_message(text=details(product, position), json_message={"products": [card(product, why)]},
                                 buttons=[{"title": "More like this", "payload": f"more like number {position}"}])
        return replace(state, focus=product_id)
