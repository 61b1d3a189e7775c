"""The BPE merge repair (nlu.bpe_repair) on a tiny rank-ordered vocabulary, and on the bundled tokenizer."""
import json

import pytest

from nlu.bpe_repair import missing_merges, repair

# ids are merge ranks, as in tiktoken-derived vocabularies: bytes first, then each merge's product
VOCAB = {"Ġ": 0, "t": 1, "h": 2, "e": 3, "a": 4, "Ġt": 5, "he": 6, "Ġthe": 7, "Ġa": 8, "Ġth": 9}
WHOLE = ["Ġ t", "h e", "Ġt he", "Ġ a", "Ġt h"]


def model(merges: list) -> dict:
    return {"type": "BPE", "vocab": dict(VOCAB), "merges": merges}


@pytest.mark.parametrize("form", ["text", "pairs"])
def test_the_lost_first_merge_is_put_back_in_its_rank_place(form: str) -> None:
    merges = WHOLE[1:] if form == "text" else [m.split(" ") for m in WHOLE[1:]]
    data = {"model": model(merges)}
    assert missing_merges(data["model"]) == [(5, "Ġ", "t")]
    fixed, added = repair(data)
    assert added == ["Ġ t"]
    want = WHOLE if form == "text" else [m.split(" ") for m in WHOLE]
    assert fixed["model"]["merges"] == want
    assert data["model"]["merges"] == merges  # the input is left as it was


def test_whole_or_unordered_merges_are_left_alone() -> None:
    assert repair({"model": model(list(WHOLE))})[1] == []
    shuffled = [WHOLE[2], WHOLE[0], WHOLE[1]]  # not in rank order: nothing can be said
    assert missing_merges(model(shuffled)) == []
    assert missing_merges({"type": "WordPiece", "vocab": VOCAB}) == []


def test_repaired_tokenizer_encodes_as_whisper_writes() -> None:
    tokenizers = pytest.importorskip("tokenizers")
    from nlu.bpe_repair import repaired_tokenizer

    from nlu.speech import SpeechModelError, ensure_bundled_model

    try:  # assembled once from the installed packages (the speech tests share the folder)
        path = ensure_bundled_model() / "tokenizer.json"
    except SpeechModelError as exc:
        pytest.skip(f"bundled speech model not installed: {exc}")
    shipped = tokenizers.Tokenizer.from_file(str(path))
    fixed, added = repaired_tokenizer(shipped)
    if not added:
        pytest.skip("this tokenizer.json has all its merges")
    assert added == ["Ġ t"]
    assert shipped.encode(" that", add_special_tokens=False).ids == [220, 6780]  # a bare space, then "that"
    assert fixed.encode(" that", add_special_tokens=False).ids == [300]
    text = " Looking for maroon that tight."
    assert fixed.decode(fixed.encode(text, add_special_tokens=False).ids) == shipped.decode(shipped.encode(text, add_special_tokens=False).ids) == text
    assert json.loads(fixed.to_str())["model"]["vocab"] == json.loads(shipped.to_str())["model"]["vocab"]
