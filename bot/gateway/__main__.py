"""``python -m bot.gateway``: serve the gateway with uvicorn on the settings' host and port."""
from __future__ import annotations

import logging
import threading

import uvicorn

from bot.gateway import GatewaySettings, create_app

log = logging.getLogger("bot.gateway")


def build_transcriber(settings: GatewaySettings):
    """The speech recogniser for voice turns (web chat and Telegram), or None when the speech
    package cannot even be imported. Nothing heavy happens here: the model is assembled and
    loaded in a background thread when ``SHOP_SPEECH_PRELOAD`` is on (the default), else on the
    first voice message, so the gateway starts listening at once either way."""
    try:
        from nlu.speech import SpeechModelError, SpeechToText
    except ImportError as exc:  # faster-whisper missing: voice stays off, the rest works
        log.warning("voice messages are off: %s", exc)
        return None
    transcriber = SpeechToText.from_settings(settings.speech, vocabulary_file=settings.index_dir / "vocabulary.json")

    def preload() -> None:
        try:
            transcriber.load()
        except SpeechModelError as exc:  # told again to each voice turn (503 "please type")
            log.warning("voice messages will not work until this is fixed: %s", exc)
        except Exception:  # noqa: BLE001 - a background thread must not die silently
            log.exception("loading the speech model failed")

    if settings.speech_preload:
        threading.Thread(target=preload, name="speech-preload", daemon=True).start()
    return transcriber


def main() -> None:
    """Read the settings from the environment and serve until interrupted."""
    settings = GatewaySettings()
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)  # which CPU build it picked
    logging.getLogger("faster_whisper").setLevel(logging.WARNING)  # a line per transcription otherwise
    app = create_app(settings, transcriber=build_transcriber(settings))
    uvicorn.run(app, host=settings.gateway_host, port=settings.gateway_port,
                log_level=settings.log_level.lower(), access_log=False)


if __name__ == "__main__":
    main()
