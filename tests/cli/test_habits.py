"""The habits of a Unix command, through the real CLI: --help and -h at every level (never
taken for a host name, never opening the inventory), the rocks(8) page generated from the
registry and rendered by groff, rocks on PATH after setup, /etc/rocks/rocks.toml under the
environment, and the README's `report host dhcpd compute-0-0`.
"""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rocks.cli.context import run_cli
from rocks.cli.registry import COMMANDS

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def need(binary: str, package: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.fail(f"{binary} is not installed: apt-get install {package} "
                    "(scripts/apt-packages.txt)")
    return path


def _prefixes() -> list[tuple[str, ...]]:
    partial = {name[:i] for name in COMMANDS for i in range(1, len(name))} - set(COMMANDS)
    return sorted(partial)


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_every_command_and_partial_command_answers_help(tmp_path: Path, flag: str) -> None:
    state = tmp_path / "state"
    # no services at all: a command that tried to open the inventory would fail
    env = {"ROCKS_STATE": str(state), "ROCKS_SYNC_ROOT": str(tmp_path / "root")}
    for name in sorted(COMMANDS):
        spelled = " ".join(name)
        for argv in ([*name, flag], [*name, "compute-0-0", flag], [*name, flag, "x=1"]):
            r = run_cli(argv, env=env, services={})
            assert (r.code, r.stderr) == (0, ""), (argv, r.stderr)
            assert r.stdout.startswith(f"rocks {spelled} - {COMMANDS[name].summary}\n\nusage: "
                                       f"rocks {spelled}"), (argv, r.stdout[:200])
    for prefix in _prefixes():
        r = run_cli([*prefix, flag], env=env, services={})
        assert (r.code, r.stderr) == (0, ""), (prefix, r.stderr)
        assert r.stdout.startswith(f"usage: rocks {' '.join(prefix)} <command>"), prefix
    assert not state.exists() and not (tmp_path / "root").exists()


def test_help_flag_is_never_a_host_name(tmp_path: Path) -> None:
    """The issue's three: as whole processes, on a real state directory."""
    env = {**os.environ, "ROCKS_STATE": str(tmp_path / "state"), "ROCKS_CONFIG": ""}
    env.pop("ROCKS_DATABASE_URL", None)
    rocks = str(VENV_BIN / "rocks")
    for argv, first in ((["list", "host", "--help"], "rocks list host - "),
                        (["sync", "config", "-h"], "rocks sync config - "),
                        (["add", "host", "--help"], "rocks add host - "),
                        (["add", "host", "compute-0-0", "-h"], "rocks add host - ")):
        done = subprocess.run([rocks, *argv], env=env, capture_output=True, text=True,
                              timeout=120)
        assert (done.returncode, done.stderr) == (0, ""), argv
        assert done.stdout.startswith(first)
    assert not (tmp_path / "state").exists()  # help never opened (or created) the inventory


def test_other_options_after_the_command_are_usage_errors(tmp_path: Path) -> None:
    env = {"ROCKS_STATE": str(tmp_path / "state")}
    r = run_cli(["list", "host", "--verbose"], env=env, services={})
    assert (r.code, r.stdout) == (2, "")
    assert r.stderr == ('error: unknown option "--verbose"\n  hint: parameters are key=value; '
                        "global options (--debug, --version, --help) go before the command\n")
    # a value that merely starts with dashes is still a value
    assert run_cli(["add", "host", "compute-0-0"], env=env).code == 0
    r = run_cli(["set", "host", "comment", "compute-0-0", "-- noisy fan"], env=env)
    assert (r.code, r.stderr) == (0, "")
    r = run_cli(["list", "host", "output-format=csv"], env=env)
    assert r.stdout.splitlines()[1].endswith(",-- noisy fan")


def test_manpage_has_every_command_and_groff_renders_it_cleanly(tmp_path: Path) -> None:
    r = run_cli(["report", "manpage"], services={})
    assert (r.code, r.stderr) == (0, "")
    page = r.stdout
    assert page.startswith('.TH ROCKS 8 "" "rocks ')
    for name in COMMANDS:
        spelled = " ".join(name).replace("-", "\\-")
        assert f'.SS "rocks {spelled}"\n' in page, name
    assert run_cli(["report", "manpage"], services={}).stdout == page  # deterministic
    groff = need("groff", "groff-base")
    src = tmp_path / "rocks.8"
    src.write_text(page)
    done = subprocess.run([groff, "-man", "-Tutf8", "-ww", "-z", str(src)], capture_output=True,
                          text=True, timeout=120)
    assert (done.returncode, done.stderr) == (0, "")
    wide = subprocess.run([groff, "-man", "-Tascii", "-P-cbou", "-rLL=1000n", str(src)],
                          capture_output=True, text=True, timeout=120).stdout
    text = " ".join(wide.split())
    assert "rocks set host boot" in text and "ENVIRONMENT" in text and "rocks.toml" in text
    # the help text of a command is in its section, parameters and examples included
    assert "install even if the packages check" in text
    assert "rocks report host dhcpd compute-0-0" in text


def test_setup_puts_rocks_on_path_and_installs_the_page(tmp_path: Path) -> None:
    prefix = tmp_path / "usr-local"
    venv = VENV_BIN.parent
    env = {**os.environ, "ROCKS_PREFIX": str(prefix)}
    done = subprocess.run(["bash", str(REPO / "scripts/install-links.sh"), str(venv)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    link = prefix / "bin" / "rocks"
    assert link.is_symlink() and os.readlink(link) == str(venv / "bin" / "rocks")
    page = prefix / "share/man/man8/rocks.8"
    assert page.read_text().startswith(".TH ROCKS 8")
    # found by name, as a user types it
    on_path = subprocess.run(["rocks", "--version"], capture_output=True, text=True, timeout=60,
                             env={**env, "PATH": f"{prefix / 'bin'}:/usr/bin:/bin"})
    assert on_path.stdout.startswith("rocks ")
    man = shutil.which("man")
    if man is not None:  # man-db is optional; groff renders the page in the test above
        where = subprocess.run([man, "-w", "8", "rocks"], capture_output=True, text=True,
                               env={**env, "MANPATH": str(prefix / "share/man")}, timeout=60)
        assert where.stdout.strip() == str(page)
    # a real file in the way is never replaced
    link.unlink()
    link.write_text("#!/bin/sh\necho mine\n")
    done = subprocess.run(["bash", str(REPO / "scripts/install-links.sh"), str(venv)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "is not a symlink; left alone" in done.stderr
    assert link.read_text() == "#!/bin/sh\necho mine\n"


# ------------------------------------------------------------------------------ rocks.toml


def test_config_file_under_the_environment(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    conf = tmp_path / "rocks.toml"
    conf.write_text(f'# the site\nstate = "{a}"\nsync_root = "{tmp_path / "root-a"}"\n')
    net = ["add", "network", "private", "subnet=10.1.0.0", "netmask=255.255.0.0", "pxe=yes"]
    r = run_cli(net, env={"ROCKS_CONFIG": str(conf)})
    assert (r.code, r.stderr) == (0, "")
    assert (a / "rocks.db").is_file() and not b.exists()
    # the environment wins over the file
    r = run_cli(net, env={"ROCKS_CONFIG": str(conf), "ROCKS_STATE": str(b)})
    assert r.code == 0 and (b / "rocks.db").is_file()
    # the file's state is the one used: the network is there, not in b's
    listed = run_cli(["list", "network", "output-format=csv"], env={"ROCKS_CONFIG": str(conf)})
    assert listed.stdout.splitlines()[1].startswith("private,10.1.0.0,")
    r = run_cli(["sync", "config", "loaders=no"], env={"ROCKS_CONFIG": str(conf)})
    assert r.code == 0 and (tmp_path / "root-a/etc/hosts").is_file()
    # a state directory from the environment is another site: not the file's sync root
    # (nor its database)
    (tmp_path / "root-a/etc/hosts").unlink()
    r = run_cli(["sync", "config", "loaders=no"],
                env={"ROCKS_CONFIG": str(conf), "ROCKS_STATE": str(b)})
    assert r.code == 0 and (b / "root/etc/hosts").is_file()
    assert not (tmp_path / "root-a/etc/hosts").exists()
    conf.write_text(f'state = "{a}"\ndatabase_url = "postgresql://nobody@127.0.0.1:1/prod"\n')
    assert run_cli(["list", "host"], env={"ROCKS_CONFIG": str(conf),
                                          "ROCKS_STATE": str(b)}).code == 0
    r = run_cli(["list", "host"], env={"ROCKS_CONFIG": str(conf)})
    assert r.code == 2 and "cannot open the inventory at postgresql" in r.stderr
    # no file named (ROCKS_CONFIG="") reads none
    r = run_cli(["list", "network"], env={"ROCKS_CONFIG": "", "ROCKS_STATE": str(b)})
    assert r.code == 0


def test_bad_config_file_is_named_with_its_lines(tmp_path: Path) -> None:
    conf = tmp_path / "rocks.toml"
    conf.write_text('state = "relative/dir"\nlisten = "10.1.1.1:99999"\ncolour = "blue"\n')
    r = run_cli(["list", "host"], env={"ROCKS_CONFIG": str(conf)})
    assert (r.code, r.stdout) == (2, "")
    assert r.stderr == (
        f"{conf}:1: error: state must be an absolute path, not 'relative/dir' "
        "[config-invalid]\n"
        f"{conf}:2: error: listen: '10.1.1.1:99999': port '99999' is not 1-65535 "
        "[config-invalid]\n"
        '  hint: listen = "10.1.1.1:8080"\n'
        f"{conf}:3: error: unknown setting 'colour' [config-unknown-key]\n"
        "  hint: settings: database_url, listen, state, sync_root\n")
    conf.write_text("state = \n")
    r = run_cli(["list", "host"], env={"ROCKS_CONFIG": str(conf)})
    assert r.code == 2 and r.stderr.startswith(f"{conf}:1: error: not valid TOML")
    r = run_cli(["list", "host"], env={"ROCKS_CONFIG": str(tmp_path / "none.toml")})
    assert r.stderr == (f"{tmp_path / 'none.toml'}: error: no such configuration file "
                        "[config-missing]\n  hint: create it, or unset ROCKS_CONFIG\n")
    # help still works with a broken file: it reads no settings
    assert run_cli(["list", "host", "--help"], env={"ROCKS_CONFIG": str(conf)}).code == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_start_frontend_listens_where_the_config_file_says(tmp_path: Path) -> None:
    port = _free_port()
    conf = tmp_path / "rocks.toml"
    conf.write_text(f'state = "{tmp_path / "state"}"\nlisten = "127.0.0.1:{port}"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROCKS_")}
    env["ROCKS_CONFIG"] = str(conf)
    proc = subprocess.Popen([str(VENV_BIN / "rocks"), "start", "frontend"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/install/kickstart")
                status = conn.getresponse().status  # any answer: it listens there
                conn.close()
                assert 200 <= status < 600
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                if time.monotonic() >= deadline:  # a timeout, not a timing
                    pytest.fail("the frontend did not answer")
                time.sleep(0.3)
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    assert (tmp_path / "state" / "rocks.db").is_file()


# ------------------------------------------------------------------------------ reports


def test_report_host_dhcpd_takes_hosts_as_the_readme_writes_it(tmp_path: Path) -> None:
    env = {"ROCKS_STATE": str(tmp_path / "state")}

    def ok(*argv: str) -> str:
        r = run_cli(list(argv), env=env)
        assert r.code == 0, r.stderr
        return r.stdout

    ok("add", "network", "private", "subnet=10.1.0.0", "netmask=255.255.0.0", "pxe=yes")
    for i in range(2):
        ok("add", "host", f"compute-0-{i}")
        ok("add", "host", "interface", f"compute-0-{i}", "eth0", f"ip=10.1.255.{254 - i}",
           f"mac=52:54:00:00:00:0{i}")
    everything = ok("report", "host", "dhcpd")
    assert "compute-0-0-eth0" in everything and "compute-0-1-eth0" in everything
    one = ok("report", "host", "dhcpd", "compute-0-0")
    assert "host compute-0-0-eth0 {" in one and "compute-0-1" not in one
    assert "subnet 10.1.0.0 netmask 255.255.0.0 {" in one
    hosts = ok("report", "host", "hosts", "compute-0-1")
    assert "10.1.255.253\tcompute-0-1.local compute-0-1" in hosts and "compute-0-0" not in hosts
    r = run_cli(["report", "host", "dhcpd", "compute-9-9"], env=env)
    assert r.code == 2 and 'unknown host "compute-9-9"' in r.stderr
