"""Appliance and boot action commands through the real CLI, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rocks.cli.context import CliResult
from tests.cli.inventory_fixtures import Rocks, rocks_env

__all__ = ["rocks_env"]

SEEDED = ("APPLIANCE  NODE     KICKSTARTABLE  PUBLIC  IN_GRAPH\n"
          "compute    compute  yes            yes     yes\n"
          "frontend   server   yes            yes     yes\n"
          "login      login    yes            yes     yes\n"
          "nas        nas      yes            yes     yes\n")
BOOTACTIONS = ("ACTION   KERNEL     INITRD      ARGS\n"
               "install  vmlinuz    initrd.img  inst.ks.sendsn\n"
               "os       localboot  -           -\n")


def ok(r: CliResult, stdout: str = "") -> None:
    assert (r.code, r.stderr, r.stdout) == (0, "", stdout)


def fails(r: CliResult, message: str, code: str, hint: str = "") -> None:
    assert (r.code, r.stdout) == (2, "")
    assert r.stderr == f"error: {message} [{code}]\n" + (f"  hint: {hint}\n" if hint else "")


# ---------------------------------------------------------------- appliances


def test_list_appliance_shows_the_seeded_graph_appliances(rocks_env: Rocks) -> None:
    ok(rocks_env("list", "appliance"), SEEDED)
    r = rocks_env("list", "appliance", "frontend", "output-format=json")
    assert (r.code, r.stderr) == (0, "")
    assert json.loads(r.stdout) == [{"appliance": "frontend", "node": "server",
                                     "kickstartable": True, "public": True, "in_graph": True}]
    fails(rocks_env("list", "appliance", "frontnd"), 'unknown appliance "frontnd"',
          "unknown-appliance", 'did you mean "frontend"?')


def test_add_list_remove_appliance(rocks_env: Rocks) -> None:
    ok(rocks_env("add", "appliance", "my-compute", "node=compute", "public=no"))
    ok(rocks_env("add", "appliance", "login2", "node=login", "kickstartable=no"))
    ok(rocks_env("list", "appliance", "my-compute", "login2", "output-format=csv"),
       "appliance,node,kickstartable,public,in_graph\n"
       "login2,login,no,yes,yes\n"
       "my-compute,compute,yes,no,yes\n")
    ok(rocks_env("add", "host", "my-compute-0-0"))  # the name gives the new appliance
    ok(rocks_env("list", "host", "my-compute", "output-format=csv"),
       "host,appliance,rack,rank,os,boot,installaction,runaction,comment\n"
       "my-compute-0-0,my-compute,0,0,linux,os,install,os,\n")
    fails(rocks_env("remove", "appliance", "login2", "my-compute"),
          "appliance 'my-compute' still has 1 host(s)", "appliance-in-use",
          "remove those hosts or change their appliance first")
    ok(rocks_env("list", "appliance", "login2", "my-compute", "output-format=csv"),
       "appliance,node,kickstartable,public,in_graph\n"
       "login2,login,no,yes,yes\n"
       "my-compute,compute,yes,no,yes\n")
    ok(rocks_env("remove", "host", "my-compute-0-0", "sync=no"),
       "1 host removed (not synced: DHCP, DNS, /etc/hosts and boot files still name them until "
       "`rocks sync config`)\n")
    ok(rocks_env("remove", "appliance", "login2", "my-compute"))
    ok(rocks_env("list", "appliance"), SEEDED)


@pytest.mark.parametrize(("argv", "message", "code", "hint"), [
    (("my-compute",), 'appliance my-compute: node "my-compute" is not in the graph',
     "unknown-node", "did you mean node=compute? Otherwise write the node file "
     "{site}/nodes/my-compute.xml (the site graph) first"),
    (("gpu", "node=gpu-root"), 'appliance gpu: node "gpu-root" is not in the graph',
     "unknown-node", "write the node file {site}/nodes/gpu-root.xml (the site graph) first"),
    (("compute", "node=compute"), "appliance 'compute' already exists", "duplicate-appliance",
     ""),
    (("a.b", "node=compute"), "appliance name 'a.b' is not valid", "bad-appliance-name",
     "use letters, digits, '-' and '_', starting with a letter or digit (no dots)"),
])
def test_add_appliance_errors(rocks_env: Rocks, argv: tuple[str, ...], message: str, code: str,
                              hint: str, tmp_path: Path) -> None:
    hint = hint.replace("{site}", str(tmp_path / "state" / "site"))
    fails(rocks_env("add", "appliance", *argv), message, code, hint)
    ok(rocks_env("list", "appliance"), SEEDED)


def test_appliance_name_may_not_be_a_host_name(rocks_env: Rocks) -> None:
    ok(rocks_env("add", "host", "box", "appliance=nas"))
    fails(rocks_env("add", "appliance", "box", "node=nas"),
          "appliance name 'box' is already a host name", "bad-appliance-name",
          "host arguments would become ambiguous; choose another name")


def test_remove_unknown_appliance(rocks_env: Rocks) -> None:
    fails(rocks_env("remove", "appliance", "nas", "logn"), 'unknown appliance "logn"',
          "unknown-appliance", 'did you mean "login"?')
    ok(rocks_env("list", "appliance"), SEEDED)


# ---------------------------------------------------------------- boot actions


def test_add_list_remove_bootaction(rocks_env: Rocks) -> None:
    ok(rocks_env("list", "bootaction"), BOOTACTIONS)
    ok(rocks_env("add", "bootaction", "rescue", "kernel=vmlinuz", "initrd=initrd.img",
                 "args=inst.rescue ip=dhcp"))
    ok(rocks_env("list", "bootaction", "rescue", "output-format=json"),
       '[\n  {\n    "action": "rescue",\n    "kernel": "vmlinuz",\n    "initrd": "initrd.img",\n'
       '    "args": "inst.rescue ip=dhcp"\n  }\n]\n')
    ok(rocks_env("add", "host", "compute-0-0", "installaction=rescue"))
    fails(rocks_env("remove", "bootaction", "rescue"),
          'boot action "rescue" is used by 1 host(s)', "bootaction-in-use",
          "set those hosts' installaction/runaction to another action first")
    ok(rocks_env("set", "host", "installaction", "compute-0-0", "install"))
    ok(rocks_env("remove", "bootaction", "rescue"))
    ok(rocks_env("list", "bootaction"), BOOTACTIONS)


def test_bootaction_errors(rocks_env: Rocks) -> None:
    fails(rocks_env("add", "bootaction", "install", "kernel=x"),
          "boot action 'install' already exists", "duplicate-bootaction",
          "remove it first, or replace it")
    fails(rocks_env("remove", "bootaction", "os", "rescu"), 'unknown boot action "rescu"',
          "unknown-bootaction", "see `rocks list bootaction`")
    fails(rocks_env("list", "bootaction", "instal"), 'unknown boot action "instal"',
          "unknown-bootaction", 'did you mean "install"?')
    ok(rocks_env("list", "bootaction"), BOOTACTIONS)
