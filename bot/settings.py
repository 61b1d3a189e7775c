"""Settings of the dialogue services (env prefix ``SHOP_``), on top of the retrieval settings."""
from __future__ import annotations

from pathlib import Path

from pydantic import Field

from retrieval.settings import REPO_ROOT, Settings


class BotSettings(Settings):
    """Where the servers listen and where shared files live."""

    uploads_dir: Path = Field(REPO_ROOT / "var" / "uploads", description="shoppers' photos, by content hash")
    rasa_url: str = "http://127.0.0.1:5005"
    rasa_port: int = 5005
    action_host: str = "127.0.0.1"
    action_port: int = 5055
    action_server_url: str = "http://127.0.0.1:5055"
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8000
    rasa_model_dir: Path = REPO_ROOT / "var" / "rasa" / "models"
    show_products: int = Field(6, description="product cards per answer")

    def resolved_uploads_dir(self) -> Path:
        p = Path(self.uploads_dir)
        return p if p.is_absolute() else REPO_ROOT / p
