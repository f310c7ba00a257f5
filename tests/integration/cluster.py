"""A throwaway frontend state for the boot tests, built only with `rocks` commands: a test OS roll
(stand-in RPMs for what the compute kickstart asks for, a comps group `core`, Debian's kernel and
the stand-in installer as its images/pxeboot) added, enabled and made into the distribution; the
private network, an install boot action with a serial console, hosts with known MACs.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tests.packages.rpmtools import build_cached, comps_xml, make_os_media

REPO = Path(__file__).resolve().parents[2]
ROCKS = Path(sys.executable).parent / "rocks"

# The comps group the kickstart's `@core` resolves to: mandatory and default members are
# installed, the optional one is not.
CORE_GROUP = (("e2e-core-base", "mandatory"), ("e2e-core-tools", "default"),
              ("e2e-core-optional", "optional"))
CORE_INSTALLED = frozenset({"e2e-core-base", "e2e-core-tools"})
# in the repository but never asked for (one of them is a `-name` of the kickstart)
NOT_ASKED = ("iwl100-firmware", "e2e-unrelated")


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
                 "grub": self.tftp / f"grub/grub.cfg-{node.hexip}"}
        return {k: p.read_text() for k, p in paths.items() if p.exists()}

    def token(self, node: Node) -> str:
        text = "".join(self.boot_files(node).values())
        m = re.search(r"token=([A-Za-z0-9_%-]+)", text)
        assert m, f"no install token in the boot file of {node.name}:\n{text}"
        return m.group(1)

    def install_row(self, node: Node) -> list[str]:
        out = self.rocks("list", "host", "install", node.name)
        rows = [line.split() for line in out.splitlines()[1:] if line.strip()]
        assert rows, out
        return rows[0]

    def boot_state(self, node: Node) -> str:
        out = self.rocks("list", "host", node.name).splitlines()
        header = out[0].split()
        return out[1].split()[header.index("BOOT")]


def kickstart_packages(ks: str) -> tuple[list[str], list[str], list[str]]:
    """(groups, packages, excluded) of the %packages section."""
    groups: list[str] = []
    names: list[str] = []
    excluded: list[str] = []
    body = ks.split("\n%packages", 1)[1].split("\n%end", 1)[0]
    for raw in body.splitlines()[1:]:
        word = raw.split("#", 1)[0].strip().split(" ")[0]
        if not word:
            continue
        if word.startswith("@"):
            groups.append(word[1:])
        elif word.startswith("-"):
            excluded.append(word[1:])
        else:
            names.append(word)
    return groups, names, excluded


def _packages_spec(names: list[str]) -> str:
    """One spec, one tiny noarch subpackage per name (a single rpmbuild run)."""
    lines = ["Name: e2e-os", "Version: 9.4", "Release: 1", "Summary: e2e OS stand-ins",
             "License: MIT", "BuildArch: noarch", "", "%description", "stand-ins", "",
             "%install"]
    for n in names:
        lines.append(f"mkdir -p %{{buildroot}}/usr/share/e2e-os && echo {n} > "
                     f"%{{buildroot}}/usr/share/e2e-os/{n}")
    for n in names:
        lines += ["", f"%package -n {n}", f"Summary: stand-in for {n}",
                  f"%description -n {n}", f"stand-in for {n}", f"%files -n {n}",
                  f"/usr/share/e2e-os/{n}"]
    return "\n".join(lines) + "\n"


def build_cluster(state: Path, kernel: Path, initrd: Path, *, dhcp: str, bios_loader: str,
                  uefi_loader: str, nodes: tuple[Node, ...], database_url: str = ""
                  ) -> tuple[Cluster, set[str]]:
    """The frontend state; returns it with the package names an install must fetch.
    `database_url`: the inventory in that PostgreSQL database (else SQLite in the state)."""
    state.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROCKS_")}
    env.update(ROCKS_STATE=str(state), PYTHONPATH=str(REPO))
    if database_url:
        env["ROCKS_DATABASE_URL"] = database_url
    c = Cluster(state, env)

    ks = c.rocks("list", "appliance", "profile", "compute")
    groups, names, excluded = kickstart_packages(ks)
    assert groups == ["core"], groups
    wanted = (set(names) | CORE_INSTALLED) - set(excluded)
    all_names = sorted(set(names) | {n for n, _ in CORE_GROUP} | set(NOT_ASKED))
    rpms = build_cached(_packages_spec(all_names), state / "rpms")
    media = make_os_media(state / "media", {"BaseOS": (rpms, comps_xml({"core": CORE_GROUP}))})
    # the OS roll's installer images: Debian's kernel and the stand-in installer
    shutil.copyfile(kernel, media / "images" / "pxeboot" / "vmlinuz")
    shutil.copyfile(initrd, media / "images" / "pxeboot" / "initrd.img")

    c.rocks("add", "roll", str(media))
    c.rocks("enable", "roll", "os")
    c.rocks("create", "distro")
    shutil.rmtree(state / "media")

    for attr, value in (("sync_dhcp", dhcp), ("sync_bios_loader", bios_loader),
                        ("sync_uefi_loader", uefi_loader),
                        ("Kickstart_FrontendURL", "http://10.1.1.1:8080"),
                        ("Kickstart_DistroURL", "http://10.1.1.1:8080/install/distro"),
                        ("Kickstart_PrivateKickstartHost", "10.1.1.1")):
        c.rocks("add", "attr", attr, value)
    c.rocks("add", "network", "private", "subnet=10.1.1.0", "netmask=255.255.255.0",
            "zone=local", "pxe=yes")
    # the serial console is where the test reads the installer; panic=-1 ends a failed boot
    c.rocks("remove", "bootaction", "install")
    c.rocks("add", "bootaction", "install", "kernel=vmlinuz", "initrd=initrd.img",
            "args=console=ttyS0,115200 panic=-1 inst.ks.sendmac")
    for node in nodes:
        c.rocks("add", "host", node.name, "appliance=compute")
        c.rocks("add", "host", "interface", node.name, "eth0", f"mac={node.mac}",
                f"ip={node.ip}", "network=private")
    return c, wanted
