"""Running the frontend under uvicorn (uvloop and httptools when installed), in the foreground."""

from __future__ import annotations

import importlib.util
import logging
import os

from rocks.server.config import CONFIG_ENV, ServerConfig


def _have(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def uvicorn_options(config: ServerConfig) -> dict[str, object]:
    return {
        "host": config.host, "port": config.port,
        "loop": "uvloop" if _have("uvloop") else "asyncio",
        "http": "httptools" if _have("httptools") else "h11",
        "access_log": False,  # refusals are logged by the handlers; successes are events
        "log_level": "warning", "backlog": 4096, "timeout_keep_alive": 30,
        "lifespan": "on", "server_header": False,
    }


def configure_logging() -> None:
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")


def serve(config: ServerConfig) -> None:
    """Serve until interrupted (SIGINT/SIGTERM); returns when uvicorn stops."""
    import uvicorn

    configure_logging()
    options = uvicorn_options(config)
    if config.workers > 1:
        os.environ[CONFIG_ENV] = config.to_env()
        uvicorn.run("rocks.server.app:app_from_env", factory=True, workers=config.workers,
                    **options)  # type: ignore[arg-type]
        return
    from rocks.server.app import create_app

    uvicorn.run(create_app(config), **options)  # type: ignore[arg-type]


def main() -> None:
    """`python -m rocks.server.run` with the config in ROCKS_SERVER_CONFIG (tests, benchmarks)."""
    serve(ServerConfig.from_env(os.environ[CONFIG_ENV]))


if __name__ == "__main__":
    main()
