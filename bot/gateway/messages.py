"""Rasa's REST output messages -> the gateway's chat messages."""
from __future__ import annotations

from typing import Any

from bot.gateway.catalog import ProductStore, image_url

#: product card fields taken from an action's ``custom["products"]`` items (``reason`` -> ``why``).
CARD_FIELDS = ("id", "title", "brand", "price", "color", "article_type", "gender", "usage")


def product_card(item: dict[str, Any], products: ProductStore | None = None) -> dict[str, Any] | None:
    """One product card: {id, title, brand, price, color, article_type, gender, usage, image_url, why};
    ``image_url`` is None when the item says ``has_image: false`` or the store knows no photo."""
    if not isinstance(item, dict) or item.get("id") in (None, ""):
        return None
    card = {key: item.get(key) for key in CARD_FIELDS}
    card["id"] = str(card["id"])
    has_image = item.get("has_image")
    if has_image is None and products is not None:
        known = products.get(card["id"])
        has_image = None if known is None else bool(known.image)
    card["image_url"] = None if has_image is False else image_url(card["id"])
    why = item.get("reason", item.get("why"))
    card["why"] = why if isinstance(why, str) else ""
    return card


def translate(outputs: list[dict[str, Any]], products: ProductStore | None = None) -> list[dict[str, Any]]:
    """Each Rasa message (``text``, ``image``, ``buttons``, ``attachment``, ``custom``) becomes
    {text?, image?, quick_replies?, products?, question?, comparison?, ...}; other ``custom`` keys
    pass through unchanged. Empty messages are dropped."""
    messages: list[dict[str, Any]] = []
    for out in outputs:
        msg: dict[str, Any] = {}
        custom = out.get("custom")
        if isinstance(custom, dict):
            for key, value in custom.items():
                if key == "products" and isinstance(value, list):
                    msg["products"] = [c for c in (product_card(v, products) for v in value) if c]
                else:
                    msg[key] = value
        for key in ("text", "image", "attachment"):
            if out.get(key) is not None:
                msg[key] = out[key]
        buttons = out.get("buttons")
        if isinstance(buttons, list) and buttons:
            msg["quick_replies"] = [
                {"title": str(b.get("title", "")), "payload": str(b.get("payload") or b.get("title", ""))}
                for b in buttons if isinstance(b, dict)
            ]
        if not msg:
            continue
        # Rasa sends one bot utterance with text + buttons + custom as separate messages (text
        # first); a custom-only message joins the message before it when their keys do not clash
        prev = messages[-1] if messages else None
        if prev is not None and "text" not in msg and "quick_replies" not in msg and not set(msg) & set(prev) \
                and "text" in prev and not any(k in prev for k in ("products", "question", "comparison")):
            prev.update(msg)
        else:
            messages.append(msg)
    return messages
