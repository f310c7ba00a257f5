"""Shared fixtures: paths to the shared corpus and a builder for throwaway roll directories;
the suite's one list of optional skips, and the rule that nothing else skips."""

from __future__ import annotations

import glob
import os
import shutil
import textwrap
from collections.abc import Callable, Generator
from pathlib import Path
from typing import NoReturn

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CORPUS = SHARED / "corpus" / "rocks"

# ---------------------------------------------------------------- skips
# The only skips the suite may take, and why each is optional. Every other skip (a missing tool,
# network namespace, sshd, chromium, PostgreSQL that did not start …) is a failure that says
# what to install: see pytest_runtest_makereport below and tests/unit/test_suite_rules.py.
# Under CI (CI=true, as .ci/run and fresh-debian.sh set it) only the keys in CI_SKIPS may skip.
OPTIONAL_SKIPS: dict[str, str] = {
    "wide-matrix": "the wide PXE matrix (e1000 NICs, the other DHCP server per firmware, iPXE, "
                   "two nodes) is opt-in: ROCKS_E2E_MATRIX=1; CI runs the narrow one",
    "not-root": "needs root (network namespaces, taps, dnf --installroot, chroot): a developer's "
                "non-root run; CI runs as root",
    "no-postgres": "ROCKS_TEST_POSTGRES_URL is unset on a machine without PostgreSQL (a bare "
                   "pytest run where it is installed fails: scripts/test.sh starts a throwaway "
                   "PostgreSQL and sets it)",
    "no-corpus": "the shared Rocks corpus is not beside the checkout (../shared): a checkout "
                 "alone; CI has ../shared",
}
CI_SKIPS = frozenset({"wide-matrix"})


def under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def _postgres_installed() -> bool:
    return bool(glob.glob("/usr/lib/postgresql/*/bin/initdb"))


def optional_skip(key: str, detail: str) -> NoReturn:
    """Skip for one of OPTIONAL_SKIPS (a KeyError for anything else); under CI a failure unless
    the key is in CI_SKIPS. With the project's Debian packages installed, PostgreSQL is not
    optional either: a run without one (a bare pytest) fails, it does not skip."""
    why = OPTIONAL_SKIPS[key]
    if under_ci() and key not in CI_SKIPS:
        pytest.fail(f"{detail} — not optional under CI=true ({why})", pytrace=False)
    if key == "no-postgres" and _postgres_installed():
        pytest.fail(f"{detail} — PostgreSQL is installed here: run the tests through "
                    "scripts/test.sh (`make test`), which starts a throwaway one", pytrace=False)
    pytest.skip(f"[{key}] {detail}")


def optional_unless(enabled: bool, key: str, detail: str) -> pytest.MarkDecorator:
    """A skipif marker for a key of CI_SKIPS (an opt-in test)."""
    assert key in CI_SKIPS, key
    return pytest.mark.skipif(not enabled, reason=f"[{key}] {detail}")


def require_tool(name: str, package: str) -> str:
    """The tool's path, or a failure naming the Debian package that brings it."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if path is None:
        pytest.fail(f"{name} is not installed: apt-get install {package} (it is in "
                    "scripts/apt-packages.txt; `make setup` installs them)", pytrace=False)
    return path


@pytest.fixture
def root() -> None:
    """For tests that need root: `pytest.mark.usefixtures("root")`."""
    if os.geteuid() != 0:
        optional_skip("not-root", "needs root")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, pytest.TestReport, None]:
    """A skip whose reason does not start with a key of OPTIONAL_SKIPS is turned into a failure
    (a plugin, a marker or a helper that skips on its own would otherwise pass silently)."""
    outcome = yield
    rep = outcome.get_result()
    if not rep.skipped or hasattr(rep, "wasxfail"):
        return
    longrepr = rep.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    reason = reason.removeprefix("Skipped: ")
    keys = CI_SKIPS if under_ci() else OPTIONAL_SKIPS.keys()
    if not any(reason.startswith(f"[{k}]") for k in keys):
        rep.outcome = "failed"
        rep.longrepr = (f"skipped for a reason that is not in tests/conftest.py OPTIONAL_SKIPS "
                        f"(a missing tool or service is a failure): {reason}")
    elif isinstance(longrepr, tuple):  # report the test's place, not optional_skip's
        path, line, _ = item.location
        rep.longrepr = (path, (line or 0) + 1, longrepr[2])


def need_corpus() -> Path:
    if not CORPUS.is_dir():
        optional_skip("no-corpus", f"no corpus at {CORPUS}")
    return CORPUS


@pytest.fixture(autouse=True)
def _own_default_state(tmp_path_factory: pytest.TempPathFactory,
                       monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or writes this machine's default state (/var/lib/rocks): a command run
    without ROCKS_STATE in its environment gets an empty state of the test's own."""
    monkeypatch.setenv("ROCKS_STATE", str(tmp_path_factory.mktemp("default-state")))


RollMaker = Callable[..., Path]


@pytest.fixture
def make_roll(tmp_path: Path) -> RollMaker:
    """make_roll("name", {"nodes/a.xml": "...", "graphs/default/g.xml": "..."}) -> roll dir."""

    def make(name: str, files: dict[str, str], *, roll_xml: bool = True) -> Path:
        root = tmp_path / name
        (root / "nodes").mkdir(parents=True, exist_ok=True)
        (root / "graphs" / "default").mkdir(parents=True, exist_ok=True)
        if roll_xml and "roll.xml" not in files:
            (root / "roll.xml").write_text(
                f'<roll name="{name}" interface="4.0"><info version="1.0" release="1" '
                'arch="x86_64" os="linux"/></roll>\n'
            )
        for rel, text in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text).lstrip("\n"))
        return root

    return make
