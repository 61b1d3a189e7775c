"""Base class of the shop's actions (kept out of bot/actions so no executor registers it)."""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.dialogue.photos import PhotoStore
from bot.dialogue.state import DialogueState

log = logging.getLogger(__name__)

SORRY = "Sorry, something went wrong on my side. Could you say that again?"


@dataclass
class Services:
    """What the actions work with, built once per process (tests pass fakes)."""

    engine: Any  # retrieval.search.SearchEngine or a fake with the same search()/parser/index
    photos: PhotoStore
    show: int = 6  # products per answer
    candidates: int = 40  # how many top candidates the clarifying question looks at


class ShopAction(Action):
    """An action with the shop's services; runs its handler off the event loop and never lets
    an error end the conversation."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def name(self) -> str:  # pragma: no cover - every action overrides
        raise NotImplementedError

    def handle(self, dispatcher: CollectingDispatcher, tracker: Tracker, state: DialogueState) -> DialogueState | None:
        raise NotImplementedError

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict]:
        state = DialogueState.from_slots(tracker.current_slot_values())
        try:
            new = await asyncio.to_thread(self.handle, dispatcher, tracker, state)
        except Exception:  # the conversation goes on whatever happened
            log.exception("%s failed on %r", self.name(), tracker.latest_message.get("text"))
            dispatcher.utter_message(text=SORRY)
            return []
        if new is None:
            return []
        old = state.slot_values()
        return [SlotSet(k, v) for k, v in new.slot_values().items() if old.get(k) != v]


def message_text(tracker: Tracker) -> str:
    """The shopper's words ('' for a bare intent payload such as /find_photo)."""
    text = (tracker.latest_message.get("text") or "").strip()
    return "" if text.startswith("/") else text


def intent_of(tracker: Tracker) -> str | None:
    return (tracker.latest_message.get("intent") or {}).get("name")


def ordinal_entities(tracker: Tracker) -> list[int]:
    out = []
    for e in tracker.latest_message.get("entities") or []:
        if e.get("entity") == "ordinal":
            try:
                out.append(int(e.get("value")))
            except (TypeError, ValueError):
                continue
    return out
