"""Stand-ins for Rasa and the action server as the gateway sees them (shared by the gateway,
voice and Telegram tests)."""
from __future__ import annotations

from typing import Any

from bot.gateway.services import RasaUnavailable


class FakeRasa:
    """Records turns; answers with ``outputs`` or raises RasaUnavailable when ``down``."""

    def __init__(self, outputs: list[dict] | None = None, down: bool = False) -> None:
        self.outputs = outputs if outputs is not None else [{"recipient_id": "x", "text": "hello"}]
        self.down = down
        self.calls: list[tuple[str, str, dict | None]] = []

    async def send(self, sender: str, text: str, metadata: dict | None = None) -> list[dict]:
        self.calls.append((sender, text, metadata))
        if self.down:
            raise RasaUnavailable("connection refused")
        return self.outputs

    async def status(self) -> dict[str, Any]:
        return {"status": "down", "error": "refused"} if self.down else {"status": "up", "version": "3.6.21"}


class FakeProbe:
    """The action server's health probe, up or down."""

    def __init__(self, up: bool = True) -> None:
        self.up = up

    async def status(self) -> dict[str, Any]:
        if not self.up:
            raise ConnectionError("refused")  # /health must survive a probe that raises
        return {"status": "up"}
