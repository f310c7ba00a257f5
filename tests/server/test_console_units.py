"""Pure pieces of the console and of package progress: natural order, list messages, state
filters, progress counting and its tenths, access-log lines, the remembered depsolve."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from rocks.server.access import line
from rocks.server.console import in_state, natural_key, short_message
from rocks.server.progress import Progress
from rocks.server.status import LastEvent, classify

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_natural_order() -> None:
    names = ["compute-1-10", "compute-1-2", "compute-10-0", "compute-2-0", "login-0-0",
             "Compute-1-3", "nas"]
    assert sorted(names, key=natural_key) == [
        "compute-1-2", "Compute-1-3", "compute-1-10", "compute-2-0", "compute-10-0",
        "login-0-0", "nas"]


def test_short_messages() -> None:
    assert short_message("") == ""
    assert short_message("one line") == "one line"
    assert short_message(r"failed on x\x0a== log\x0aERROR: disk\x0a") == \
        "failed on x … ERROR: disk"
    long = short_message("x" * 500)
    assert len(long) == 200 and long.endswith("…")


def row(**kw: object) -> dict[str, object]:
    return {"stage": "", "boot": "os", "live": "", **kw}


@pytest.mark.parametrize(("fields", "state", "expected"), [
    ({"stage": "failed"}, "problems", True), ({"stage": "stalled"}, "problems", True),
    ({"stage": "pre"}, "problems", False), ({"boot": "install"}, "installing", True),
    ({"live": "up"}, "up", True), ({"live": "down"}, "up", False),
    ({"live": ""}, "unknown", True), ({"boot": "os"}, "os", True),
    ({"stage": "waiting"}, "waiting", True), ({"stage": "finished"}, "failed", False),
])
def test_state_filters(fields: dict[str, object], state: str, expected: bool) -> None:
    assert in_state(row(**fields), state) is expected


def test_progress_counts_each_package_once() -> None:
    p = Progress("tok", NOW)
    assert p.fetch("/install/distro/repodata/repomd.xml", NOW) is False  # not a package
    assert p.fetch("/install/distro/Packages/a-1.rpm", NOW) is True
    assert p.fetch("/install/distro/Packages/a-1.rpm", NOW) is False  # a retry
    assert p.fetch("/install/distro/Packages/b-1.rpm", NOW, ranged=True) is False  # a resume
    assert p.count == 1 and p.percent is None and p.step() is None
    assert p.text() == "1 packages fetched"
    p.total = 10
    assert (p.percent, p.step(), p.step()) == (10, 1, None)  # each tenth once
    for i in range(2, 12):
        p.fetch(f"/x/p{i}.rpm", NOW + timedelta(seconds=i))
    assert p.percent == 99  # the installer adds packages of its own: never 100 before post
    assert p.last == NOW + timedelta(seconds=11)
    p.estimate = True
    assert p.text() == "11/~10 packages (99%)"


def test_a_fetch_keeps_an_install_from_stalling() -> None:
    started = NOW - timedelta(minutes=20)
    last = LastEvent(NOW - timedelta(minutes=10), "packages", "fetching", "10.1.255.254")
    assert classify("install", started, last, NOW, 300)[0] == "stalled"
    assert classify("install", started, last, NOW, 300,
                    active=NOW - timedelta(seconds=30))[0] == "packages"
    assert classify("install", started, last, NOW, 300,
                    active=NOW - timedelta(minutes=6))[0] == "stalled"
    # a boot report is no install: never stalled
    up = LastEvent(NOW - timedelta(days=3), "up", "", "10.1.255.254")
    assert classify("os", None, up, NOW, 300)[0] == "up"


def test_access_lines() -> None:
    assert line("/install/kickstart", 200, "10.1.255.254", host="compute-0-0", bytes=12) == \
        "served path=/install/kickstart status=200 client=10.1.255.254 host=compute-0-0 " \
        "bytes=12"
    assert line("/install/events", 403, "10.9.9.9", "missing or invalid token",
                macs="-") == ("refused path=/install/events status=403 "
                              "reason=missing-or-invalid-token client=10.9.9.9 macs=-")
    assert line("/install/events", 503, "", "busy") .startswith(
        "refused path=/install/events status=503 reason=busy client=-")
    assert line("/install/distro/x.rpm", 500, "1.2.3.4").startswith("failed ")
    # values from the network stay on one line and are quoted when they hold spaces
    text = line("/install/distro/a b\n\x1b[2J.rpm", 404, "1.2.3.4", host='x"y')
    assert "\n" not in text and "\x1b" not in text
    assert 'path="/install/distro/a b\\\\x0a\\\\x1b[2J.rpm"' in text
    assert 'host="x\\"y"' in text


def test_the_package_check_remembers_its_depsolve(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import rocks.packages.depsolve as depsolve_module
    from rocks.compiler.service import Compiler, load_graph, preview_attributes
    from rocks.packages.depsolve import DepsolveResult
    from rocks.profiles import depsolved_total, package_problems

    graph = load_graph()
    profile = Compiler(graph).compile("compute", preview_attributes(
        graph, "compute", "el9")).profile
    repo = tmp_path / "distro"
    (repo / "repodata").mkdir(parents=True)
    (repo / "repodata" / "repomd.xml").write_text("<repomd>1</repomd>")
    (repo / ".treeinfo").write_text("[general]\nfamily = Rocky\n")  # built with an OS roll
    monkeypatch.setattr(depsolve_module, "depsolve", lambda *a, **k: DepsolveResult(
        tuple(f"pkg{i}-1-1.x86_64" for i in range(42)), ()))
    assert depsolved_total(profile, repo) is None
    assert package_problems(profile, repo) == []
    assert depsolved_total(profile, repo) == 42
    (repo / "repodata" / "repomd.xml").write_text("<repomd>2</repomd>")  # a new distribution
    assert depsolved_total(profile, repo) is None
