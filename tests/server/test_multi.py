"""Two frontends, one PostgreSQL: separate processes on 127.0.0.2 and 127.0.0.3 with state
directories of their own, serving one inventory.

2,000 simulated nodes, half preferring each frontend; one frontend is killed with SIGKILL
after it has served a fixed number of kickstarts, and its nodes carry on against the other
(each node knows both kickstart URLs). Every host ends finished with boot action os, every
event a frontend acknowledged is in the database, and no install token opens anything twice,
on either frontend.
"""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from rocks.inventory.install import begin_install_many
from rocks.inventory.schema import FrontendRow, HostRow, InstallEventRow
from tests.conftest import optional_skip
from tests.server.conftest import API_TOKEN, Cluster, Server, make_cluster, until
from tests.server.nodes import Connection, NodeResult, Progress, install

pytestmark = pytest.mark.postgres
PG_ENV = "ROCKS_TEST_POSTGRES_URL"
NODES = 2000
KILL_AFTER = 250  # kickstarts served by frontend A before it is killed
ACKED_BEFORE = 100  # ... and events it acknowledged (each must survive it)


def _pg_cluster(tmp: Path, n: int) -> Cluster:
    if not os.environ.get(PG_ENV):
        optional_skip("no-postgres", f"{PG_ENV} is not set")
    from tests.cli.inventory_fixtures import _empty_pg, _pg_database

    url = _pg_database()
    _empty_pg(url)
    (tmp / "a").mkdir()
    (tmp / "b").mkdir()
    return make_cluster(tmp / "a", n, url=url)


def _pair(cluster: Cluster, tmp: Path) -> tuple[Server, Server]:
    a = Server(cluster, tmp / "a", host="127.0.0.2", name="fe-a", refresh_interval=0.5)
    b = Server(cluster, tmp / "b", state=tmp / "b", host="127.0.0.3", name="fe-b",
               refresh_interval=0.5)
    return a, b


def _bearer() -> dict[str, str]:
    return {"Authorization": f"Bearer {API_TOKEN}"}


def test_two_frontends_one_killed_mid_run(tmp_path: Path) -> None:
    cluster = _pg_cluster(tmp_path, NODES)
    a, b = _pair(cluster, tmp_path)
    a.start(timeout=120)
    b.start(timeout=120)
    names = cluster.names()
    at_a, at_b = ("127.0.0.2", a.port), ("127.0.0.3", b.port)
    progress = Progress(target=KILL_AFTER, only=f"127.0.0.2:{a.port}", acks=ACKED_BEFORE)
    results: list[NodeResult] = []
    failure: list[BaseException] = []

    def clients() -> None:
        async def main() -> list[NodeResult]:
            return await asyncio.gather(*(
                install(n, cluster.addresses[n], cluster.tokens[n], 0, pause=0.3,
                        deadline=400, progress=progress,
                        servers=(at_a, at_b) if i % 2 == 0 else (at_b, at_a))
                for i, n in enumerate(names)))

        try:
            results.extend(asyncio.run(main()))
        except BaseException as exc:  # reported by the test, not lost in the thread
            failure.append(exc)

    runner = threading.Thread(target=clients)
    runner.start()
    try:
        assert progress.reached.wait(timeout=400), (
            f"frontend A served {progress.kickstarts} kickstarts, acknowledged {progress.acks} "
            f"events: {failure}")
        in_flight = NODES - progress.done
        a.stop(kill=True)  # SIGKILL: no clean stop, no last heartbeat
        runner.join(timeout=600)
        assert not runner.is_alive()
        assert failure == []
        assert in_flight > 0, "every node had finished before the kill"
        assert [(r.name, r.errors) for r in results if r.errors] == []
        moved = [r for r in results if r.reconnects and any(
            s == f"127.0.0.3:{b.port}" for s in r.served_by)]
        assert moved, "no node of frontend A carried on at frontend B"

        with cluster.inventory.transaction(readonly=True) as s:
            hosts = {n: (boot, tok) for n, boot, tok in s.execute(
                select(HostRow.name, HostRow.boot, HostRow.install_token))}
            rows = s.execute(select(HostRow.name, InstallEventRow.stage,
                                    InstallEventRow.message, InstallEventRow.frontend)
                             .join(HostRow, InstallEventRow.host_id == HostRow.id)).all()
            registry = {r.name: r for r in s.scalars(select(FrontendRow))}
        assert all(v == ("os", None) for v in hosts.values()), "a host did not end in os"
        stored = {(n, st) for n, st, msg, _ in rows if msg == f"{n} {st}"}
        acked = {(r.name, st) for r in results for st in r.acked}
        assert acked - stored == set(), "an acknowledged event is not in the database"
        for r in results:
            assert "finished" in r.acked or r.finished_unacked, r
        assert {fe for *_, fe in rows} == {"fe-a", "fe-b"}  # each stored what it took
        assert set(registry) == {"fe-a", "fe-b"}
        assert not registry["fe-a"].stopped  # killed: it never said goodbye

        # No token opens anything twice, on either frontend: every spent token is refused
        # by the survivor, for kickstarts and events alike.
        async def replay(name: str) -> tuple[int, int]:
            conn = Connection(b.port, cluster.addresses[name], "127.0.0.3")
            try:
                ks = await conn.request("GET", f"/install/kickstart?token={cluster.tokens[name]}")
                ev = await conn.request(
                    "POST", "/install/events",
                    {"Content-Type": "application/x-www-form-urlencoded"},
                    f"stage=finished&token={cluster.tokens[name]}".encode())
            finally:
                await conn.close()
            return ks.status, ev.status

        async def replays() -> list[tuple[int, int]]:
            return await asyncio.gather(*(replay(n) for n in names[::40]))

        assert set(asyncio.run(replays())) == {(403, 403)}

        # The survivor's dashboard shows the whole cluster and who served each host.
        data = httpx.get(f"{b.base}/console.json?size=2000", headers=_bearer(), timeout=30).json()
        assert data["total"] == NODES
        assert {row["frontend"] for row in data["rows"].values()} <= {"fe-a", "fe-b"}
        host = moved[0].name  # its kickstart from A, the rest of its install at B
        live = httpx.get(f"{b.base}/hosts/{host}/live", headers=_bearer(), timeout=30).json()
        assert {e["frontend"] for e in live["events"]} == {"fe-a", "fe-b"}, live["events"]
        assert live["row"]["frontend"] == "fe-b"
        page = httpx.get(f"{b.base}/", headers=_bearer(), timeout=30).text
        assert "fe-a" in page and "fe-b" in page  # the registry, on the page
    finally:
        a.stop(kill=True)
        b.stop()
        cluster.inventory.close()


def test_a_token_spent_on_one_frontend_is_refused_by_the_other(tmp_path: Path) -> None:
    """Both frontends receive the same host's `finished` at the same moment: the database
    accepts exactly one; the other frontend, and both afterwards, refuse the token."""
    cluster = _pg_cluster(tmp_path, 40)
    a, b = _pair(cluster, tmp_path)
    a.start(timeout=120)
    b.start(timeout=120)
    try:
        async def race(name: str) -> list[int]:
            conns = [Connection(a.port, cluster.addresses[name], "127.0.0.2"),
                     Connection(b.port, cluster.addresses[name], "127.0.0.3")]
            body = f"stage=finished&token={cluster.tokens[name]}".encode()
            head = {"Content-Type": "application/x-www-form-urlencoded"}
            try:
                got = await asyncio.gather(*(c.request("POST", "/install/events", head, body)
                                             for c in conns))
                after = await asyncio.gather(*(c.request(
                    "GET", f"/install/kickstart?token={cluster.tokens[name]}") for c in conns))
            finally:
                for c in conns:
                    await c.close()
            return sorted(r.status for r in got) + [r.status for r in after]

        async def races() -> list[list[int]]:
            return await asyncio.gather(*(race(n) for n in cluster.names()))

        assert all(r == [200, 403, 403, 403] for r in asyncio.run(races()))
        with cluster.inventory.transaction(readonly=True) as s:
            finished = s.scalars(select(InstallEventRow.frontend)
                                 .where(InstallEventRow.stage == "finished")).all()
        assert len(finished) == 40  # one per host, whichever frontend won it

        # A new install: both frontends serve the new token and refuse the old one, as soon
        # as the database says so (notified, no restart).
        with cluster.inventory.transaction() as s:
            fresh = begin_install_many(s, ["compute-0-0"])
        name = "compute-0-0"

        def both_serve() -> bool:
            with httpx.Client(timeout=10, transport=httpx.HTTPTransport(
                    local_address=cluster.addresses[name])) as c:
                return all(c.get(f"{srv.base}/install/kickstart?token={fresh[name]}")
                           .status_code == 200 for srv in (a, b))

        until(both_serve, "both frontends to serve the new token", timeout=60)
        a.stop()
        b.stop()
        with cluster.inventory.transaction(readonly=True) as s:
            stopped = {r.name: r.stopped for r in s.scalars(select(FrontendRow))}
        assert stopped == {"fe-a": True, "fe-b": True}  # a clean stop says so
    finally:
        a.stop()
        b.stop()
        cluster.inventory.close()
