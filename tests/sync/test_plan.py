"""Planning: what each generator says, and hosts with problems reported and left out whole."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from rocks.errors import RocksError
from rocks.model.inventory import BootState, Host, Interface
from rocks.sync import bootloaders, pxe
from rocks.sync.inputs import (
    BiosLoader,
    DesiredFile,
    DhcpFlavour,
    Discovery,
    SyncInput,
    UefiLoader,
)
from rocks.sync.plan import Plan, plan, plan_hosts
from rocks.sync.pxe import GRUB_LOCAL
from tests.sync.conftest import compute

Make = Callable[..., SyncInput]


def files(p: Plan) -> dict[str, DesiredFile]:
    return {f.path: f for f in p.files}


def text(p: Plan, path: str) -> str:
    return files(p)[path].content.decode()


def test_plan_is_deterministic(cluster: Make) -> None:
    assert plan(cluster()) == plan(cluster())


def test_file_set_and_services(cluster: Make) -> None:
    p = plan(cluster())
    assert p.problems == ()
    got = files(p)
    assert got["etc/dhcp/dhcpd.conf"].service == "dhcpd"
    assert got["var/named/rocks/local.zone"].service == "named"
    assert got["etc/named/rocks.conf"].service == "named"
    assert got["etc/hosts"].service is None
    per_host = sorted(f.path for f in p.files if f.owner == "compute-0-0")
    # one file per loader: PXELINUX's by address (Rocks' name), GRUB's by MAC (the name the
    # fall-back grub.cfg chains to)
    assert per_host == [
        "tftpboot/grub/grub.cfg-52:54:00:00:00:00", "tftpboot/pxelinux.cfg/0A01FFFE",
    ]
    # frontend and switch are not kickstartable: DHCP entries but no boot files
    assert not [f for f in p.files if f.owner in ("frontend", "network-0-0")]
    assert len([f for f in p.files if f.owner == "nas-0-0"]) == 2


def test_install_host_boot_files(cluster: Make) -> None:
    p = plan(cluster())
    assert text(p, "tftpboot/pxelinux.cfg/0A01FFFE") == (
        "# rocks: compute-0-0 install\nDEFAULT rocks\nPROMPT 0\nTIMEOUT 0\nLABEL rocks\n"
        "  KERNEL vmlinuz-9-x86_64\n"
        "  APPEND initrd=initrd.img-9-x86_64 "
        "inst.ks=http://10.1.1.1:8080/install/kickstart?token=tok-0-0 inst.ks.sendmac "
        "inst.repo=http://10.1.1.1:8080/install/distro ip=dhcp console=ttyS0,115200\n"
        "  IPAPPEND 2\n")
    assert text(p, "tftpboot/grub/grub.cfg-52:54:00:00:00:00") == (
        "# rocks: compute-0-0 install\nset default=0\nset timeout=0\n"
        "menuentry 'compute-0-0 install' {\n"
        "  linux /vmlinuz-9-x86_64 'inst.ks=http://10.1.1.1:8080/install/kickstart?token=tok-0-0'"
        " inst.ks.sendmac inst.repo=http://10.1.1.1:8080/install/distro ip=dhcp"
        " console=ttyS0,115200\n"
        "  initrd /initrd.img-9-x86_64\n}\n")


def test_os_host_boots_local_disk(cluster: Make) -> None:
    p = plan(cluster())
    assert text(p, "tftpboot/pxelinux.cfg/0A01FFFD").endswith(
        "LABEL rocks\n  LOCALBOOT 0\n")
    local = text(p, "tftpboot/grub/grub.cfg-52:54:00:00:00:01")
    assert local.endswith(GRUB_LOCAL) and GRUB_LOCAL.endswith("  exit\n}\n")
    assert "    chainloader /EFI/BOOT/BOOTX64.EFI\n    boot\n" in local


def test_by_default_only_installing_hosts_get_their_own_boot_files(cluster: Make) -> None:
    p = plan(cluster(local_boot_files=False))
    own = sorted(f.path for f in p.files if f.owner and not f.owner.startswith(":"))
    assert own == [
        "tftpboot/grub/grub.cfg-52:54:00:00:00:00", "tftpboot/pxelinux.cfg/0A01FFFE",
    ]  # compute-0-0 installs; every other host falls through to the default: the local disk
    assert text(p, "tftpboot/pxelinux.cfg/default").endswith("LABEL rocks\n  LOCALBOOT 0\n")
    assert text(p, "tftpboot/grub/grub.cfg").endswith(GRUB_LOCAL)
    assert text(p, "tftpboot/grub/grub.cfg").startswith(
        'if [ -n "$net_default_mac" ]; then\n  configfile "$prefix/grub.cfg-$net_default_mac"\n')
    # with discovery on, the default installs: hosts that boot their disk need their own files
    on = plan(cluster(local_boot_files=False,
                      discovery=Discovery("private", "10.1.200.1", "10.1.200.50")))
    assert "tftpboot/pxelinux.cfg/0A01FFFD" in {f.path for f in on.files}


def test_dhcpd_content(cluster: Make) -> None:
    conf = text(plan(cluster()), "etc/dhcp/dhcpd.conf")
    assert "option arch code 93 = unsigned integer 16;" in conf
    assert "option ipxe.no-pxedhcp 1;" in conf
    assert "subnet 192.0.2.0" not in conf  # only PXE networks are served
    assert "range" not in conf  # discovery is off
    # pxelinux flavour: BIOS gets pxelinux.0 even from an iPXE ROM; UEFI iPXE gets the script
    assert ("    if option arch = 00:07 or option arch = 00:09 {\n"
            '      if exists user-class and option user-class = "iPXE" {\n'
            '        filename "http://10.1.1.1:8080/boot/ipxe?mac=${netX/mac:hexhyp}";\n'
            "      } else {\n"
            '        filename "grub/grubx64.efi";\n'
            "      }\n"
            "    } elsif option arch = 00:00 {\n"
            '      filename "pxelinux.0";\n    }') in conf
    ipxe = text(plan(cluster(bios_loader=BiosLoader.IPXE)), "etc/dhcp/dhcpd.conf")
    assert ('if exists user-class and option user-class = "iPXE" {\n'
            '      filename "http://10.1.1.1:8080/boot/ipxe?mac=${netX/mac:hexhyp}";\n'
            "    } elsif option arch = 00:07 or option arch = 00:09 {\n") in ipxe
    assert ("    host compute-0-0-eth0 {\n      hardware ethernet 52:54:00:00:00:00;\n"
            '      fixed-address 10.1.255.254;\n      option host-name "compute-0-0";\n    }'
            ) in conf
    # non-kickstartable appliances sit outside the group that carries the boot file
    group_end = conf.index("\n  }\n  host frontend-eth0")
    assert conf.index("host network-0-0-eth0") > group_end
    assert conf.index("host nas-0-0-eth0") < group_end


@pytest.mark.parametrize(("bios", "uefi", "shim", "bios_file", "uefi_file"), [
    (BiosLoader.PXELINUX, UefiLoader.GRUB, False, "pxelinux.0", "grub/grubx64.efi"),
    (BiosLoader.PXELINUX, UefiLoader.GRUB, True, "pxelinux.0", "grub/shimx64.efi"),
    (BiosLoader.IPXE, UefiLoader.IPXE, False, "undionly.kpxe", "ipxe.efi"),
    (BiosLoader.IPXE, UefiLoader.SNPONLY, False, "undionly.kpxe", "snponly.efi"),
])
def test_loader_by_architecture(cluster: Make, bios: BiosLoader, uefi: UefiLoader, shim: bool,
                                bios_file: str, uefi_file: str) -> None:
    inp = cluster(bios_loader=bios, uefi_loader=uefi, uefi_shim=shim)
    conf = text(plan(inp), "etc/dhcp/dhcpd.conf")
    assert f'filename "{bios_file}";' in conf and f'filename "{uefi_file}";' in conf
    kea = json.loads(text(plan(dataclasses.replace(inp, dhcp=DhcpFlavour.KEA)),
                          "etc/kea/kea-dhcp4.conf"))
    classes = {c["name"]: c for c in kea["Dhcp4"]["client-classes"]}
    assert classes["rocks-bios"]["boot-file-name"] == bios_file
    assert classes["rocks-uefi-x64"]["boot-file-name"] == uefi_file
    assert "option[93].hex == 0x0007" in classes["rocks-uefi-x64"]["test"]
    assert classes["rocks-ipxe"]["boot-file-name"].endswith("/boot/ipxe?mac=${netX/mac:hexhyp}")


def test_names_the_loaders_try_first(cluster: Make) -> None:
    p = plan(cluster(pxe_mac_names=True))
    got = {f.path: f.content for f in p.files if f.owner == "compute-0-0"}
    assert sorted(got) == [
        "tftpboot/grub/grub.cfg-01-52-54-00-00-00-00", "tftpboot/grub/grub.cfg-0A01FFFE",
        "tftpboot/grub/grub.cfg-52:54:00:00:00:00",
        "tftpboot/pxelinux.cfg/01-52-54-00-00-00-00", "tftpboot/pxelinux.cfg/0A01FFFE"]
    # the same two texts under more names (the applier links them)
    assert len(set(got.values())) == 2


def test_ipxe_only_writes_no_tftp_configs(cluster: Make) -> None:
    p = plan(cluster(bios_loader=BiosLoader.IPXE, uefi_loader=UefiLoader.SNPONLY))
    assert [f.path for f in p.files if f.path.startswith("tftpboot")] == []


def test_discovery_range(cluster: Make) -> None:
    inp = cluster(discovery=Discovery("private", "10.1.100.1", "10.1.100.200"))
    p = plan(inp)
    conf = text(p, "etc/dhcp/dhcpd.conf")
    assert "  pool {\n    range 10.1.100.1 10.1.100.200;\n    next-server 10.1.1.1;" in conf
    assert "inst.ks=http://10.1.1.1:8080/install/kickstart ins" in text(
        p, "tftpboot/pxelinux.cfg/default")
    kea = json.loads(text(plan(dataclasses.replace(inp, dhcp=DhcpFlavour.KEA)),
                          "etc/kea/kea-dhcp4.conf"))
    assert kea["Dhcp4"]["subnet4"][0]["pools"] == [{"pool": "10.1.100.1 - 10.1.100.200"}]


def test_bad_discovery_range_is_reported_and_dropped(cluster: Make) -> None:
    p = plan(cluster(discovery=Discovery("private", "10.2.0.1", "10.2.0.9")))
    assert [d.code for d in p.problems] == ["sync.bad-discovery-range"]
    assert "range" not in text(p, "etc/dhcp/dhcpd.conf")


def test_hosts_file(cluster: Make) -> None:
    lines = text(plan(cluster()), "etc/hosts").splitlines()
    assert lines[1:4] == ["127.0.0.1\tlocalhost localhost.localdomain",
                          "::1\tlocalhost localhost.localdomain",
                          "10.1.1.1\tfrontend.local frontend"]
    assert "10.1.255.254\tcompute-0-0.local compute-0-0" in lines
    assert lines[-1] == "192.0.2.10\tfrontend.example.org frontend"


def test_zone_records(cluster: Make) -> None:
    p = plan(cluster())
    local = text(p, "var/named/rocks/local.zone")
    assert "@ IN SOA frontend.local. root.frontend.local. ( 2026011501 3600 900 604800 3600 )" \
        in local
    assert "\ncompute-0-0 IN A 10.1.255.254\n" in local
    rev = text(p, "var/named/rocks/1.10.in-addr.arpa.zone")
    assert "\n254.255 IN PTR compute-0-0.local.\n" in rev
    assert "\n1.1 IN PTR frontend.local.\n" in rev
    assert text(p, "etc/named/rocks.conf").splitlines()[2] == (
        'zone "local" { type master; file "/var/named/rocks/local.zone"; notify no; };')


def _with_host(inp: SyncInput, host: Host) -> SyncInput:
    return dataclasses.replace(inp, hosts=(*inp.hosts, host))


def _mentions(p: Plan, name: str) -> list[str]:
    return [f.path for f in p.files if name.encode() in f.content or f.owner == name]


def test_host_without_mac_on_pxe_network_is_left_out(cluster: Make) -> None:
    p = plan(_with_host(cluster(), compute(2, 0, mac="")))
    assert [(d.code, d.message) for d in p.problems] == [
        ("sync.no-mac", "host compute-2-0 interface eth0: no MAC on PXE network private")]
    assert _mentions(p, "compute-2-0") == []


def test_ip_outside_network_is_left_out(cluster: Make) -> None:
    p = plan(_with_host(cluster(), compute(2, 0, ip="10.2.0.5")))
    assert [(d.code, d.message) for d in p.problems] == [
        ("sync.ip-outside", "host compute-2-0 interface eth0: 10.2.0.5 is not a host address "
                            "of network private (10.1.0.0/16)")]
    assert _mentions(p, "compute-2-0") == []


def test_duplicate_ip_leaves_both_hosts_out(cluster: Make) -> None:
    p = plan(_with_host(cluster(), compute(2, 0, ip="10.1.255.253")))  # compute-0-1's
    assert [(d.code, d.message) for d in p.problems] == [
        ("sync.duplicate-ip", "10.1.255.253 is used by compute-0-1 eth0, compute-2-0 eth0")]
    assert _mentions(p, "compute-2-0") == []
    assert _mentions(p, "compute-0-1") == []
    assert _mentions(p, "compute-0-2") != []


def test_taking_the_frontends_address_blames_the_other_host(cluster: Make) -> None:
    p = plan(_with_host(cluster(), compute(2, 0, ip="10.1.1.1")))
    assert [d.code for d in p.problems] == ["sync.duplicate-ip"]
    assert "frontend" in p.problems[0].message
    assert _mentions(p, "compute-2-0") == []
    assert "host frontend-eth0" in text(p, "etc/dhcp/dhcpd.conf")


def test_duplicate_mac_and_unknown_network(cluster: Make) -> None:
    dup = compute(2, 0, mac="52:54:00:00:00:05")
    lost = Host("compute-2-1", "compute", interfaces=(
        Interface("compute-2-1", "eth0", "52:54:00:00:02:01", "10.9.0.1", "nowhere"),))
    p = plan(dataclasses.replace(cluster(), hosts=(*cluster().hosts, dup, lost)))
    assert sorted(d.code for d in p.problems) == ["sync.duplicate-mac", "sync.unknown-network"]
    for name in ("compute-2-0", "compute-0-5", "compute-2-1"):
        assert _mentions(p, name) == []


def test_install_host_without_token(cluster: Make) -> None:
    p = plan(cluster(tokens={}))
    assert [(d.code, d.message) for d in p.problems] == [
        ("sync.no-token", "host compute-0-0: in install but has no token")]
    assert [f.path for f in p.files if f.owner == "compute-0-0"] == []
    assert "compute-0-0" in text(p, "etc/hosts")  # only its boot files are held back


def test_plan_hosts_scope(cluster: Make) -> None:
    p = plan_hosts(cluster(), ["compute-0-3"])
    assert p.scope == frozenset({"compute-0-3"})
    assert {f.owner for f in p.files} == {"", "compute-0-3"}


def test_ipxe_scripts(cluster: Make) -> None:
    inp = cluster()
    node = next(h for h in inp.hosts if h.name == "compute-0-0")
    assert pxe.ipxe_script(inp, node) == (
        "#!ipxe\n# rocks: compute-0-0 install\n"
        "kernel http://10.1.1.1:8080/boot/files/vmlinuz-9-x86_64 initrd=initrd.img-9-x86_64 "
        "inst.ks=http://10.1.1.1:8080/install/kickstart?token=tok-0-0 inst.ks.sendmac "
        "inst.repo=http://10.1.1.1:8080/install/distro ip=dhcp console=ttyS0,115200\n"
        "initrd http://10.1.1.1:8080/boot/files/initrd.img-9-x86_64\nboot\n")
    assert pxe.ipxe_script_for_mac(inp, "52-54-00-00-00-01") == (
        "#!ipxe\n# rocks: os\nexit\n")
    assert pxe.ipxe_script_for_mac(inp, "52:54:00:99:99:99") == "#!ipxe\n# rocks: default\nexit\n"
    broken = dataclasses.replace(node, install_action="missing", boot=BootState.INSTALL)
    with pytest.raises(RocksError) as err:
        pxe.ipxe_script(inp, broken)
    assert err.value.first.code == "sync.unknown-bootaction"


def test_grub_word_quoting() -> None:
    assert pxe.grub_word("ip=dhcp") == "ip=dhcp"
    assert pxe.grub_word("ks=http://x/?a=1&b=2") == "'ks=http://x/?a=1&b=2'"
    assert pxe.grub_word("it's") == "'it'\\''s'"


def test_bootloaders_found_and_missing(cluster: Make, tmp_path: Path) -> None:
    (tmp_path / "usr/lib/PXELINUX").mkdir(parents=True)
    (tmp_path / "usr/lib/PXELINUX/pxelinux.0").write_bytes(b"PXE\0")
    (tmp_path / "boot/efi/EFI/rocky").mkdir(parents=True)
    (tmp_path / "boot/efi/EFI/rocky/grubx64.efi").write_bytes(b"MZgrub")
    found, problems = bootloaders.bootloader_files(cluster(), tmp_path)
    assert [(f.path, f.content, f.owner) for f in found] == [
        ("tftpboot/pxelinux.0", b"PXE\0", ":boot"),
        ("tftpboot/grub/grubx64.efi", b"MZgrub", ":boot")]
    assert [d.code for d in problems] == ["sync.bootloader-missing"]
    assert problems[0].message.startswith("boot loaders not installed: ldlinux.c32 (looked in ")
    assert problems[0].hint == (
        "apt-get install syslinux-common  (EL: dnf install syslinux-tftpboot)")
    with_loaders = plan(cluster(), sysroot=tmp_path)
    assert "tftpboot/pxelinux.0" in files(with_loaders)
