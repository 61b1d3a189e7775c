"""Why a product was shown: a structured record and a one-line reason built from it."""
from __future__ import annotations

from nlu.constraints import ParsedQuery
from retrieval.catalog import Product

FIELD_NAMES = {"article_type": "type", "color": "colour", "gender": "for", "brand": "brand", "usage": "use",
               "sub_category": "category", "master_category": "department"}


def explain(product: Product, parsed: ParsedQuery, *, text_similarity: float | None,
            visual_similarity: float | None, weights: dict[str, float], relaxed: list[dict],
            photo: dict | None = None) -> dict:
    """Structured why: which asked-for constraints match or fail, price, similarities, weights."""
    matched, failed = [], []
    relaxed_fields = {r["field"] for r in relaxed}
    for c in parsed.constraints:
        value = getattr(product, c.field, "")
        entry = {"field": c.field, "asked": c.surface or c.values[0], "value": value,
                 "negated": c.negated, "source": c.source}
        if c.negated:
            entry["excluded"] = c.values[0]
        ok = (value not in c.values) if c.negated else (value in c.values)
        (matched if ok else failed).append(entry | {"relaxed": c.field in relaxed_fields})
    price = None
    if parsed.min_price is not None or parsed.max_price is not None or parsed.price_pref:
        ok = product.price is not None and \
            (parsed.max_price is None or product.price <= parsed.max_price) and \
            (parsed.min_price is None or product.price >= parsed.min_price)
        price = {"value": product.price, "min": parsed.min_price, "max": parsed.max_price,
                 "preference": parsed.price_pref, "ok": bool(ok)}
    why = {
        "matched": matched,
        "failed": failed,
        "price": price,
        "text_similarity": None if text_similarity is None else round(float(text_similarity), 4),
        "visual_similarity": None if visual_similarity is None else round(float(visual_similarity), 4),
        "weights": {k: round(float(v), 3) for k, v in weights.items()},
        "relaxed": relaxed,
    }
    if photo is not None:
        why["photo_attributes"] = {f: top[0][0] for f, top in photo["top"].items() if top}
    why["reason"] = reason(product, why)
    return why


_PART_NAMES = {"text": "words", "photo": "photo", "constraints": "earlier answers", "reference": "chosen product"}


def _money(x: float | None) -> str:
    return "?" if x is None else (f"${x:,.0f}" if float(x).is_integer() else f"${x:,.2f}")


def reason(product: Product, why: dict) -> str:
    """One line a shopper reads under the product card."""
    pos = {m["field"]: m["value"] for m in why["matched"] if not m["negated"]}
    neg = [m for m in why["matched"] if m["negated"]]
    parts: list[str] = []
    what = " ".join(v for v in (pos.get("color"), pos.get("article_type") or pos.get("sub_category")) if v)
    if what:
        if "brand" in pos:
            what = f"{pos['brand']} {what}"
        if "gender" in pos:
            what += f" for {pos['gender'].lower()}"
        if "usage" in pos:
            what += f", {pos['usage'].lower()} wear"
        parts.append(what[0].upper() + what[1:] + " as you asked")
    elif pos:
        parts.append("Matches " + ", ".join(f"{FIELD_NAMES.get(f, f)} {v}" for f, v in pos.items()))
    if neg:
        parts.append("not " + " or ".join(m.get("excluded", m["asked"]) for m in neg))
    price = why.get("price")
    if price:
        if price["ok"] and price["max"] is not None and price["min"] is not None:
            parts.append(f"{_money(price['value'])}, between {_money(price['min'])} and {_money(price['max'])}")
        elif price["ok"] and price["max"] is not None:
            parts.append(f"{_money(price['value'])}, under your {_money(price['max'])}")
        elif price["ok"] and price["min"] is not None:
            parts.append(f"{_money(price['value'])}, over {_money(price['min'])}")
        elif price["max"] is not None or price["min"] is not None:  # the bound was relaxed
            bound = (f"over your {_money(price['max'])}" if price["max"] is not None and price["value"] is not None
                     and price["value"] > price["max"] else "outside your price range")
            parts.append(f"{_money(price['value'])}, {bound} (none left within it)")
        elif price["preference"] == "low":
            parts.append(f"low price: {_money(price['value'])}")
        elif price["preference"] == "high":
            parts.append(f"premium: {_money(price['value'])}")
    for f in why["failed"]:
        if f["relaxed"]:
            parts.append(f"{f['value'] or 'no ' + FIELD_NAMES.get(f['field'], f['field'])} instead of "
                         f"{f['asked']} (none left with everything you asked)")
    vis, txt = why.get("visual_similarity"), why.get("text_similarity")
    w = why.get("weights", {})
    if vis is not None and w.get("photo", 0) >= w.get("text", 0):
        like = why.get("photo_attributes", {})
        same = [product_value for f in ("color", "article_type") if (product_value := getattr(product, f, ""))
                and like.get(f) == product_value]
        what_like = f"{' '.join(same).lower()} like your photo" if same else "looks like your photo"  # catalog types are plural
        parts.append(f"{what_like} ({vis:.0%} similar)")
    elif vis is not None:
        parts.append(f"close to your words, and {vis:.0%} like your photo")
    if len(w) > 1:
        lead = max(w, key=w.get)
        parts.append(f"weighed mostly by your {_PART_NAMES.get(lead, lead)} ({w[lead]:.0%})")
    elif txt is not None and not what:
        parts.append(f"closest to your words ({txt:.0%})")
    return "; ".join(parts) if parts else product.title
