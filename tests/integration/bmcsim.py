"""Simulated BMCs for the power tests and the benchmark: OpenIPMI's ipmi_sim (a real IPMI 2.0
LAN BMC: RMCP+ logins, chassis control, boot flags, Serial-over-LAN) and sushy-tools' Redfish
emulator, each configured in a scratch directory and stopped by the caller.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CHASSIS = REPO / "tests" / "integration" / "chassis.py"
MC = "0x20"
MAX_ENDPOINTS = 11  # LAN channels 1-11; this ipmi_sim takes one address per channel


def ipmi_sim_missing() -> str | None:
    if shutil.which("ipmi_sim") is None:
        return "ipmi_sim is not installed: apt-get install openipmi (scripts/apt-packages.txt)"
    return None


def write_ipmi_sim(workdir: Path, name: str, endpoints: Sequence[tuple[str, int]], user: str,
                   password: str, *, vmdir: Path | None = None, vm_port: int | None = None,
                   sol: str | None = None, max_sessions: int = 10) -> list[str]:
    """Configuration for one ipmi_sim answering at every (address, port) of `endpoints` (one
    LAN channel each, channels 1-11); returns its command line.

    vmdir: chassis control by tests/integration/chassis.py (power and boot flags of the VM
    whose command line is vmdir/qemu.json); vm_port: where qemu's ipmi-bmc-extern device
    connects (codec VM); sol: the serial device SOL bridges to (`telnet:127.0.0.1:PORT`).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    lines = [f'name "{name}"', f"set_working_mc {MC}"]
    if not 0 < len(endpoints) <= MAX_ENDPOINTS:
        raise ValueError(f"ipmi_sim takes 1 to {MAX_ENDPOINTS} endpoints (a LAN channel each)")
    for channel, (address, port) in enumerate(endpoints, start=1):
        lines += [f"startlan {channel}", f"  addr {address} {port}"]
        lines += ["  priv_limit admin",
                  "  allowed_auths_callback md5", "  allowed_auths_user md5",
                  "  allowed_auths_operator md5", "  allowed_auths_admin md5",
                  f"  guid {(name.encode().hex() + '0' * 32)[:32]}",
                  "endlan"]
    # sessions the user may hold at once, over all of this simulator's endpoints
    lines.append(f'user 2 true "{user}" "{password}" admin {max_sessions} md5')
    if vmdir is not None:
        lines.append(f'chassis_control "{sys.executable} {CHASSIS} {vmdir} {MC}"')
    if vm_port is not None:
        lines.append(f"serial 15 127.0.0.1 {vm_port} codec VM")
    if sol is not None:
        lines.append(f'sol "{sol}" 115200')
    (workdir / "lan.conf").write_text("\n".join(lines) + "\n")
    (workdir / "cmd.conf").write_text(
        f"mc_setbmc {MC}\n"
        f"mc_add {MC} 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr\n"
        f"sel_enable {MC} 1000 0x0a\n"
        f"mc_enable {MC}\n")
    state = workdir / "state"
    state.mkdir(exist_ok=True)
    return ["ipmi_sim", "-n", "-c", str(workdir / "lan.conf"), "-f", str(workdir / "cmd.conf"),
            "-s", str(state)]


def write_redfish(workdir: Path, users: dict[str, str], systems: Sequence[dict[str, object]]
                  ) -> Path:
    """sushy-emulator's configuration (fake driver, basic auth from `users`)."""
    import bcrypt

    workdir.mkdir(parents=True, exist_ok=True)
    htpasswd = workdir / "htpasswd"
    htpasswd.write_text("".join(
        f"{u}:{bcrypt.hashpw(p.encode(), bcrypt.gensalt(rounds=4)).decode()}\n"
        for u, p in users.items()))
    config = workdir / "emulator.conf"
    config.write_text(
        f"SUSHY_EMULATOR_AUTH_FILE = {str(htpasswd)!r}\n"
        f"SUSHY_EMULATOR_STATE_DIR = {str(workdir / 'state')!r}\n"
        "SUSHY_EMULATOR_FAKE_DRIVER = True\n"
        f"SUSHY_EMULATOR_FAKE_SYSTEMS = {list(systems)!r}\n")
    return config
