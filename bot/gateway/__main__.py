"""``python -m bot.gateway``: serve the gateway with uvicorn on the settings' host and port."""
from __future__ import annotations

import logging

import uvicorn

from bot.gateway import GatewaySettings, create_app


def main() -> None:
    """Read the settings from the environment and serve until interrupted."""
    settings = GatewaySettings()
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)  # which CPU build it picked
    uvicorn.run(create_app(settings), host=settings.gateway_host, port=settings.gateway_port,
                log_level=settings.log_level.lower(), access_log=False)


if __name__ == "__main__":
    main()
