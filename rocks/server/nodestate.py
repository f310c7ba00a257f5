"""GET /install/state?token=…: a stateless node's own state, fetched by its image's /init at
every boot and unpacked into memory (rocks.images: one image serves every host of an appliance,
so nothing of one host is in it).

The node is identified as for its kickstart (identity.py: its source address on a served
network, MAC headers only confirm; with routed-nodes=yes its token) and must be set to
stateless with this token, its current one in the database. The answer is a tar archive:

    etc/hostname                                  the host's name
    etc/hosts                                     localhost, the frontend, the host itself
    etc/rocks/host.env                            HOST, APPLIANCE, RACK, RANK, ADDRESSES (sh syntax)
    etc/NetworkManager/system-connections/*.nmconnection   its interfaces, as the installer writes
    root/.ssh/authorized_keys                     the cluster's SSH key (cluster_ssh_pubkey)
    etc/ssh/ssh_host_ed25519_key{,.pub}           the host's own SSH host key
    etc/rocks/secrets/<attribute>                 each secret attribute of the host, 0600

The host key is made on the frontend the first time the host asks (kept under
<state>/ssh/hosts/<host>/, 0600 in 0700 directories) and recorded in rocks' known_hosts: the
node keeps one key across its boots, two nodes never share one, and `rocks run host` knows the
key before it ever connects.
"""

from __future__ import annotations

import io
import ipaddress
import os
import re
import shlex
import subprocess
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from rocks.model.inventory import Host, Network
from rocks.server.index import HostEntry

CLUSTER_KEY_ATTR = "cluster_ssh_pubkey"


@dataclass(frozen=True, slots=True)
class StateFile:
    path: str
    data: bytes
    mode: int = 0o644


_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$")
KEY = "ssh_host_ed25519_key"


def host_key(state_dir: Path, name: str) -> tuple[bytes, str]:
    """The host's SSH host key (private key bytes, public key line), made on first use."""
    if not _SAFE_NAME.match(name):
        raise ValueError(f"not a host name: {name!r}")
    base = state_dir / "ssh" / "hosts"
    key = base / name / KEY
    if not key.is_file():
        for d in (state_dir / "ssh", base, base / name):
            d.mkdir(mode=0o700, exist_ok=True)
        tmp = key.with_name(f".{KEY}.{os.getpid()}")
        for p in (tmp, tmp.with_name(tmp.name + ".pub")):
            p.unlink(missing_ok=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"root@{name}",
                        "-f", str(tmp)], check=True, capture_output=True, timeout=30)
        tmp.with_name(tmp.name + ".pub").replace(key.with_name(KEY + ".pub"))
        tmp.replace(key)
    return key.read_bytes(), key.with_name(KEY + ".pub").read_text().strip()


def record_known_host(known_hosts: Path, name: str, public: str) -> None:
    """Make `public` the one key rocks' known_hosts holds for `name` (HostKeyAlias)."""
    from rocks.remote.ssh import forget_host_keys

    kind, blob = public.split()[:2]
    line = f"{name} {kind} {blob}\n"
    if known_hosts.exists() and line in known_hosts.read_text().splitlines(keepends=True):
        return
    known_hosts.parent.mkdir(parents=True, exist_ok=True)
    forget_host_keys(known_hosts, [name])
    with known_hosts.open("a") as f:
        f.write(line)
    known_hosts.chmod(0o644)


def _prefix(netmask: str) -> int:
    return ipaddress.IPv4Network(f"0.0.0.0/{netmask}").prefixlen


def _keyfile(host: Host, iface_dev: str, mac: str, ip: str, net: Network | None,
             dns: str) -> str:
    lines = ["[connection]", f"id={iface_dev}", "type=ethernet"]
    if not mac:
        lines.append(f"interface-name={iface_dev}")
    lines.append("")
    if mac:
        lines += ["[ethernet]", f"mac-address={mac.upper()}", ""]
    lines += ["[ipv4]"]
    if ip and net is not None:
        lines.append("method=manual")
        lines.append(f"address1={ip}/{_prefix(net.netmask)}"
                     + (f",{net.gateway}" if net.gateway else ""))
        if dns:
            lines.append(f"dns={dns};")
    else:
        lines.append("method=auto")
    return "\n".join([*lines, "", "[ipv6]", "method=ignore", ""])


def state_files(entry: HostEntry, host: Host, networks: Iterable[Network],
                frontend: tuple[str, str], key: tuple[bytes, str] | None = None
                ) -> list[StateFile]:
    """The files of one host's state. `frontend` is (name, private address); `key` the host's
    SSH host key (host_key)."""
    nets = {n.name: n for n in networks}
    attrs = dict(entry.view.attrs) if entry.view is not None else {}
    secret = entry.view.secret if entry.view is not None else frozenset()
    fe_name, fe_ip = frontend
    files = [StateFile("etc/hostname", f"{host.name}\n".encode())]
    hosts = ["127.0.0.1\tlocalhost localhost.localdomain", "::1\tlocalhost6"]
    if fe_ip:
        hosts.append(f"{fe_ip}\t{fe_name}")
    addresses = [i.ip for i in host.interfaces if i.ip and not i.bmc]
    if addresses:
        hosts.append(f"{addresses[0]}\t{host.name}")
    files.append(StateFile("etc/hosts", ("\n".join(hosts) + "\n").encode()))
    env = {"HOST": host.name, "APPLIANCE": host.appliance, "RACK": str(host.rack),
           "RANK": str(host.rank), "ADDRESSES": " ".join(addresses)}
    files.append(StateFile("etc/rocks/host.env", "".join(
        f"{k}={shlex.quote(v)}\n" for k, v in env.items()).encode()))
    for n, iface in enumerate(i for i in host.interfaces if not i.bmc and (i.mac or i.ip)):
        dev = iface.device if iface.device.replace("-", "").replace(".", "").isalnum() \
            else f"net{n}"
        net = nets.get(iface.network)
        files.append(StateFile(f"etc/NetworkManager/system-connections/{dev}.nmconnection",
                               _keyfile(host, dev, iface.mac, iface.ip, net, fe_ip).encode(),
                               0o600))
    cluster_key = attrs.get(CLUSTER_KEY_ATTR, "").strip()
    if cluster_key:
        files.append(StateFile("root/.ssh/authorized_keys", f"{cluster_key}\n".encode(),
                               0o600))
    if key is not None:
        files.append(StateFile(f"etc/ssh/{KEY}", key[0], 0o600))
        files.append(StateFile(f"etc/ssh/{KEY}.pub", f"{key[1]}\n".encode()))
    for name in sorted(secret):
        value = attrs.get(name, "")
        if value and name != "install_token" and name.replace("_", "").replace("-", "").isalnum():
            files.append(StateFile(f"etc/rocks/secrets/{name}", value.encode(), 0o600))
    return files


def _dirs(files: Iterable[StateFile]) -> list[str]:
    out: set[str] = set()
    for f in files:
        parts = f.path.split("/")[:-1]
        out.update("/".join(parts[:i]) for i in range(1, len(parts) + 1))
    return sorted(out)


PRIVATE_DIRS = ("root", "root/.ssh", "etc/rocks/secrets")


def state_tar(files: list[StateFile]) -> bytes:
    """A tar archive of the files (owned by root, time stamps 0), with their directories."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for d in _dirs(files):
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o700 if d in PRIVATE_DIRS else 0o755
            tar.addfile(info)
        for f in files:
            info = tarfile.TarInfo(f.path)
            info.size = len(f.data)
            info.mode = f.mode
            tar.addfile(info, io.BytesIO(f.data))
    return buf.getvalue()
