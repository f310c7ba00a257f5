"""Who may log in to a node: users and groups from the attributes `access_users` and
`access_groups`, the pam_access rules that enforce them, and the check `run host` makes.

No rule set means no restriction. With any rule, root and the listed users and groups are
admitted and everybody else refused — the same file the base roll's access node writes.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from rocks.errors import RocksError

USERS_ATTR = "access_users"
GROUPS_ATTR = "access_groups"
ACCESS_FILE = "/etc/security/access.conf"
# Where `sync host access` writes; an attribute so a site (or a test) may point pam_access at
# another file (pam_access accessfile=…).
FILE_ATTR = "access_file"

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*\$?")
HEADER = "# Written by rocks (access node, rocks sync host access); edits are overwritten."


@dataclass(frozen=True, slots=True)
class AccessRules:
    users: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()

    @property
    def restricted(self) -> bool:
        return bool(self.users or self.groups)

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, str]) -> AccessRules:
        return cls(split_names(attrs.get(USERS_ATTR, "")), split_names(attrs.get(GROUPS_ATTR, "")))


@dataclass(frozen=True, slots=True)
class Caller:
    """Who runs a command: login name, uid and the names of their groups."""

    user: str
    uid: int
    groups: tuple[str, ...] = ()

    @property
    def is_root(self) -> bool:
        return self.uid == 0


def split_names(text: str) -> tuple[str, ...]:
    """`a, b,,c` → ('a', 'b', 'c'); order kept, duplicates dropped."""
    return tuple(dict.fromkeys(p.strip() for p in text.split(",") if p.strip()))


def check_names(kind: str, names: Iterable[str]) -> tuple[str, ...]:
    """Names a pam_access rule can hold; anything else is an error naming the bad one."""
    out = tuple(names)
    for name in out:
        if not _NAME.fullmatch(name) or name.upper() == "ALL":
            raise RocksError.of(
                "bad-access-name", f"{kind} name {name!r} is not valid in an access rule",
                hint="use login/group names: letters, digits, '_', '.', '-' (not ALL)",
            )
    return out


def allowed(rules: AccessRules, caller: Caller) -> bool:
    """May `caller` log in to a node with these rules? (pam_access semantics, as written.)"""
    if not rules.restricted or caller.is_root or caller.user == "root":
        return True
    return caller.user in rules.users or any(g in rules.groups for g in caller.groups)


def access_conf(rules: AccessRules) -> str:
    """The /etc/security/access.conf text for these rules (comments only when unrestricted).

    Groups are written in parentheses, which pam_access reads as group names only (a bare
    word is tried as a user first; `@name` would mean an NIS netgroup).
    """
    lines = [HEADER]
    if rules.restricted:
        lines.append("+:root:ALL")
        lines += [f"+:({g}):ALL" for g in rules.groups]
        lines += [f"+:{u}:ALL" for u in rules.users]
        lines.append("-:ALL:ALL")
    return "\n".join(lines) + "\n"


def sync_script(rules: AccessRules, path: str = ACCESS_FILE) -> str:
    """A shell command that installs `access_conf(rules)` at `path` atomically and, where
    authselect manages PAM (EL8/9), turns pam_access on."""
    quoted = shlex.quote(path)
    body = access_conf(rules)
    return (
        f"umask 022 && cat > {quoted}.rocks-new <<'ROCKS_ACCESS_EOF'\n{body}ROCKS_ACCESS_EOF\n"
        f"mv -f {quoted}.rocks-new {quoted} && "
        "{ ! command -v authselect >/dev/null 2>&1 || "
        "authselect enable-feature with-pamaccess >/dev/null; }"
    )


def caller_of_process() -> Caller:
    """The calling user of this process (real uid), with all their groups."""
    import grp
    import os
    import pwd

    uid = os.getuid()
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = str(uid)
    names: list[str] = []
    for gid in dict.fromkeys([os.getgid(), *os.getgroups()]):
        try:
            names.append(grp.getgrgid(gid).gr_name)
        except KeyError:
            continue
    return Caller(user, uid, tuple(names))
