"""A throwaway frontend state for the boot tests, built only with `rocks` commands: the test OS
roll (its RPMs and comps from scripts/e2e_assets.py as installation media, with Debian's kernel,
the installer's stage 1 and stage 2 as its images) added, enabled and made into the
distribution, with test rolls beside it; the private network, an install boot action with a
serial console, disk sizes that fit a small VM disk, and hosts with known MACs.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.packages.rpmtools import make_os_media

REPO = Path(__file__).resolve().parents[2]
ROCKS = Path(sys.executable).parent / "rocks"


@dataclass(frozen=True, slots=True)
class Assets:
    kernel: Path
    initrd: Path  # the installer's stage 1
    stage2: Path  # the installer (squashfs)
    testos: Path  # RPMS/ and comps.xml of the test OS


@dataclass(frozen=True, slots=True)
class Node:
    name: str
    mac: str
    ip: str

    @property
    def hexip(self) -> str:
        return "".join(f"{int(p):02X}" for p in self.ip.split("."))


NODES = (Node("compute-0-0", "52:54:00:e2:00:10", "10.1.1.254"),
         Node("compute-0-1", "52:54:00:e2:00:11", "10.1.1.253"))

# Sizes of the Rocks layout that fit the test VMs' 3 GiB disk (xfs wants at least 300 MiB).
SMALL_DISK = {"boot_size": "200", "root_size": "600", "var_size": "320", "swap_size": "64"}


@dataclass(frozen=True, slots=True)
class SiteRoll:
    """A roll of node files (no packages) written for a test: name -> XML text."""

    name: str
    nodes: dict[str, str]
    edges: tuple[tuple[str, str], ...]

    def write(self, parent: Path) -> Path:
        root = parent / self.name
        (root / "nodes").mkdir(parents=True)
        (root / "graphs" / "default").mkdir(parents=True)
        (root / "roll.xml").write_text(
            f'<roll name="{self.name}" interface="4.0"><info version="1.0" release="1" '
            'arch="x86_64" os="linux"/></roll>\n')
        for node, text in self.nodes.items():
            (root / "nodes" / f"{node}.xml").write_text(text)
        edges = "".join(f'  <edge from="{a}" to="{b}"/>\n' for a, b in self.edges)
        (root / "graphs" / "default" / f"{self.name}.xml").write_text(
            f"<graph>\n{edges}</graph>\n")
        return root


@dataclass
class Cluster:
    state: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return self.state / "root"

    @property
    def tftp(self) -> Path:
        return self.root / "tftpboot"

    def rocks(self, *args: str, timeout: float = 300) -> str:
        r = subprocess.run([str(ROCKS), *args], capture_output=True, text=True, env=self.env,
                           timeout=timeout, cwd=REPO)
        if r.returncode != 0:
            raise AssertionError(f"rocks {' '.join(args)} failed ({r.returncode}):\n"
                                 f"{r.stdout}{r.stderr}")
        return r.stdout

    def python(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, *args], capture_output=True, text=True,
                              env=self.env, timeout=120, cwd=REPO)

    def sync(self, dhcp_interface: str | None) -> None:
        """Write dhcp/TFTP files, then put the distribution's installer kernel and initrd at
        the TFTP root where the boot actions name them (`vmlinuz`, `initrd.img`)."""
        extra = ["--dhcp-interface", dhcp_interface] if dhcp_interface else []
        r = self.python("-m", "tests.integration.sync_now", *extra)
        if r.returncode != 0:
            raise AssertionError(f"sync failed:\n{r.stdout}{r.stderr}")
        pxeboot = self.state / "distro" / "images" / "pxeboot"
        for name in ("vmlinuz", "initrd.img"):
            if not (self.tftp / name).exists():  # newer sync copies them itself
                shutil.copyfile(pxeboot / name, self.tftp / name)
        # dnsmasq serves TFTP as nobody
        for path in [self.tftp, *self.tftp.rglob("*")]:
            path.chmod(path.stat().st_mode | (0o755 if path.is_dir() else 0o644))

    def boot_files(self, node: Node) -> dict[str, str]:
        """The node's TFTP boot files that the loader choice makes sync write."""
        paths = {"pxelinux": self.tftp / f"pxelinux.cfg/{node.hexip}",
                 "grub": self.tftp / f"grub/grub.cfg-{node.mac.lower()}"}
        return {k: p.read_text() for k, p in paths.items() if p.exists()}

    def token(self, node: Node) -> str:
        text = "".join(self.boot_files(node).values())
        m = re.search(r"token=([A-Za-z0-9_%-]+)", text)
        assert m, f"no install token in the boot file of {node.name}:\n{text}"
        return m.group(1)

    def install_row(self, node: Node) -> list[str]:
        """[host, stage, since, last message] as `rocks list host install` shows them."""
        import json

        rows = json.loads(self.rocks("list", "host", "install", node.name,
                                     "output-format=json"))
        assert rows, f"no install row for {node.name}"
        return [str(v) if v is not None else "" for v in rows[0].values()]

    def stage(self, node: Node) -> str:
        """The host's install stage, read in-process (cheap enough to poll)."""
        from rocks.commands._inventory import database_url_from
        from rocks.inventory import open_inventory
        from rocks.server.status import install_status

        with open_inventory(database_url_from(self.env)) as inv, \
                inv.transaction(readonly=True) as s:
            return next(iter(install_status(s, [node.name]))).stage

    def wait_stage(self, node: Node, stage: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.stage(node) != stage:
            if time.monotonic() > deadline:
                raise AssertionError(f"{node.name} never reached stage {stage} "
                                     f"(it is {self.stage(node)!r})")
            time.sleep(0.5)

    def boot_state(self, node: Node) -> str:
        out = self.rocks("list", "host", node.name).splitlines()
        header = out[0].split()
        return out[1].split()[header.index("BOOT")]

    def events(self, node: Node) -> list[tuple[str, str]]:
        """(stage, message) of every install event of the host, oldest first."""
        from rocks.commands._inventory import database_url_from
        from rocks.inventory import open_inventory
        from rocks.inventory import queries as q

        with open_inventory(database_url_from(self.env)) as inv, \
                inv.transaction(readonly=True) as s:
            return [(e.stage, e.message) for e in q.list_events(s, node.name)]


def build_cluster(state: Path, assets: Assets, *, dhcp: str, bios_loader: str,
                  uefi_loader: str, nodes: tuple[Node, ...], rolls: tuple[Path, ...] = (),
                  database_url: str = "") -> Cluster:
    """The frontend state. `database_url`: the inventory in that PostgreSQL database (else
    SQLite in the state)."""
    state.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROCKS_")}
    env.update(ROCKS_STATE=str(state), PYTHONPATH=str(REPO))
    if database_url:
        env["ROCKS_DATABASE_URL"] = database_url
    c = Cluster(state, env)

    rpms = sorted((assets.testos / "RPMS").glob("*.rpm"))
    comps = (assets.testos / "comps.xml").read_text()
    media = make_os_media(state / "media", {"BaseOS": (rpms, comps)})
    # the OS roll's installer images: Debian's kernel and the test installer
    shutil.copyfile(assets.kernel, media / "images" / "pxeboot" / "vmlinuz")
    shutil.copyfile(assets.initrd, media / "images" / "pxeboot" / "initrd.img")
    shutil.copyfile(assets.stage2, media / "images" / "install.img")
    c.rocks("add", "roll", str(media))
    c.rocks("enable", "roll", "os")
    for roll in rolls:
        c.rocks("add", "roll", str(roll))
        c.rocks("enable", "roll", roll.name)
    c.rocks("create", "distro")
    shutil.rmtree(state / "media")

    for attr, value in (("sync_dhcp", dhcp), ("sync_bios_loader", bios_loader),
                        ("sync_uefi_loader", uefi_loader),
                        ("Kickstart_FrontendURL", "http://10.1.1.1:8080"),
                        ("Kickstart_DistroURL", "http://10.1.1.1:8080/install/distro"),
                        ("Kickstart_PrivateKickstartHost", "10.1.1.1"),
                        ("bootloader_append", "console=ttyS0,115200"),
                        *SMALL_DISK.items()):
        c.rocks("add", "attr", f"attr={attr}", f"value={value}")
    c.rocks("add", "network", "private", "subnet=10.1.1.0", "netmask=255.255.255.0",
            "zone=local", "pxe=yes")
    # the serial console is where the test reads the installer; panic=-1 ends a failed boot
    c.rocks("remove", "bootaction", "install")
    c.rocks("add", "bootaction", "install", "kernel=vmlinuz", "initrd=initrd.img",
            "args=console=ttyS0,115200 panic=-1")
    for node in nodes:
        c.rocks("add", "host", node.name, "appliance=compute")
        c.rocks("add", "host", "interface", node.name, "eth0", f"mac={node.mac}",
                f"ip={node.ip}", "network=private")
    return c
