"""Rasa input channel for the shop gateway (loaded by the Rasa server, Python 3.10).

Registered in ``credentials.yml`` as ``bot.rasa_channel.GatewayInput: {}``; its webhook is
``POST /webhooks/gateway/webhook`` with the JSON body
``{"sender": str, "message": str, "metadata": {...}}`` and it answers, like Rasa's REST channel,
with the list of bot messages (``recipient_id``, ``text``, ``image``, ``buttons``, ``custom``).

Two differences from :class:`rasa.core.channels.rest.RestInput`:

* the request's ``metadata`` object reaches the ``UserMessage`` (actions read it from
  ``tracker.latest_message["metadata"]``, e.g. ``{"image": "<sha256 of the uploaded photo>"}``);
* when the environment variable ``SHOP_GATEWAY_SECRET`` is set, every webhook call must carry
  ``X-Shop-Signature: sha256=<hex HMAC-SHA256 of the raw body with the secret>``, else 401.

This module is imported by the Rasa process: it may only use rasa, sanic and the standard library.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

logger = logging.getLogger(__name__)

SECRET_ENV = "SHOP_GATEWAY_SECRET"
SIGNATURE_HEADER = "X-Shop-Signature"
SIGNATURE_PREFIX = "sha256="


def sign(secret: str, body: bytes) -> str:
    """The ``X-Shop-Signature`` header value for ``body``."""
    return SIGNATURE_PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_ok(secret: str, body: bytes, header: Optional[str]) -> bool:
    """Whether ``header`` is the right signature of ``body`` (constant-time comparison)."""
    if not header:
        return False
    return hmac.compare_digest(sign(secret, body).encode(), header.strip().encode())


class GatewayInput(RestInput):
    """REST channel for the gateway: forwards request metadata, checks an HMAC signature."""

    _warned_unsigned = False  # the "no secret" warning is logged once per process

    def __init__(self, secret: Optional[str] = None) -> None:
        """``secret`` defaults to ``$SHOP_GATEWAY_SECRET``; empty or unset disables the check."""
        self.secret = secret if secret is not None else os.environ.get(SECRET_ENV) or None

    @classmethod
    def name(cls) -> Text:
        return "gateway"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "GatewayInput":
        """The secret comes from the environment only, never from credentials.yml."""
        return cls()

    def get_metadata(self, request: Request) -> Optional[Dict[Text, Any]]:
        """The body's ``metadata`` object (None when absent or not an object)."""
        body = request.json
        metadata = body.get("metadata") if isinstance(body, dict) else None
        return metadata if isinstance(metadata, dict) else None

    def _check(self, request: Request) -> Optional[HTTPResponse]:
        """An error response for a badly signed or malformed webhook call, else None."""
        if self.secret is not None and not signature_ok(
                self.secret, request.body or b"", request.headers.get(SIGNATURE_HEADER)):
            logger.warning("gateway channel: rejected a call with a missing or wrong %s header",
                           SIGNATURE_HEADER)
            return response.json({"error": f"missing or invalid {SIGNATURE_HEADER} header"}, status=401)
        try:
            body = json.loads(request.body or b"")
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("sender"), str) or not body["sender"]:
            return response.json({"error": "body must be a JSON object with a non-empty 'sender'"},
                                 status=400)
        message = body.get("message")
        if message is not None and not isinstance(message, str):
            return response.json({"error": "'message' must be a string"}, status=400)
        return None

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """RestInput's routes (``GET /``, ``POST /webhook``) behind the signature check."""
        if self.secret is None and not GatewayInput._warned_unsigned:
            GatewayInput._warned_unsigned = True
            logger.warning("%s is not set: the gateway channel accepts unsigned requests "
                           "(development only)", SECRET_ENV)
        bp = super().blueprint(on_new_message)

        @bp.middleware("request")
        async def check_webhook(request: Request) -> Optional[HTTPResponse]:
            if request.method == "POST":
                return self._check(request)
            return None

        return bp
