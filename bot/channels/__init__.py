"""Messenger channels served by the gateway process, next to the chat page.

* :mod:`bot.channels.telegram`: a Telegram Bot API webhook (``POST /telegram/webhook``), mounted
  by :func:`bot.gateway.create_app` when ``SHOP_TELEGRAM_BOT_TOKEN`` is set;
  ``python -m bot.channels.telegram set-webhook --url ...`` registers it with Telegram.
* :mod:`bot.channels.voice`: the :class:`Transcriber` interface voice messages are handed to.
"""
from __future__ import annotations

from bot.channels.voice import Transcriber, Transcript

__all__ = ["Transcriber", "Transcript"]
