"""What the shopper sees: product cards, a product's details, a side-by-side comparison."""
from __future__ import annotations

from retrieval.catalog import Product


def money(x: float | None) -> str:
    return "price on request" if x is None else (f"${x:,.0f}" if float(x).is_integer() else f"${x:,.2f}")


def card(p: Product, reason: str) -> dict:
    """One product card (the gateway adds the image URL)."""
    return {"id": p.id, "title": p.title, "brand": p.brand, "price": p.price, "color": p.color,
            "article_type": p.article_type, "gender": p.gender, "usage": p.usage, "reason": reason,
            "has_image": bool(p.image)}


def details(p: Product, position: int | None = None) -> str:
    lead = f"Number {position}: " if position else ""
    bits = [b for b in (p.color, p.article_type.lower() if p.article_type else "",
                        f"for {p.gender.lower()}" if p.gender else "") if b]
    line = f"{lead}{p.title} by {p.brand or 'an unnamed brand'}, {money(p.price)}."
    if bits:
        line += " " + " ".join(bits).capitalize() + "."
    if p.usage:
        line += f" Good for {p.usage.lower()} wear."
    return line


ROWS = (("Price", lambda p: money(p.price)), ("Colour", lambda p: p.color or "-"),
        ("Brand", lambda p: p.brand or "-"), ("Type", lambda p: p.article_type or "-"),
        ("For", lambda p: p.gender or "-"), ("Use", lambda p: p.usage or "-"))


def comparison(products: list[tuple[int, Product, str]]) -> tuple[str, dict]:
    """(text, structured) side by side of price, colour, brand, type, who for, use and why."""
    heads = [f"#{pos}" for pos, _, _ in products]
    rows = [{"label": label, "values": [get(p) for _, p, _ in products]} for label, get in ROWS]
    rows.append({"label": "Why it fits", "values": [why for _, _, why in products]})
    lines = [" | ".join(["", *heads])]
    for r in rows:
        lines.append(" | ".join([r["label"], *r["values"]]))
    prices = [(p.price, pos) for pos, p, _ in products if p.price is not None]
    summary = ""
    if len(prices) >= 2:
        lo, hi = min(prices), max(prices)
        if lo[0] != hi[0]:
            summary = f"\n#{lo[1]} is the cheaper one by {money(hi[0] - lo[0])}."
    text = "\n".join(lines) + summary
    return text, {"columns": heads, "ids": [p.id for _, p, _ in products], "rows": rows}
