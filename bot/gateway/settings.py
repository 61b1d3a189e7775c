"""Gateway settings, from the environment (prefix ``SHOP_``) or arguments."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from nlu.speech import SpeechSettings
from retrieval.settings import REPO_ROOT, Settings

MIB = 1024 * 1024
TELEGRAM_API_URL = "https://api.telegram.org"


class GatewaySettings(BaseSettings):
    """Where the gateway listens, where Rasa and the action server are, upload limits.

    ``retrieval`` carries the retrieval settings (``SHOP_CATALOG_DIR``, ``SHOP_INDEX_DIR``, ...)
    so the gateway knows the catalog folder (product images) and the index folder (products).
    """

    model_config = SettingsConfigDict(env_prefix="SHOP_", extra="ignore")

    gateway_host: str = "127.0.0.1"
    gateway_port: int = Field(8000, ge=1, le=65535)
    rasa_url: str = "http://127.0.0.1:5005"
    action_server_url: str = "http://127.0.0.1:5055"
    rasa_timeout_s: float = Field(30.0, gt=0)
    health_timeout_s: float = Field(1.0, gt=0, description="timeout of each /health probe")
    uploads_dir: Path = Field(Path("var/uploads"), description="relative paths: to the repository root")
    max_upload_bytes: int = Field(8 * MIB, gt=0)
    max_image_pixels: int = Field(40_000_000, gt=0, description="decompression-bomb limit (width x height)")
    gateway_secret: SecretStr | None = Field(None, description="HMAC key for the Rasa channel; environment only")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="allowed browser origins (JSON list or comma-separated); none: CORS off")
    log_level: str = "info"
    retrieval: Settings = Field(default_factory=Settings)
    telegram_bot_token: SecretStr | None = Field(
        None, description="Telegram bot token from BotFather; environment only; set: POST /telegram/webhook is served")
    telegram_webhook_secret: SecretStr | None = Field(
        None, description="X-Telegram-Bot-Api-Secret-Token every webhook call must carry (1-256 of A-Z a-z 0-9 _ -); "
                          "required with the token (checked by create_app, so the value never shows in an error)")
    telegram_api_url: str = Field(TELEGRAM_API_URL, description="Bot API base URL (tests: a local stand-in)")
    speech: SpeechSettings = Field(
        default_factory=SpeechSettings,
        description="voice: SHOP_SPEECH_MODEL, SHOP_SPEECH_COMPUTE_TYPE, SHOP_MAX_AUDIO_BYTES, "
                    "SHOP_MAX_AUDIO_SECONDS, SHOP_SPEECH_MIN_CONFIDENCE, ... (nlu.speech.SpeechSettings)")
    speech_preload: bool = Field(True, description="python -m bot.gateway loads the speech model in a background "
                                                   "thread at startup (else on the first voice message)")

    @field_validator("rasa_url", "action_server_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("uploads_dir")
    @classmethod
    def _under_repo(cls, value: Path) -> Path:
        return value if value.is_absolute() else REPO_ROOT / value

    @field_validator("gateway_secret")
    @classmethod
    def _empty_is_unset(cls, value: SecretStr | None) -> SecretStr | None:
        return value if value is not None and value.get_secret_value() else None

    @field_validator("telegram_bot_token", "telegram_webhook_secret")
    @classmethod
    def _empty_telegram_is_unset(cls, value: SecretStr | None) -> SecretStr | None:
        return value if value is not None and value.get_secret_value().strip() else None

    @field_validator("telegram_api_url")
    @classmethod
    def _telegram_strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @property
    def secret(self) -> str | None:
        """The plain gateway secret, or None when requests to Rasa go unsigned."""
        return self.gateway_secret.get_secret_value() if self.gateway_secret else None

    @property
    def max_audio_bytes(self) -> int:
        """The largest voice recording accepted (``SHOP_MAX_AUDIO_BYTES``)."""
        return self.speech.max_audio_bytes

    @property
    def catalog_dir(self) -> Path:
        """The catalog folder (products.csv and the product images)."""
        return Path(self.retrieval.catalog_dir)

    @property
    def index_dir(self) -> Path:
        """The index folder whose ``products.jsonl`` the gateway serves."""
        return self.retrieval.resolved_index_dir()
