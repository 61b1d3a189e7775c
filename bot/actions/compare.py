"""action_compare: "compare 1 and 2" — a side-by-side of price, colour, brand, type and why."""
from __future__ import annotations

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.dialogue.base import ShopAction
from bot.dialogue.cards import card, comparison
from bot.dialogue.pointing import pick, reason_for
from bot.dialogue.state import DialogueState


class ActionCompare(ShopAction):
    def name(self) -> str:
        return "action_compare"

    def handle(self, dispatcher: CollectingDispatcher, tracker: Tracker, state: DialogueState) -> DialogueState:
        chosen = pick(tracker, state, dispatcher, want=2)
        if not chosen:
            return state
        engine = self.services.engine
        rows = [(pos, p, reason_for(engine, p, state)) for pos, pid in chosen
                if (p := engine.index.get(pid)) is not None]
        if len(rows) < 2:
            dispatcher.utter_message(text="I need two products that are still in the catalog to compare.")
            return state
        text, table = comparison(rows)
        dispatcher.utter_message(text=text, json_message={"comparison": table,
                                                          "products": [card(p, why) for _, p, why in rows]})
        return state
