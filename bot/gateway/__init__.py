"""The shop's HTTP gateway: a thin FastAPI front for Rasa (chat), the catalog (product pages and
photos) and the health of the services behind it. ``python -m bot.gateway`` serves it."""
from __future__ import annotations

from bot.gateway.app import create_app
from bot.gateway.services import RasaClient, RasaUnavailable
from bot.gateway.settings import GatewaySettings

__all__ = ["GatewaySettings", "RasaClient", "RasaUnavailable", "create_app"]
