"""HTTP clients for the services behind the gateway: the Rasa server and the action server."""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any, Protocol

import httpx

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/gateway/webhook"
SIGNATURE_HEADER = "X-Shop-Signature"


class RasaUnavailable(Exception):
    """Rasa could not be reached, timed out or gave an unusable answer."""


class StatusProbe(Protocol):
    """Anything /health can ask whether a service is up."""

    async def status(self) -> dict[str, Any]: ...


class Assistant(StatusProbe, Protocol):
    """What the chat route needs from Rasa (:class:`RasaClient`, or a fake in tests)."""

    async def send(self, sender: str, text: str, metadata: dict[str, Any] | None = None) -> list[dict]: ...


def sign(secret: str, body: bytes) -> str:
    """``X-Shop-Signature`` value: ``sha256=`` + hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def _probe(http: httpx.AsyncClient, url: str, timeout_s: float) -> tuple[dict[str, Any], httpx.Response | None]:
    """GET ``url`` with a short timeout: ({"status": "up"|"down", "url", ["error"]}, response)."""
    try:
        resp = await http.get(url, timeout=timeout_s)
    except httpx.TimeoutException:
        return {"status": "down", "url": url, "error": f"no answer within {timeout_s:g} s"}, None
    except httpx.HTTPError as exc:
        return {"status": "down", "url": url, "error": f"unreachable ({type(exc).__name__})"}, None
    if resp.status_code != 200:
        return {"status": "down", "url": url, "error": f"HTTP {resp.status_code}"}, resp
    return {"status": "up", "url": url}, resp


class RasaClient:
    """Sends shopper turns to Rasa's ``gateway`` channel and checks that Rasa is up."""

    def __init__(self, http: httpx.AsyncClient, base_url: str, *, secret: str | None = None,
                 timeout_s: float = 30.0, status_timeout_s: float = 1.0) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.secret = secret
        self.timeout_s = timeout_s
        self.status_timeout_s = status_timeout_s

    async def send(self, sender: str, text: str, metadata: dict[str, Any] | None = None) -> list[dict]:
        """One turn: Rasa's output messages (``recipient_id``, ``text``, ``buttons``, ``custom``, ...)."""
        payload: dict[str, Any] = {"sender": sender, "message": text}
        if metadata:
            payload["metadata"] = metadata
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json"}
        if self.secret:
            headers[SIGNATURE_HEADER] = sign(self.secret, body)
        url = self.base_url + WEBHOOK_PATH
        try:
            resp = await self.http.post(url, content=body, headers=headers, timeout=self.timeout_s)
        except httpx.TimeoutException as exc:
            raise RasaUnavailable(f"Rasa did not answer within {self.timeout_s:g} s") from exc
        except httpx.HTTPError as exc:
            log.warning("Rasa at %s: %s", self.base_url, exc)
            raise RasaUnavailable(f"Rasa is unreachable ({type(exc).__name__})") from exc
        if resp.status_code != 200:
            raise RasaUnavailable(f"Rasa answered HTTP {resp.status_code}")
        try:
            messages = resp.json()
        except ValueError as exc:
            raise RasaUnavailable("Rasa's answer is not JSON") from exc
        if not isinstance(messages, list):
            raise RasaUnavailable("Rasa's answer is not a list of messages")
        return [m for m in messages if isinstance(m, dict)]

    async def status(self) -> dict[str, Any]:
        """``GET /`` ("Hello from Rasa: <version>"): {"status": "up"|"down", "url", "version"|"error"}."""
        info, resp = await _probe(self.http, self.base_url + "/", self.status_timeout_s)
        if info["status"] == "up" and resp is not None:
            _, _, version = resp.text.partition("Rasa:")
            if version.strip():
                info["version"] = version.strip()
        return info


class ActionServerClient:
    """Checks the action server (``GET /health``)."""

    def __init__(self, http: httpx.AsyncClient, base_url: str, *, status_timeout_s: float = 1.0) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.status_timeout_s = status_timeout_s

    async def status(self) -> dict[str, Any]:
        """{"status": "up"|"down", "url", ["error"]}."""
        info, _ = await _probe(self.http, self.base_url + "/health", self.status_timeout_s)
        return info
