"""action_start_over: forget the search so far (the conversation itself is kept)."""
from __future__ import annotations

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.dialogue.base import ShopAction
from bot.dialogue.state import DialogueState


class ActionStartOver(ShopAction):
    def name(self) -> str:
        return "action_start_over"

    def handle(self, dispatcher: CollectingDispatcher, tracker: Tracker, state: DialogueState) -> DialogueState:
        dispatcher.utter_message(text="Okay, a fresh start. What are you looking for?")
        return DialogueState()
