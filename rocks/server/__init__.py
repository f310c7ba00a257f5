"""The frontend: the HTTP server nodes install from, and the dashboard and admin API beside it.

Importing this package is cheap (no FastAPI); `rocks.server.app.create_app(config)` builds the
ASGI application and `rocks.server.run.serve(config)` runs it under uvicorn.
"""

from rocks.server.config import ServerConfig

__all__ = ["ServerConfig"]
