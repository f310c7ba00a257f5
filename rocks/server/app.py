"""The frontend's ASGI application: node paths first, then FastAPI for everything else.

`create_app(config)` returns a plain ASGI callable. It answers lifespan itself (start the
snapshot, the writer and the refresher; stop them), sends /install/kickstart, /install/events
and /boot/ipxe to the raw handlers of install.py, and hands any other request to a FastAPI app
holding the distribution files, the dashboard, the login and the admin API.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from rocks.server.config import CONFIG_ENV, ServerConfig
from rocks.server.core import Frontend
from rocks.server.install import InstallApp, Receive, Scope, Send

log = logging.getLogger("rocks.server")


class FrontendApp:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.frontend: Frontend | None = None
        self.install: InstallApp | None = None
        self.web: FastAPI | None = None

    def _build(self) -> None:
        from rocks.errors import RocksError
        from rocks.server.actions import actions_router
        from rocks.server.api import api_router
        from rocks.server.auth import Auth
        from rocks.server.conn import FAST, FILES, FileTree
        from rocks.server.web import DOCS_ASSETS, docs_assets, login_router, web_router
        from rocks.server.writes import rocks_error_handler, writes_router

        fe = Frontend(self.config)
        self.frontend = fe
        self.install = InstallApp(fe)
        FAST[b"/install/kickstart"] = self.install.kickstart_answer
        web = FastAPI(title="rocks frontend", version="1", openapi_url=None, docs_url=None,
                      redoc_url=None)
        web.state.frontend = fe
        web.state.auth = Auth(self.config)
        web.include_router(api_router)
        web.include_router(writes_router)
        web.add_exception_handler(RocksError, rocks_error_handler)
        web.include_router(web_router)
        web.include_router(login_router)
        web.include_router(actions_router)
        web.mount(DOCS_ASSETS, StaticFiles(directory=docs_assets()), name="docs-assets")
        distro = self.config.distro_dir
        distro.mkdir(parents=True, exist_ok=True)
        web.mount("/install/distro", StaticFiles(directory=distro, follow_symlink=False),
                  name="distro")
        pxeboot = distro / "images" / "pxeboot"
        pxeboot.mkdir(parents=True, exist_ok=True)
        web.mount("/boot/files", StaticFiles(directory=pxeboot, follow_symlink=False),
                  name="boot-files")
        # stateless images (rocks.images), where PXELINUX and GRUB read them over TFTP;
        # <appliance>/current is a link to the newest image beside it
        images = self.config.sync_root_dir / "tftpboot" / "images"
        images.mkdir(parents=True, exist_ok=True)
        web.mount("/boot/images", StaticFiles(directory=images, follow_symlink=True),
                  name="boot-images")
        # regular files of both trees are sent by the connection protocol with sendfile;
        # the mounts above answer the rest (404s, directories, multipart ranges)
        FILES[:] = [FileTree(b"/install/distro/", os.path.realpath(distro),
                             self.install.distro_begin, self.install.distro_end),
                    FileTree(b"/boot/files/", os.path.realpath(pxeboot))]
        self.web = web

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            path = scope["path"]
            install = self.install
            assert install is not None and self.web is not None
            if path == "/install/kickstart":
                await install.kickstart(scope, receive, send)
                return
            if path == "/install/events":
                await install.events(scope, receive, send)
                return
            if path == "/install/state":
                await install.state(scope, receive, send)
                return
            if path == "/boot/ipxe":
                await install.ipxe(scope, receive, send)
                return
            if path.startswith("/install/distro/"):
                await install.distro(scope, receive, send, self.web)
                return
            await self.web(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        elif self.web is not None:
            await self.web(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    self._build()
                    assert self.frontend is not None
                    await self.frontend.start()
                except Exception as exc:
                    log.exception("frontend failed to start")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.frontend is not None:
                    await self.frontend.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return


def create_app(config: ServerConfig) -> FrontendApp:
    from rocks.server.cache import tune_malloc
    from rocks.server.conn import configure

    tune_malloc()
    configure(config)
    return FrontendApp(config)


def app_from_env() -> Any:
    """uvicorn factory for worker processes: the config travels in ROCKS_SERVER_CONFIG."""
    from rocks.server.run import configure_logging

    configure_logging()  # a spawned worker starts with none
    return create_app(ServerConfig.from_env(os.environ[CONFIG_ENV]))
