"""Fixtures for the package layer: small real RPMs (built once per session), roll directories,
and OS installation media, all made with rpmbuild and createrepo_c."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from rocks.packages.isofs import write_iso
from tests.conftest import require_tool
from tests.packages import rpmtools as testing


@pytest.fixture(autouse=True, scope="session")
def _rpm_tools() -> None:
    require_tool("rpmbuild", "rpm")
    require_tool("createrepo_c", "createrepo-c")


make_rpm = testing.make_rpm

RollDirMaker = Callable[..., Path]

MAIL_SPECS: dict[str, dict[str, object]] = {
    "base-files": {"provides": ["rocks-release = 1.0"]},
    "config": {"requires": ["base-files"], "post": 'echo "post $1" > /etc/rocks-test/post-ran'},
    "postfix-lite": {"provides": ["mta", "smtpdaemon"]},
    "mailx": {"requires": ["mta"]},
    "extra": {},
}


@pytest.fixture(scope="session")
def rpms() -> dict[str, Path]:
    """name -> cached RPM path (do not modify; copy with `dest=`)."""
    built = {name: make_rpm(name, **kw) for name, kw in MAIL_SPECS.items()}  # type: ignore[arg-type]
    built["hello-1.0"] = make_rpm("hello", "1.0")
    built["hello-2.0"] = make_rpm("hello", "2.0")
    built["busybox-sh"] = testing.make_busybox_rpm()
    return built


def write_roll_xml(root: Path, name: str, version: str = "1.0") -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "roll.xml").write_text(
        f'<roll name="{name}" interface="4.0"><info version="{version}" release="1" '
        'arch="x86_64" os="linux"/></roll>\n'
    )


@pytest.fixture
def roll_dir(tmp_path: Path, rpms: dict[str, Path]) -> RollDirMaker:
    """roll_dir("name", ["hello-1.0", ...], comps={"grp": ["pkg"]}) -> a roll source directory."""

    def make(
        name: str, packages: list[str], *, version: str = "1.0",
        comps: dict[str, list[str]] | None = None, roll_xml: bool = True,
    ) -> Path:
        root = tmp_path / "src" / name
        (root / "nodes").mkdir(parents=True)
        (root / "graphs" / "default").mkdir(parents=True)
        (root / "nodes" / f"{name}.xml").write_text(
            "<kickstart><package>hello</package></kickstart>\n"
        )
        (root / "graphs" / "default" / f"{name}.xml").write_text(
            f'<graph><edge from="compute" to="{name}"/></graph>\n'
        )
        if roll_xml:
            write_roll_xml(root, name, version)
        (root / "RPMS").mkdir()
        for key in packages:
            shutil.copyfile(rpms[key], root / "RPMS" / rpms[key].name)
        if comps:
            (root / "comps.xml").write_text(testing.comps_xml(comps))
        return root

    return make


@pytest.fixture(scope="session")
def os_media(tmp_path_factory: pytest.TempPathFactory, rpms: dict[str, Path]) -> Path:
    """A DVD-layout tree: BaseOS (base-files, busybox-sh, config), AppStream (extra)."""
    dest = tmp_path_factory.mktemp("osmedia") / "dvd"
    return testing.make_os_media(dest, {
        "BaseOS": (
            [rpms["base-files"], rpms["busybox-sh"], rpms["config"]],
            testing.comps_xml({"core": ["base-files", "config"]}),
        ),
        "AppStream": (
            [rpms["extra"]],
            testing.comps_xml({"core": [("extra", "default")], "server": ["extra"]}),
        ),
    })


@pytest.fixture(scope="session")
def os_iso(tmp_path_factory: pytest.TempPathFactory, os_media: Path) -> Path:
    out = tmp_path_factory.mktemp("osiso") / "Test-9.4-x86_64-dvd.iso"
    write_iso(os_media, out, "Test-9-4-x86_64-dvd")
    return out
