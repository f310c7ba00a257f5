"""Mass reinstall: 1,000 nodes at once, each from its own loopback address, and a frontend
killed and restarted in the middle of a run without losing an acknowledged event."""

from __future__ import annotations

import asyncio
import os
import threading
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from rocks.inventory.schema import HostProfileRow, HostRow, InstallEventRow
from tests.conftest import optional_skip
from tests.server.conftest import Cluster, Server, make_cluster
from tests.server.nodes import STAGES, NodeResult, Progress, install

PG_ENV = "ROCKS_TEST_POSTGRES_URL"


def run_nodes(cluster: Cluster, port: int, *, pause: float = 0.0, deadline: float = 90.0,
              progress: Progress | None = None) -> list[NodeResult]:
    async def main() -> list[NodeResult]:
        return await asyncio.gather(*(
            install(n, cluster.addresses[n], cluster.tokens[n], port, pause=pause,
                    deadline=deadline, progress=progress) for n in cluster.names()))

    return asyncio.run(main())


def stored(cluster: Cluster) -> tuple[dict[str, tuple[str, str | None]], set[tuple[str, str]],
                                      Counter[str], int]:
    """(host -> (boot, token)), {(host, stage)} of node events, events per host, profiles."""
    with cluster.inventory.transaction(readonly=True) as s:
        hosts = {n: (b, t) for n, b, t in s.execute(
            select(HostRow.name, HostRow.boot, HostRow.install_token))}
        rows = s.execute(select(HostRow.name, InstallEventRow.stage, InstallEventRow.message)
                         .join(HostRow, InstallEventRow.host_id == HostRow.id)).all()
        profiles = len(s.scalars(select(HostProfileRow.host_id)).all())
    events = {(n, st) for n, st, msg in rows if msg == f"{n} {st}"}
    per_host = Counter(n for n, _, _ in rows)
    return hosts, events, per_host, profiles


def test_thousand_nodes_reinstall_at_once(tmp_path: Path) -> None:
    cluster = make_cluster(tmp_path, 1000)
    srv = Server(cluster, tmp_path)
    srv.start()
    try:
        results = run_nodes(cluster, srv.port)  # how long it takes: bench/reinstall.py
    finally:
        srv.stop()
    assert [r for r in results if r.errors] == []
    assert sum(r.reconnects for r in results) == 0
    for r in results:
        text = r.kickstart.decode()
        assert f" --hostname={r.name}.local " in text, r.name
        assert f'"hostname": "{r.name}"' in text, r.name
        assert cluster.tokens[r.name] in text
        assert r.acked == list(STAGES)
    hosts, events, per_host, profiles = stored(cluster)
    assert all(v == ("os", None) for v in hosts.values())
    assert len(events) == 4000
    assert set(per_host.values()) == {5}  # fetched-kickstart + the four the node posted
    assert profiles == 1000
    cluster.inventory.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def restart_cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Cluster:
    url = None
    if request.param == "postgres":
        if not os.environ.get(PG_ENV):
            optional_skip("no-postgres", f"{PG_ENV} is not set")
        from tests.cli.inventory_fixtures import _empty_pg, _pg_database

        url = _pg_database()
        _empty_pg(url)
    return make_cluster(tmp_path, 400, url=url)


def test_restart_mid_run_loses_no_acknowledged_event(restart_cluster: Cluster,
                                                     tmp_path: Path) -> None:
    """The server is killed once a quarter of the nodes have their kickstart: each of those is
    then between two requests on a keep-alive connection (it pauses before every event), and
    the rest are still asking for theirs, so the kill always lands mid-run."""
    cluster = restart_cluster
    srv = Server(cluster, tmp_path)
    srv.start()
    nodes = len(cluster.names())
    progress = Progress(target=nodes // 4)
    results: list[NodeResult] = []
    failure: list[BaseException] = []

    def clients_run() -> None:
        try:
            results.extend(run_nodes(cluster, srv.port, pause=0.4, deadline=300,
                                     progress=progress))
        except BaseException as exc:  # reported by the test, not lost in the thread
            failure.append(exc)

    clients = threading.Thread(target=clients_run)
    clients.start()
    try:
        assert progress.reached.wait(timeout=300), (
            f"only {progress.kickstarts} kickstarts served: {failure}")
        in_flight = nodes - progress.done
        srv.stop(kill=True)
        srv.start()
        clients.join(timeout=400)
    finally:
        srv.stop()
    assert not clients.is_alive()
    assert failure == []
    assert in_flight > 0, "every node had finished before the kill"
    assert [r for r in results if r.errors] == []
    assert sum(r.reconnects for r in results) > 0, "no node saw the restart"
    hosts, events, _, _ = stored(cluster)
    acked = {(r.name, st) for r in results for st in r.acked}
    assert acked - events == set()
    for r in results:
        assert "finished" in r.acked or r.finished_unacked
    assert all(v == ("os", None) for v in hosts.values())
    cluster.inventory.close()
