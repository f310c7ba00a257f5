"""Attribute value types: the one table that validation, generators and help all read.

A roll declares the type of each attribute it reads (`<attribute name= type=>` in roll.xml); an
attribute nobody declares is a `string`. Every write path (`rocks set … attr`, `load attrfile`,
`load hostfile attr:` columns) checks values against their type, and every generator refuses
on its own side what could change the structure of its output, whatever got into the database.

Also here: what counts as a line break. Python's `str.splitlines()` (and so pykickstart, which
reads a kickstart with it) ends a line at any of LINE_BREAKS, not only at "\\n"; a value holding
any of them is a multi-line value everywhere.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass

# Every character str.splitlines() ends a line at.
LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
# Control characters: C0 but tab, DEL, C1, and the Unicode line/paragraph separators.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_BUT_NEWLINE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def line_break_in(text: str) -> str | None:
    """The first line-break character in `text` (see LINE_BREAKS), or None."""
    for ch in text:
        if ch in LINE_BREAKS:
            return ch
    return None


def control_in(text: str, *, newline_ok: bool = False) -> str | None:
    """The first control character in `text` (tab is not one), or None."""
    m = (_CONTROL_BUT_NEWLINE if newline_ok else _CONTROL).search(text)
    return m.group() if m else None


def describe_char(ch: str) -> str:
    """A control character as a reader can see it: U+000B, '\\n'."""
    named = {"\n": "a line feed (\\n)", "\r": "a carriage return (\\r)", "\t": "a tab"}
    return named.get(ch, f"U+{ord(ch):04X}" if not ch.isprintable() else repr(ch))


# -- checks: each returns None when the value fits, else why it does not ----------------------

_WORD = re.compile(r"[A-Za-z0-9_.+@:,=/][A-Za-z0-9_.+@:,=/-]*")
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*")
_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_MAC = re.compile(r"[0-9A-Fa-f]{2}([:-][0-9A-Fa-f]{2}){5}")
_INT = re.compile(r"[+-]?[0-9]{1,18}")
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")
_PATH = re.compile(r"/[A-Za-z0-9_.+@%:,=/-]*")
_URL = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*)://(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)"
                  r"(?::[0-9]{1,5})?(?P<rest>[/?#][A-Za-z0-9._~:/?#@%+,=!*-]*)?")
_CRYPT = re.compile(r"\$[a-z0-9]{1,8}\$([a-z]+=[0-9]+\$)?[./A-Za-z0-9$]{1,200}")
_SSH_TYPES = frozenset({
    "ssh-rsa", "ssh-dss", "ssh-ed25519", "ssh-ed448", "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
})
BOOL_WORDS = frozenset({"yes", "no", "true", "false", "on", "off", "y", "n", "1", "0"})


def _string(value: str) -> str | None:
    ch = control_in(value)
    return f"it holds {describe_char(ch)}; a string is one line" if ch else None


def _text(value: str) -> str | None:
    ch = control_in(value, newline_ok=True)
    return f"it holds {describe_char(ch)}" if ch else None


def _regex(rx: re.Pattern[str], what: str) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        return None if rx.fullmatch(value) else what
    return check


def _hostname(value: str) -> str | None:
    name = value[:-1] if value.endswith(".") else value
    if _IPV4.fullmatch(name):
        return None
    if not name or len(name) > 253 or not all(_LABEL.fullmatch(p) for p in name.split(".")):
        return "a DNS name is dot-separated labels of letters, digits and '-'"
    return None


def _domain(value: str) -> str | None:
    if value.endswith(".") or _IPV4.fullmatch(value) or _hostname(value):
        return "a DNS domain is dot-separated labels of letters, digits and '-', e.g. local"
    return None


def _netmask(value: str) -> str | None:
    if not _IPV4.fullmatch(value):
        return "a netmask is a dotted quad such as 255.255.0.0"
    bits = int(ipaddress.IPv4Address(value))
    inverted = ~bits & 0xFFFFFFFF
    return None if inverted & (inverted + 1) == 0 else "the mask's one bits are not contiguous"


def _cidr(value: str) -> str | None:
    addr, sep, prefix = value.partition("/")
    if not sep or not _IPV4.fullmatch(addr) or not prefix.isdigit() or int(prefix) > 32:
        return "write an IPv4 network as address/prefix, e.g. 10.1.0.0/16"
    try:
        ipaddress.IPv4Network(value, strict=True)
    except ValueError:
        return "the address has bits set outside the prefix"
    return None


def _list(item: Callable[[str], str | None], what: str, sep: str
          ) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        parts = value.split(sep) if sep != " " else value.split(" ")
        for part in parts:
            if not part or item(part) is not None:
                return what
        return None
    return check


def _path(value: str) -> str | None:
    if not _PATH.fullmatch(value):
        return ("an absolute path: '/' then letters, digits and _ . + @ % : , = / - "
                "(no spaces)")
    if ".." in value.split("/"):
        return "a path may not contain '..'"
    return None


def _url(value: str) -> str | None:
    m = _URL.fullmatch(value)
    if not m:
        return ("a URL such as http://10.1.1.1:8080/path: scheme://host[:port][/path], "
                "no spaces, quotes, ';', '&', '$' or '\\'")
    return None


def _ssh_pubkey(value: str) -> str | None:
    ch = control_in(value)
    if ch:
        return f"it holds {describe_char(ch)}; a public key is one line"
    parts = value.split()
    if len(parts) < 2 or parts[0] not in _SSH_TYPES:
        return "one public key line: TYPE BASE64 [comment], e.g. ssh-ed25519 AAAA… root@fe"
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        return "the key's second field is not base64"
    n = int.from_bytes(blob[:4], "big")
    if len(blob) < 4 + n or blob[4:4 + n].decode("latin-1") != parts[0]:
        return f"the key data does not hold a {parts[0]} key"
    return None


_BOOT_WORD = re.compile(r"[A-Za-z0-9_.+@%:,=/?~-]+")


def _boot_file(value: str) -> str | None:
    if not _BOOT_WORD.fullmatch(value) or "?" in value:
        return ("a file name or URL of letters, digits and _ . + @ % : , = / ~ - "
                "(no spaces, quotes or ';')")
    if ".." in value.split("/"):
        return "a boot file may not contain '..'"
    return None


def _kernel_args(value: str) -> str | None:
    for word in value.split(" "):
        if word and not _BOOT_WORD.fullmatch(word.replace('"', "")):
            bad = next(c for c in word if c != '"' and not _BOOT_WORD.fullmatch(c))
            return (f"{describe_char(bad)} in a kernel argument: words of letters, digits and "
                    "_ . + @ % : , = / ? ~ - (and \" to quote a value with spaces) separated "
                    "by spaces; boot loader scripts would take anything else as their syntax")
    if value.count('"') % 2:
        return 'an unbalanced " in the kernel arguments'
    return None


def _crypt(value: str) -> str | None:
    if not _CRYPT.fullmatch(value):
        return ("a crypt(3) hash such as `openssl passwd -6` prints: $6$salt$hash "
                "(letters, digits, '.', '/' and '$' only)")
    return None


@dataclass(frozen=True, slots=True)
class AttrType:
    name: str
    summary: str  # one line for help
    check: Callable[[str], str | None]
    example: str = ""


_ALL: tuple[AttrType, ...] = (
    AttrType("string", "one line of text without control characters (the default)", _string,
             "My Cluster"),
    AttrType("text", "lines of text (\\n between lines, no other control characters)", _text),
    AttrType("word", "one word: letters, digits and _ . + @ : , = / - (not starting with -)",
             _regex(_WORD, "one word of letters, digits and _ . + @ : , = / - (no spaces or "
                    "quotes, not starting with -)"),
        "Europe/Paris"),
    AttrType("name", "a name: letters, digits, _ . + - (not starting with . + -)", _regex(
        _NAME, "a name of letters, digits and _ . + - (not starting with . + or -)"), "sda"),
    AttrType("list-of-names", "comma-separated names, e.g. alice,bob",
             _list(_regex(_NAME, ""), "comma-separated names (letters, digits, _ . + -), "
                   "no spaces, e.g. alice,bob", ","), "alice,bob"),
    AttrType("hostname", "a DNS name or an IPv4 address", _hostname, "frontend.local"),
    AttrType("domain", "a DNS domain (zone) name", _domain, "cluster.local"),
    AttrType("ipv4", "an IPv4 address", _regex(_IPV4, "a dotted-quad IPv4 address such as "
                                              "10.1.1.1"), "10.1.1.1"),
    AttrType("ipv4-list", "comma-separated IPv4 addresses, no spaces",
             _list(_regex(_IPV4, ""), "comma-separated IPv4 addresses without spaces, e.g. "
                   "10.1.1.1,8.8.8.8", ","), "10.1.1.1,10.1.1.2"),
    AttrType("netmask", "a dotted-quad netmask", _netmask, "255.255.0.0"),
    AttrType("cidr", "an IPv4 network as address/prefix", _cidr, "10.1.0.0/16"),
    AttrType("mac", "an Ethernet MAC address", _regex(
        _MAC, "six hex octets separated by ':' or '-', e.g. 52:54:00:12:34:56"),
        "52:54:00:12:34:56"),
    AttrType("int", "a whole number", _regex(_INT, "a whole number such as 4096"), "4096"),
    AttrType("bool", "yes or no (also true/false, on/off, y/n, 1/0)",
             lambda v: None if v.lower() in BOOL_WORDS else "yes or no", "yes"),
    AttrType("path", "an absolute path without spaces or '..'", _path, "/export"),
    AttrType("list-of-paths", "space-separated absolute paths",
             _list(_path, "space-separated absolute paths without '..' (one space between)",
                   " "), "/export /scratch"),
    AttrType("url", "a URL: scheme://host[:port][/path]", _url, "http://10.1.1.1:8080"),
    AttrType("ssh-pubkey", "one SSH public key line: TYPE BASE64 [comment]", _ssh_pubkey),
    AttrType("crypt-hash", "a crypt(3) password hash, e.g. from openssl passwd -6", _crypt),
    AttrType("boot-file", "a kernel or initrd: file name, path or URL", _boot_file,
             "vmlinuz"),
    AttrType("kernel-args", "kernel arguments: safe words separated by spaces", _kernel_args,
             "console=ttyS0,115200 ip=dhcp"),
)
TYPES: dict[str, AttrType] = {t.name: t for t in _ALL}
DEFAULT_TYPE = "string"


_LOCALBOOT = re.compile(r"localboot( -?[0-9]+)?", re.I)
_ACTION_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9_. -]*[A-Za-z0-9_.-])?")  # "install headless"


def bootaction_problem(name: str, kernel: str, initrd: str, args: str) -> str | None:
    """Why a boot action cannot be written into PXELINUX, GRUB and iPXE files (whose syntaxes
    differ, so only plain words pass), or None. Checked when one is added and again by the
    generators."""
    if not _ACTION_NAME.fullmatch(name):
        return f"name {name!r}: use letters, digits, '-', '_', '.' and inner spaces"
    fields = (("kernel", kernel, "boot-file"), ("initrd", initrd, "boot-file"),
              ("args", args, "kernel-args"))
    for field_name, value, type_name in fields:
        if field_name == "kernel" and _LOCALBOOT.fullmatch(value):
            continue
        why = check_value(type_name, value)
        if why:
            return f"{field_name} {value!r}: {why}"
    return None


def check_value(type_name: str, value: str, choices: tuple[str, ...] = ()) -> str | None:
    """Why `value` does not fit the type (and its choices, when given), or None. The empty
    value fits every type: it means "not set"."""
    if value == "":
        return None
    t = TYPES.get(type_name, TYPES[DEFAULT_TYPE])
    why = t.check(value)
    if why is None and choices and value not in choices:
        why = "one of: " + ", ".join(choices)
    return why


def types_help() -> str:
    """The type table as help text."""
    width = max(len(t.name) for t in _ALL)
    return "\n".join(f"  {t.name:<{width}}  {t.summary}" for t in _ALL)
