"""Requests generated from the served catalog, with known answers, for training and checking fusion.

Each request starts from a reference product and says something about it: the photo alone, the
photo with a change in words ("like this but in blue", "the same for women"), a product pointed
at with a change ("more like the first, in red"), words alone, or the photo with what an earlier
turn pinned down. The answer is every product that keeps the reference's type and colour (and
gender where it matters) except for what the words changed.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

COLOUR_TEMPLATES = ["like this but in {v}", "same thing in {v}", "in {v}", "this one in {v}", "{v} please",
                    "do you have it in {v}", "the same but {v}", "a {v} one"]
GENDER_TEMPLATES = {"Men": ["the same for men", "for my husband", "a men's version", "for him"],
                    "Women": ["the same for women", "for my wife", "a women's version", "for her"]}
KINDS = ("photo", "photo+colour", "photo+gender", "reference+colour", "text", "photo+constraints")


@dataclass
class Request:
    kind: str
    ref: int  # reference product row (iid)
    words: str = ""  # what the shopper typed
    constraint_words: str = ""  # what earlier turns pinned down
    use_photo: bool = False
    use_reference: bool = False
    want: dict = field(default_factory=dict)  # attribute -> value every answer has


def generate(rows: list[dict], iids: np.ndarray, n: int, seed: int = 0, kinds=KINDS) -> list[Request]:
    """n requests over the products ``iids`` (rows[iid] = attribute dict)."""
    rng = np.random.default_rng(seed)
    by_type_colour: dict[tuple[str, str], list[int]] = {}
    for i in iids:
        r = rows[i]
        by_type_colour.setdefault((r["article_type"], r["color"]), []).append(int(i))
    colours_of_type: dict[str, list[str]] = {}
    for (t, c), members in by_type_colour.items():
        if len(members) >= 3 and c:
            colours_of_type.setdefault(t, []).append(c)
    out: list[Request] = []
    tries = 0
    while len(out) < n and tries < n * 20:
        tries += 1
        ref = int(rng.choice(iids))
        r = rows[ref]
        t, c, g = r["article_type"], r["color"], r["gender"]
        if not t or not c:
            continue
        kind = kinds[int(rng.integers(len(kinds)))]
        if kind == "photo":
            out.append(Request(kind, ref, use_photo=True, want={"article_type": t, "color": c}))
        elif kind in ("photo+colour", "reference+colour"):
            others = [x for x in colours_of_type.get(t, []) if x != c]
            if not others:
                continue
            new = others[int(rng.integers(len(others)))]
            words = COLOUR_TEMPLATES[int(rng.integers(len(COLOUR_TEMPLATES)))].format(v=new.lower())
            out.append(Request(kind, ref, words=words, use_photo=kind == "photo+colour",
                               use_reference=kind == "reference+colour", want={"article_type": t, "color": new}))
        elif kind == "photo+gender":
            if g not in ("Men", "Women"):
                continue
            new = "Women" if g == "Men" else "Men"
            opts = GENDER_TEMPLATES[new]
            out.append(Request(kind, ref, words=opts[int(rng.integers(len(opts)))], use_photo=True,
                               want={"article_type": t, "color": c, "gender": new}))
        elif kind == "text":
            out.append(Request(kind, ref, words=f"{c.lower()} {t.lower()}", want={"article_type": t, "color": c}))
        elif kind == "photo+constraints":
            if g not in ("Men", "Women"):
                continue
            out.append(Request(kind, ref, constraint_words=f"for {g.lower()}", use_photo=True,
                               want={"article_type": t, "color": c, "gender": g}))
    return out


def answers(req: Request, rows: list[dict], iids: np.ndarray) -> np.ndarray:
    """The products (iids) that satisfy every attribute of req.want."""
    return np.array([i for i in iids if all(rows[i].get(k) == v for k, v in req.want.items())], np.int64)


class Answers:
    """:func:`answers` for many requests: the products are grouped by (type, colour) once, and a
    request with both in its ``want`` only looks at its group (31k generated requests over 10k
    products: minutes -> a second)."""

    def __init__(self, rows: list[dict], iids: np.ndarray) -> None:
        self.rows, self.iids = rows, np.asarray(iids, np.int64)
        self.groups: dict[tuple, list[int]] = {}
        for i in self.iids:
            self.groups.setdefault((rows[i].get("article_type"), rows[i].get("color")), []).append(int(i))

    def __call__(self, req: Request) -> np.ndarray:
        if "article_type" not in req.want or "color" not in req.want:
            return answers(req, self.rows, self.iids)
        group = self.groups.get((req.want["article_type"], req.want["color"]), [])
        return np.array([i for i in group if all(self.rows[i].get(k) == v for k, v in req.want.items())], np.int64)
