"""action_search: a search, a refinement, an exclusion, a photo, or an answer to a question."""
from __future__ import annotations

from dataclasses import replace

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.dialogue.base import ShopAction, intent_of, message_text
from bot.dialogue.present import search_and_show
from bot.dialogue.state import DialogueState


class ActionSearch(ShopAction):
    def name(self) -> str:
        return "action_search"

    def handle(self, dispatcher: CollectingDispatcher, tracker: Tracker, state: DialogueState) -> DialogueState:
        text = message_text(tracker)
        intent = intent_of(tracker)
        meta = tracker.latest_message.get("metadata") or {}
        photos = self.services.photos
        turn = self.services.engine.parser.parse(text)

        sent = meta.get("image")
        new_photo = photos.valid(sent) if sent else None
        if sent and (new_photo is None or photos.path(new_photo) is None):
            dispatcher.utter_message(text="I couldn't open the photo you sent. Could you send it again "
                                          "(a JPEG, PNG or WebP picture)?")
            return state

        if intent == "deny" and not state.pending_question and not turn.constraints and not new_photo:
            # "No, let me type" (a voice transcript was wrong) or a plain "no": nothing to search
            dispatcher.utter_message(text="Okay. Type what you're looking for, or send a photo.")
            return state
        if state.pending_question:  # any reply settles the question; "don't mind" just skips it
            state = state.answer(state.pending_question)

        if new_photo and new_photo != state.photo:  # a new photo is a new search, words refine it
            state = replace(DialogueState(asked=[]), photo=new_photo)
        elif intent == "search" and state.is_new_topic(turn):
            state = state.fresh()
        elif intent == "find_photo" and not new_photo and not state.photo:
            dispatcher.utter_message(text="Send me a photo (use the camera button) and I'll find things like it.")
            return state
        elif intent == "affirm" and not turn.constraints and not state.shown:
            dispatcher.utter_message(text="Great! What are you looking for?")
            return state

        state = state.apply(turn)
        return search_and_show(self.services, dispatcher, state, turn, text)
