"""Run the shop's actions like Rasa would, without any server: a conversation that keeps the
slots between turns, builds a Tracker per turn and collects what the bot says."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

SLOTS = ("article_type", "color", "gender", "brand", "usage", "sub_category", "master_category", "min_price",
         "max_price", "price_pref", "excluded", "keywords", "photo", "reference", "shown", "shown_prices", "focus",
         "asked", "pending_question")


def make_tracker(text: str, intent: str, slots: dict[str, Any], metadata: dict | None = None,
                 entities: list[dict] | None = None, sender: str = "shopper") -> Tracker:
    latest = {"text": text, "intent": {"name": intent, "confidence": 1.0}, "entities": entities or [],
              "metadata": metadata or {}}
    return Tracker(sender, dict(slots), latest, [], False, None, {"name": None}, "action_listen")


@dataclass
class Conversation:
    """One shopper talking to the actions; ``say`` runs one action for one message."""

    actions: dict[str, Any]
    slots: dict[str, Any] = field(default_factory=lambda: {s: None for s in SLOTS})
    replies: list[list[dict]] = field(default_factory=list)

    def say(self, text: str, intent: str, action: str | None = None, metadata: dict | None = None,
            entities: list[dict] | None = None) -> list[dict]:
        name = action or {"search": "action_search", "refine": "action_search", "find_photo": "action_search",
                          "dont_mind": "action_search", "affirm": "action_search", "deny": "action_search",
                          "more_like": "action_more_like", "product_info": "action_product_info",
                          "compare": "action_compare", "start_over": "action_start_over"}[intent]
        dispatcher = CollectingDispatcher()
        tracker = make_tracker(text, intent, self.slots, metadata, entities)
        events = asyncio.run(self.actions[name].run(dispatcher, tracker, {}))
        for e in events:
            assert e["event"] == "slot", e
            self.slots[e["name"]] = e["value"]
        self.replies.append(dispatcher.messages)
        return dispatcher.messages

    # -- what the last reply held
    def products(self, messages: list[dict] | None = None) -> list[dict]:
        for m in messages if messages is not None else self.replies[-1]:
            custom = m.get("custom") or {}
            if custom.get("products"):
                return custom["products"]
        return []

    def question(self, messages: list[dict] | None = None) -> dict | None:
        for m in messages if messages is not None else self.replies[-1]:
            if (m.get("custom") or {}).get("question"):
                return m["custom"]["question"] | {"buttons": m.get("buttons") or []}
        return None

    def text(self, messages: list[dict] | None = None) -> str:
        return "\n".join(m.get("text") or "" for m in (messages if messages is not None else self.replies[-1]))
