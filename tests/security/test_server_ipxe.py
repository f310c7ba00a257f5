"""/boot/ipxe is a snapshot lookup, like the kickstart: no SQL per request (it used to read the
whole inventory — 0.7 s a request at 11,000 hosts), and only the host itself gets its script."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sqlalchemy import event

from rocks.server.config import ServerConfig
from rocks.server.core import Frontend
from rocks.server.install import InstallApp
from tests.server.conftest import mac, make_cluster


def scope(address: str, query: str) -> dict[str, Any]:
    return {"type": "http", "method": "GET", "path": "/boot/ipxe", "headers": [],
            "query_string": query.encode(), "client": (address, 40000)}


def test_ipxe_requests_run_no_sql(tmp_path: Path) -> None:
    cluster = make_cluster(tmp_path, 50)
    config = ServerConfig(database_url=cluster.url, state_dir=str(tmp_path))

    async def main() -> tuple[list[tuple[int, bytes]], int]:
        fe = Frontend(config)
        await fe.start()
        statements = 0

        def count(*_: object) -> None:
            nonlocal statements
            statements += 1

        event.listen(fe.inventory.engine, "before_cursor_execute", count)
        app = InstallApp(fe)
        answers: list[tuple[int, bytes]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                answers.append((message["status"], b""))
            else:
                answers[-1] = (answers[-1][0], message["body"])

        for _ in range(3):
            for i, name in enumerate(cluster.names()):
                await app.ipxe(scope(cluster.addresses[name], f"mac={mac(i)}"), receive, send)
        await app.ipxe(scope("127.0.0.1", f"mac={mac(7)}"), receive, send)
        event.remove(fe.inventory.engine, "before_cursor_execute", count)
        await fe.stop()
        return answers, statements

    answers, statements = asyncio.run(main())
    assert statements == 0
    assert len(answers) == 151
    for i, name in enumerate(cluster.names()):
        status, body = answers[i]
        assert status == 200 and f"token={cluster.tokens[name]}".encode() in body
    assert answers[-1][0] == 200 and b"token=" not in answers[-1][1]
    cluster.inventory.close()
