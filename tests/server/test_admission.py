"""Admission control, in process: with max_inflight kickstarts being produced (here: waiting for
the database to confirm their tokens), the next gets 503; sending does not hold a slot (the
transport buffers one response per connection, and reads no more until it is sent)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from rocks.server.config import ServerConfig
from rocks.server.core import Frontend
from rocks.server.install import InstallApp
from tests.server.conftest import make_cluster


def scope(address: str, token: str) -> dict[str, Any]:
    return {"type": "http", "method": "GET", "path": "/install/kickstart", "headers": [],
            "query_string": f"token={token}".encode(), "client": (address, 40000)}


def test_over_max_inflight_is_503_with_retry_after(tmp_path: Path) -> None:
    cluster = make_cluster(tmp_path, 3)
    config = ServerConfig(database_url=cluster.url, state_dir=str(tmp_path), max_inflight=2)

    async def main() -> list[tuple[int, dict[bytes, bytes]]]:
        fe = Frontend(config)
        await fe.start()
        app = InstallApp(fe)
        gate = asyncio.Event()
        answers: list[tuple[int, dict[bytes, bytes]]] = []
        confirm = fe.ledger.current

        async def slow_confirm(host_id: int, token: str) -> bool:
            await gate.wait()  # the database is slow: the slot stays taken
            return await confirm(host_id, token)

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        def sender() -> Any:
            async def send(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    answers.append((message["status"], dict(message["headers"])))
            return send

        names = cluster.names()
        fe.ledger.current = slow_confirm  # type: ignore[method-assign]
        slow = [asyncio.create_task(app.kickstart(
            scope(cluster.addresses[n], cluster.tokens[n]), receive, sender()))
            for n in names[:2]]
        await asyncio.sleep(0.05)
        assert fe.inflight == 2
        n = names[2]
        await app.kickstart(scope(cluster.addresses[n], cluster.tokens[n]), receive,
                            sender())
        gate.set()
        await asyncio.gather(*slow)
        assert fe.inflight == 0
        fe.ledger.current = confirm  # type: ignore[method-assign]
        await app.kickstart(scope(cluster.addresses[n], cluster.tokens[n]), receive,
                            sender())
        await fe.stop()
        return answers

    answers = asyncio.run(main())
    # the third request is refused at once; the two held ones, and a later one, are served
    assert [status for status, _ in answers] == [503, 200, 200, 200]
    assert answers[0][1] == {b"content-type": b"text/plain; charset=utf-8",
                             b"content-length": b"18", b"retry-after": b"2"}
    cluster.inventory.close()
