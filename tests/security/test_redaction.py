"""Secrets do not leak through errors: when a secret value breaks a kickstart, the error that
pykickstart (or rocks) raises quotes none of it — not in the CLI's message, not in the event
the frontend records, `/status.json`, the dashboard, the log or `rocks list host install`."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from rocks.compiler.service import Compiler, load_graph
from rocks.errors import RocksError
from rocks.inventory import queries as q
from tests.security.conftest import Cli

SECRET_WORD = "hunter2-secret-part"
BROKEN_HASH = f"$6$saltsalt$abc {SECRET_WORD}"  # a space: rootpw gets an extra argument


def test_cli_error_does_not_quote_a_declared_secret(cluster: Cli) -> None:
    cluster.raw_attr("host", "compute-0-0", "rootpw_hash", BROKEN_HASH)  # even stored plain
    r = cluster("list", "host", "profile", "compute-0-0")
    assert r.code == 2 and r.stdout == ""
    assert "pykickstart" in r.stderr and "rootpw" in r.stderr
    assert SECRET_WORD not in r.stderr and "abc" not in r.stderr
    assert "********" in r.stderr
    r = cluster("list", "host", "profile", "compute-0-0", "provenance=yes")
    assert r.code == 2 and SECRET_WORD not in r.stderr


def test_admin_flagged_secret_is_redacted_too(make_roll) -> None:  # type: ignore[no-untyped-def]
    roll = make_roll("t", {
        "nodes/root.xml": """
            <kickstart><main><lang>en_US</lang><keyboard>us</keyboard><timezone>UTC</timezone>
            <rootpw>--iscrypted &site_pw;</rootpw></main></kickstart>""",
        "graphs/default/g.xml": "<graph></graph>"})
    c = Compiler(load_graph(rolls=[roll], bundled=False))
    attrs = {"site_pw": f"x {SECRET_WORD}"}
    with pytest.raises(RocksError) as exc:
        c.render("root", attrs, host="n1")
    assert SECRET_WORD in str(exc.value)  # not marked secret anywhere: quoted as it is
    with pytest.raises(RocksError) as exc:
        c.render("root", attrs, host="n1", secret={"site_pw"})
    assert SECRET_WORD not in str(exc.value) and "********" in str(exc.value)


def test_frontend_records_and_shows_no_secret(tmp_path: Path) -> None:
    from tests.server.conftest import Server, make_cluster

    cluster = make_cluster(tmp_path / "state", 2)
    name = "compute-0-1"
    with cluster.inventory.transaction() as s:
        q.set_attr(s, "host", name, "rootpw_hash", BROKEN_HASH, secret=True)
    server = Server(cluster, tmp_path, refresh_interval=0.2)
    server.start()
    try:
        transport = httpx.HTTPTransport(local_address=cluster.addresses[name])
        with httpx.Client(base_url=server.base, transport=transport, timeout=10) as c:
            r = c.get(f"/install/kickstart?token={cluster.tokens[name]}")
        assert r.status_code == 500
        assert SECRET_WORD not in r.text
        server.wait_refresh(0.5)
        with cluster.inventory.transaction(readonly=True) as s:
            events = q.list_events(s, name)
        failed = [e.message for e in events if e.stage == "failed"]
        assert failed and "pykickstart" in failed[-1] and "rootpw" in failed[-1]
        assert all(SECRET_WORD not in m for m in failed)
        with httpx.Client(base_url=server.base, timeout=10) as c:
            for path in ("/status.json", "/", f"/hosts/{name}"):
                page = c.get(path)
                assert page.status_code in (200, 401, 403), path
                assert SECRET_WORD not in page.text, path
    finally:
        server.stop()
    from rocks.cli.context import run_cli

    out = run_cli(["list", "host", "install"], {"ROCKS_DATABASE_URL": cluster.url})
    assert out.code == 0 and "failed" in out.stdout, out
    assert SECRET_WORD not in out.stdout + out.stderr
    assert SECRET_WORD not in server.logs()
    cluster.inventory.close()
