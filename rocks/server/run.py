"""Running the frontend under uvicorn (httptools with the connection guard and the node fast
path of conn.py), in the foreground.

The event loop is asyncio's own, not uvloop: uvloop's libuv accepts one connection per loop
iteration (libuv >= 1.45, "don't accept() connections in a loop"), so on a busy frontend —
an iteration answering a few hundred requests takes tens of milliseconds — nodes that connect
wait in the backlog for seconds (512 connections: the last first answer after 3 s). asyncio
accepts every connection the backlog holds, and sends files with sendfile(2) (the
distribution, conn.py), which uvloop does not; it costs about a tenth more CPU a request.

uvicorn's own X-Forwarded-For handling is off: it would believe any header from 127.0.0.1.
Proxies are trusted only as `trusted-proxies` says (identity.py).
"""

from __future__ import annotations

import logging
import os

from rocks.server.config import CONFIG_ENV, ServerConfig


def uvicorn_options(config: ServerConfig) -> dict[str, object]:
    from rocks.server.conn import PROTOCOL, accept_burst, descriptor_limit

    return {
        "host": config.host, "port": config.port,
        "loop": "asyncio",
        "http": PROTOCOL,
        "access_log": False,  # refusals are logged by the handlers; successes are events
        "log_level": "warning", "backlog": accept_burst(descriptor_limit()),
        "timeout_keep_alive": config.keep_alive_timeout,
        "proxy_headers": False, "forwarded_allow_ips": "",
        "lifespan": "on", "server_header": False,
    }


def configure_logging() -> None:
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s[%(process)d] %(message)s")


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
