"""The action server: rasa-sdk's HTTP protocol with the shop's actions, search engine loaded once.

``python -m bot actions`` runs it in one process (no Sanic workers: the engine and its models
are loaded once and shared by every request).
"""
from __future__ import annotations

import logging

from rasa_sdk.executor import ActionExecutor

from bot.actions import ACTIONS
from bot.dialogue.base import Services
from bot.dialogue.photos import PhotoStore
from bot.settings import BotSettings

log = logging.getLogger(__name__)


def build_executor(services: Services) -> ActionExecutor:
    """An executor with each of the shop's actions, built around ``services``."""
    executor = ActionExecutor()
    for cls in ACTIONS:
        executor.register_action(cls(services))
    return executor


def load_services(settings: BotSettings) -> Services:
    """The real engine (index, encoders, trained models) and the photo store."""
    from retrieval.search import SearchEngine

    engine = SearchEngine.from_settings(settings)
    log.info("search engine ready: %d products, fusion %s, trained models %s", len(engine.index),
             engine.fusion, "loaded" if engine.models is not None else "absent (plain photo features)")
    return Services(engine, PhotoStore(settings.resolved_uploads_dir()), show=settings.show_products)


def serve(settings: BotSettings) -> None:
    from rasa_sdk.endpoint import create_app

    app = create_app(build_executor(load_services(settings)), cors_origins=[])
    log.info("action server on http://%s:%d", settings.action_host, settings.action_port)
    app.run(host=settings.action_host, port=settings.action_port, single_process=True, access_log=False,
            motd=False)
