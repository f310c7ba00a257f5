"""The power supply and boot-flag store of a simulated machine, as OpenIPMI's ipmi_sim calls it
(its `chassis_control` program): `chassis.py VMDIR DEVICE get power|boot …` prints `parm:value`
lines; `chassis.py VMDIR DEVICE set power 1|0 reset 1 boot pxe|default|… shutdown 1` acts.

VMDIR/qemu.json holds the VM's qemu command line. Power on starts it (its own session, output
to VMDIR/qemu.log, pid in VMDIR/qemu.pid) with `-boot n` when the boot flag says pxe (the flag
is then spent: it applies to the next boot only) and `-boot c` otherwise; power off ends it;
reset does both, so a new boot flag applies as firmware would honour it. Stdlib only: ipmi_sim
runs this with the system python for every IPMI chassis request.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def _pid(vmdir: Path) -> int | None:
    try:
        pid = int((vmdir / "qemu.pid").read_text())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except OSError:
        return None
    # a zombie (exited, not yet reaped by anyone) is off
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None
    return None if state == "Z" else pid


def _boot_flag(vmdir: Path) -> str:
    try:
        return (vmdir / "boot").read_text().strip() or "default"
    except OSError:
        return "default"


def _log(vmdir: Path, text: str) -> None:
    with (vmdir / "chassis.log").open("a") as fh:
        fh.write(f"{time.strftime('%H:%M:%S')} {text}\n")


def power_on(vmdir: Path) -> None:
    if _pid(vmdir) is not None:
        return
    argv = json.loads((vmdir / "qemu.json").read_text())
    flag = _boot_flag(vmdir)
    order = "n" if flag == "pxe" else "c"
    i = argv.index("-boot")
    argv[i + 1] = order
    (vmdir / "boot").write_text("default")  # a boot flag is for the next boot only
    with (vmdir / "qemu.log").open("ab") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                start_new_session=True, close_fds=True)
    (vmdir / "qemu.pid").write_text(str(proc.pid))
    _log(vmdir, f"power on: qemu pid {proc.pid}, -boot {order} (flag {flag})")


def power_off(vmdir: Path) -> None:
    pid = _pid(vmdir)
    if pid is None:
        return
    os.kill(pid, signal.SIGTERM)
    for _ in range(50):
        if _pid(vmdir) is None:
            break
        time.sleep(0.1)
    else:
        os.kill(pid, signal.SIGKILL)
    _log(vmdir, f"power off: qemu pid {pid} ended")


def main(argv: list[str]) -> int:
    vmdir, _device, op, *parms = argv
    where = Path(vmdir)
    if op == "get":
        for parm in parms:
            if parm == "power":
                print(f"power:{1 if _pid(where) is not None else 0}")
            elif parm == "boot":
                print(f"boot:{_boot_flag(where)}")
            else:
                print(f"Invalid parameter: {parm}")
                return 1
        return 0
    if op != "set":
        print(f"Unknown operation: {op}")
        return 1
    for parm, value in zip(parms[::2], parms[1::2], strict=False):
        _log(where, f"set {parm} {value}")
        if parm == "power":
            (power_on if value == "1" else power_off)(where)
        elif parm == "shutdown" and value == "1":
            power_off(where)
        elif parm == "reset" and value == "1":
            power_off(where)
            power_on(where)
        elif parm == "boot":
            (where / "boot").write_text(value)
        elif parm != "identify":
            print(f"Invalid parameter: {parm}")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
