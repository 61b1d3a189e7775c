"""Repair a byte-level BPE tokenizer whose merge list lost merges its vocabulary needs.

The ``tokenizer.json`` bundled with the Whisper base weights (and converted copies of it) lacks
the very first merge, ``"Ġ t"``: the token ``"Ġt"`` (id 256, the first after the 256 bytes) can
never be formed, so every word that starts with "t" after a space is encoded as a bare space
(id 220) plus the rest: " the" -> [220, 3322] instead of [264], " tie" -> [220, ...]. Decoding is
unaffected (the vocabulary is whole), but everything that *encodes* text for Whisper is: the
initial prompt, and every sentence the catalog correction, the type recheck and slot filling
score. Whisper never saw those token sequences in training and gives them very low
probability ("Looking for maroon that tight." scored -43 against -7 for "... necktie.").

Whisper's vocabulary comes from tiktoken ranks: a token's id is its merge rank, so the merges,
ordered by the id of the token they make, are exactly the ranks. A token no merge makes is put
back as the merge of two vocabulary tokens with smaller ids, at the place its id gives it.
"""

from __future__ import annotations

import json
from typing import Any


def _pair(merge: Any) -> tuple[str, str]:
    """A merge as (left, right): tokenizers writes ``"a b"`` (older) or ``["a", "b"]`` (newer)."""
    if isinstance(merge, str):
        left, right = merge.split(" ", 1)
        return left, right
    return merge[0], merge[1]


def missing_merges(model: dict) -> list[tuple[int, str, str]]:
    """(id, left, right) for each multi-character token of a BPE ``model`` section that no merge
    makes, with a split into two tokens of smaller id; empty when the merges are whole or the
    vocabulary is not rank-ordered (then nothing can be said about where a merge belongs)."""
    vocab: dict[str, int] = model.get("vocab") or {}
    merges = [_pair(m) for m in model.get("merges") or []]
    if model.get("type") != "BPE" or not vocab or not merges:
        return []
    made = [vocab.get(a + b) for a, b in merges]
    if any(m is None for m in made) or any(x >= y for x, y in zip(made, made[1:])):
        return []  # a merge makes no known token, or merges are not in id order: not rank-ordered
    have = set(made)
    out = []
    for token, i in sorted(vocab.items(), key=lambda kv: kv[1]):
        if len(token) < 2 or i in have:
            continue
        if i > made[-1]:
            break  # added and special tokens after the last merge are not made by merges
        splits = [(token[:k], token[k:]) for k in range(1, len(token))
                  if vocab.get(token[:k], i) < i and vocab.get(token[k:], i) < i]
        if splits:
            out.append((i, *splits[0]))
    return out


def repair(data: dict) -> tuple[dict, list[str]]:
    """(``tokenizer.json`` data with the missing merges put back in rank order, the merges added
    as "left right"). The input is not changed; the merges keep the form they had."""
    model = data.get("model") or {}
    missing = missing_merges(model)
    if not missing:
        return data, []
    vocab = model["vocab"]
    merges = list(model["merges"])
    as_text = isinstance(merges[0], str)
    for i, left, right in missing:  # ascending id: each goes before the first merge making a later token
        at = next((k for k, m in enumerate(merges) if vocab[''.join(_pair(m))] > i), len(merges))
        merges.insert(at, f"{left} {right}" if as_text else [left, right])
    fixed = json.loads(json.dumps(data))
    fixed["model"]["merges"] = merges
    return fixed, [f"{left} {right}" for _, left, right in missing]


def repaired_tokenizer(tokenizer: Any) -> tuple[Any, list[str]]:
    """(a ``tokenizers.Tokenizer`` with its missing merges put back, the merges added); the same
    tokenizer when nothing is missing."""
    import tokenizers

    fixed, added = repair(json.loads(tokenizer.to_str()))
    if not added:
        return tokenizer, []
    return tokenizers.Tokenizer.from_str(json.dumps(fixed)), added
