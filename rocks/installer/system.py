"""Writing into the installed system what the kickstart's commands ask for, in the files EL9
reads them from: /etc/fstab; NetworkManager keyfiles and /etc/hostname (network); /etc/shadow
(rootpw); ~/.ssh/authorized_keys (sshkey); /etc/locale.conf (lang); /etc/vconsole.conf
(keyboard); /etc/localtime and /etc/adjtime (timezone); /etc/selinux/config (selinux); and, by
running the installed system's own tools as Anaconda does, firewall-offline-cmd (firewall) and
systemctl (services, skipx).
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rocks.installer.kickstart import InstallError
from rocks.installer.storage import Layout

CONNECTIONS = "etc/NetworkManager/system-connections"


def _is_mac(text: str) -> bool:
    parts = text.split(":")
    return len(parts) == 6 and all(len(p) == 2 for p in parts)


def _local_ifaces(sysfs: Path = Path("/sys/class/net")) -> dict[str, str]:
    """MAC (lower case) -> interface name, on the machine being installed."""
    out = {}
    for d in sorted(sysfs.iterdir()) if sysfs.is_dir() else []:
        try:
            out[(d / "address").read_text().strip().lower()] = d.name
        except OSError:
            continue
    return out


def keyfile(net: Any, n: int, ifaces: dict[str, str], bootif: str = "") -> tuple[str, str]:
    """(file name, text) of the NetworkManager keyfile for one `network` line."""
    device = (net.device or "").strip()
    if device.lower() in ("bootif", "link", "ksdevice", ""):
        device = bootif or device
    mac = device.lower() if _is_mac(device) else ""
    name = ifaces.get(mac, "") if mac else device
    conn_id = name or f"ks-{n}"
    lines = ["[connection]", f"id={conn_id}",
             f"uuid={uuid.uuid5(uuid.NAMESPACE_URL, 'rocks-ks:' + (mac or device or str(n)))}",
             "type=ethernet", f"autoconnect={'true' if net.onboot else 'false'}"]
    if not mac and name:
        lines.append(f"interface-name={name}")
    lines += ["", "[ethernet]"]
    if mac:
        lines.append(f"mac-address={mac.upper()}")
    if net.mtu:
        lines.append(f"mtu={net.mtu}")
    lines += ["", "[ipv4]"]
    if net.noipv4:
        lines.append("method=disabled")
    elif net.bootProto == "static":
        if not net.ip or not net.netmask:
            raise InstallError(f"kickstart line {net.lineno}: network --bootproto=static needs "
                               "--ip and --netmask")
        prefix = ipaddress.IPv4Network(f"0.0.0.0/{net.netmask}").prefixlen
        gw = f",{net.gateway}" if net.gateway else ""
        lines += ["method=manual", f"address1={net.ip}/{prefix}{gw}"]
    else:
        lines.append("method=auto")
    dns = [d for d in (net.nameserver or "").replace(" ", ",").split(",") if d]
    if dns:
        lines.append("dns=" + "".join(f"{d};" for d in dns))
    if net.nodefroute:
        lines.append("never-default=true")
    lines += ["", "[ipv6]", "method=disabled" if net.noipv6 else "method=auto", ""]
    return f"{conn_id}.nmconnection", "\n".join(lines)


class System:
    def __init__(self, root: Path, say: Callable[[str], None] = print) -> None:
        self.root = root
        self.say = say

    def path(self, rel: str) -> Path:
        return self.root / rel.lstrip("/")

    def write(self, rel: str, text: str, mode: int = 0o644) -> None:
        path = self.path(rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink():
            path.unlink()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(path, mode)

    def chroot(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["chroot", str(self.root), *argv], capture_output=True, text=True,
                              check=False, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
                                                "LANG": "C.UTF-8", "HOME": "/root"})

    def has(self, exe: str) -> bool:
        return os.access(self.path(exe), os.X_OK)

    # ------------------------------------------------------------------------------------------
    def configure(self, handler: Any, layout: Layout, bootif: str = "") -> None:
        self.write("/etc/fstab", layout.fstab())
        self.network(handler, bootif)
        self.accounts(handler)
        self.locale(handler)
        self.selinux(handler)
        self.firewall(handler)
        self.services(handler)

    def network(self, handler: Any, bootif: str) -> None:
        ifaces = _local_ifaces()
        hostname = ""
        for n, net in enumerate(handler.network.network):
            if net.hostname:
                hostname = net.hostname
            # a line without --device is about the interface that booted, as in Anaconda
            name, text = keyfile(net, n, ifaces, bootif)
            self.write(f"{CONNECTIONS}/{name}", text, 0o600)
            self.say(f"system: network {name} ({net.bootProto or 'dhcp'}"
                     + (f" {net.ip}" if net.ip else "") + ")")
        if hostname:
            self.write("/etc/hostname", hostname + "\n")
            self.say(f"system: host name {hostname}")

    def accounts(self, handler: Any) -> None:
        rp = handler.rootpw
        if rp.seen:
            if rp.password and not rp.isCrypted:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", DeprecationWarning)
                    import crypt

                    hashed = crypt.crypt(rp.password, crypt.mksalt(crypt.METHOD_SHA512))
            else:
                hashed = rp.password
            if rp.lock:
                hashed = "!" + (hashed or "")
            self._shadow("root", hashed or "!")
            if getattr(rp, "allow_ssh", False):
                self.write("/etc/ssh/sshd_config.d/01-permitrootlogin.conf",
                           "PermitRootLogin yes\n", 0o600)
            self.say("system: root password " + ("locked" if rp.lock else "set"))
        for key in getattr(handler.sshkey, "sshUserList", []):
            self._authorized_key(key.username, key.key, key.lineno)

    def _shadow(self, user: str, hashed: str) -> None:
        path = self.path("/etc/shadow")
        if not path.exists():
            raise InstallError("the installed system has no /etc/shadow (the packages lack "
                               "the setup package)")
        mode = path.stat().st_mode & 0o7777
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            fields = line.split(":")
            if fields[0] == user:
                fields[1] = hashed
                lines[i] = ":".join(fields)
                break
        else:
            raise InstallError(f"the installed system has no user {user} in /etc/shadow")
        self.write("/etc/shadow", "\n".join(lines) + "\n", mode)

    def _authorized_key(self, user: str, key: str, lineno: int) -> None:
        entry = next((ln.split(":") for ln in self.path("/etc/passwd").read_text().splitlines()
                      if ln.split(":")[0] == user), None)
        if entry is None or len(entry) < 7:
            raise InstallError(f"kickstart line {lineno}: sshkey for {user}: no such user")
        uid, gid, home = int(entry[2]), int(entry[3]), entry[5]
        ssh = self.path(home) / ".ssh"
        ssh.mkdir(parents=True, exist_ok=True)
        os.chmod(ssh, 0o700)
        keys = ssh / "authorized_keys"
        with keys.open("a", encoding="utf-8") as fh:
            fh.write(key.strip() + "\n")
        os.chmod(keys, 0o600)
        for p in (ssh, keys):
            os.chown(p, uid, gid)
        self.say(f"system: SSH key for {user}")

    def locale(self, handler: Any) -> None:
        if handler.lang.lang:
            self.write("/etc/locale.conf", f'LANG="{handler.lang.lang}"\n')
        kb = handler.keyboard
        keymap = kb.vc_keymap or kb._keyboard or (kb.x_layouts[0] if kb.x_layouts else "")
        if keymap:
            self.write("/etc/vconsole.conf", f'KEYMAP="{keymap}"\n')
        tz = handler.timezone
        if tz.timezone:
            link = self.path("/etc/localtime")
            link.parent.mkdir(parents=True, exist_ok=True)
            if link.is_symlink() or link.exists():
                link.unlink()
            os.symlink(f"../usr/share/zoneinfo/{tz.timezone}", link)
            self.write("/etc/adjtime", f"0.0 0 0.0\n0\n{'UTC' if tz.isUtc else 'LOCAL'}\n")
            self.say(f"system: time zone {tz.timezone}{' (UTC clock)' if tz.isUtc else ''}")

    def selinux(self, handler: Any) -> None:
        from pykickstart.constants import SELINUX_DISABLED, SELINUX_ENFORCING, SELINUX_PERMISSIVE

        mode = {SELINUX_DISABLED: "disabled", SELINUX_ENFORCING: "enforcing",
                SELINUX_PERMISSIVE: "permissive"}.get(handler.selinux.selinux)
        if mode:
            self.write("/etc/selinux/config", f"SELINUX={mode}\nSELINUXTYPE=targeted\n")

    def firewall(self, handler: Any) -> None:
        fw = handler.firewall
        if fw.enabled is None:
            return
        tool = "/usr/bin/firewall-offline-cmd"
        if not self.has(tool):
            self.say("system: firewall: firewalld is not installed, nothing done (as Anaconda)")
            return
        argv = [tool, "--enabled" if fw.enabled else "--disabled"]
        if fw.enabled:
            argv += [f"--service={s}" for s in fw.services]
            argv += [f"--port={p}" for p in fw.ports]
            argv += [f"--trust={t}" for t in fw.trusts]
        proc = self.chroot(*argv)
        if proc.returncode != 0:
            raise InstallError(f"firewall-offline-cmd failed: {proc.stderr.strip()}")
        self.say("system: firewall " + " ".join(argv[1:]))

    def services(self, handler: Any) -> None:
        sv = handler.services
        actions = [("disable", s) for s in sv.disabled] + [("enable", s) for s in sv.enabled]
        if handler.skipx.skipx:
            actions.append(("set-default", "multi-user.target"))
        if not actions:
            return
        if not self.has("/usr/bin/systemctl"):
            raise InstallError("services/skipx: the installed system has no systemctl")
        for verb, unit in actions:
            proc = self.chroot("systemctl", verb, unit)
            if proc.returncode != 0:
                raise InstallError(f"systemctl {verb} {unit} failed: {proc.stderr.strip()}")
        self.say("system: " + ", ".join(f"{v} {u}" for v, u in actions))
