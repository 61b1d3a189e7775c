"""How words sound: phoneme strings and a sounds-alike distance, for the voice correction.

Whisper writes what a catalog word *sounds* like when it does not expect it ("melt" for belt,
"to live" for olive, "next time" for necktie): spelling is a poor guide, sound is a better one.
:class:`Phonemizer` turns text into espeak-ng's phoneme mnemonics (``espeak-ng -q -x``; one process
for a whole batch, results cached); where espeak-ng is not installed it falls back to the letters,
so the correction still works, spelling-only. :func:`sound_distance` is a weighted edit distance
over those symbols: vowels for vowels and voiced/unvoiced pairs (b/p, d/t, ...) cost half.
"""
from __future__ import annotations

import logging
import re
import shutil
import subprocess
import threading
from typing import Iterable

import numpy as np

log = logging.getLogger(__name__)

#: espeak-ng's vowel symbols (Kirshenbaum-like mnemonics).
_VOWELS = frozenset("aeiouAEIOUV@03Y")
#: Consonants a listener (or Whisper) easily confuses.
_NEAR = tuple(frozenset(p) for p in ("bp", "dt", "gk", "vf", "zs", "ZS", "mn", "nN", "lr", "wv", "DT"))
#: Stress, length and syllable marks carry little for matching.
_MARKS = re.compile(r"[\s',%=_:;2-]")
_SAFE = re.compile(r"[^a-z' -]+")


class Phonemizer:
    """``phonemes(texts) -> list[str]`` by espeak-ng (``program``), or letters where it is missing."""

    def __init__(self, program: str | None = "espeak-ng", timeout_s: float = 10.0) -> None:
        self.program = shutil.which(program) if program else None
        self.timeout_s = timeout_s
        self._cache: dict[str, str] = {}
        self._lock = threading.Lock()
        if program and not self.program:
            log.info("phonetics: %s not found; sounds-alike matching falls back to spelling", program)

    @property
    def by_sound(self) -> bool:
        """True when phonemes come from espeak-ng (False: letters)."""
        return self.program is not None

    @staticmethod
    def _clean(text: str) -> str:
        return " ".join(_SAFE.sub(" ", text.lower()).split())

    def phonemes(self, texts: Iterable[str]) -> list[str]:
        """The phoneme string of each text (marks removed; "" for a text without letters)."""
        texts = [self._clean(t) for t in texts]
        with self._lock:
            missing = sorted({t for t in texts if t and t not in self._cache})
            if missing:
                self._cache.update(zip(missing, self._run(missing)))
            return [self._cache.get(t, "") if t else "" for t in texts]

    def _run(self, texts: list[str]) -> list[str]:
        letters = [_MARKS.sub("", t) for t in texts]
        if not self.program:
            return letters
        try:  # one phrase a line, each closed by a full stop: espeak-ng answers a line each
            out = subprocess.run([self.program, "-q", "-x"], input="".join(f"{t}.\n" for t in texts),
                                 capture_output=True, text=True, timeout=self.timeout_s, check=True).stdout
        except (OSError, subprocess.SubprocessError) as exc:
            log.warning("phonetics: %s failed (%s); using spelling", self.program, exc)
            return letters
        lines = [line for line in out.splitlines() if line.strip()]
        if len(lines) != len(texts):
            log.warning("phonetics: %s gave %d lines for %d phrases; using spelling", self.program, len(lines),
                        len(texts))
            return letters
        return [_MARKS.sub("", line) for line in lines]


def _substitution(a: str, b: str) -> float:
    if a == b:
        return 0.0
    if (a in _VOWELS and b in _VOWELS) or any(a in pair and b in pair for pair in _NEAR):
        return 0.5
    return 1.0


def _indel(a: str) -> float:
    return 0.6 if a in _VOWELS else 1.0


def sound_distance(p: str, q: str, give_up: float = 1.0) -> float:
    """Weighted edit distance of two phoneme strings over the longer length: 0 alike, ~1 unrelated
    (1.0 as soon as the distance must exceed ``give_up``)."""
    if not p or not q:
        return 1.0
    bound = give_up * max(len(p), len(q))
    prev = [0.0]
    for ch in q:
        prev.append(prev[-1] + _indel(ch))
    for a in p:
        cur = [prev[0] + _indel(a)]
        for j, b in enumerate(q, 1):
            cur.append(min(prev[j] + _indel(a), cur[j - 1] + _indel(b), prev[j - 1] + _substitution(a, b)))
        if min(cur) > bound:
            return 1.0
        prev = cur
    return prev[-1] / max(len(p), len(q))


def _tables() -> tuple[np.ndarray, np.ndarray]:
    sub = np.ones((128, 128), dtype=np.float32)
    indel = np.ones(128, dtype=np.float32)
    for a in range(128):
        indel[a] = _indel(chr(a))
        for b in range(128):
            sub[a, b] = _substitution(chr(a), chr(b))
    return sub, indel


class SoundTable:
    """Many phoneme strings at once: :meth:`distances` gives :func:`sound_distance` from one heard
    string to every one of them, computed column by column over all of them with numpy."""

    def __init__(self, sounds: list[str]) -> None:
        self.sounds = sounds
        self.lengths = np.array([len(s) for s in sounds], dtype=np.int64)
        width = int(self.lengths.max(initial=0))
        self.codes = np.zeros((len(sounds), width), dtype=np.int64)
        for i, s in enumerate(sounds):
            self.codes[i, :len(s)] = [min(ord(c), 127) for c in s]
        self._sub, self._indel = _tables()
        # what inserting each symbol of each sound costs (T, W), and the DP's first row (T, W + 1)
        self._q_indel = self._indel[self.codes]
        self._first_row = np.concatenate([np.zeros((len(sounds), 1), np.float32),
                                          np.cumsum(self._q_indel, axis=1)], axis=1)

    def distances(self, heard: str) -> np.ndarray:
        """Distance of ``heard`` to every sound (1.0 for an empty one)."""
        n, width = len(heard), self.codes.shape[1]
        out = np.ones(len(self.sounds), dtype=np.float32)
        if not n or not width:
            return out
        q_indel, prev = self._q_indel, self._first_row
        for ch in heard:
            a = min(ord(ch), 127)
            cost_a, sub_a = self._indel[a], self._sub[a][self.codes]  # (T, W)
            cur = np.empty_like(prev)
            cur[:, 0] = prev[:, 0] + cost_a
            for j in range(1, width + 1):
                cur[:, j] = np.minimum(np.minimum(prev[:, j] + cost_a, cur[:, j - 1] + q_indel[:, j - 1]),
                                       prev[:, j - 1] + sub_a[:, j - 1])
            prev = cur
        final = prev[np.arange(len(self.sounds)), self.lengths]
        valid = self.lengths > 0
        out[valid] = final[valid] / np.maximum(self.lengths[valid], n)
        return out
