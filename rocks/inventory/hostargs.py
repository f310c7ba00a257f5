"""Host arguments as Rocks expanded them: none = all hosts, names, appliance names, rackN, globs,
and a host's IP, MAC or FQDN. The CLI and the frontend's write API both expand here, through
rocks.inventory.core (plain SQL: the hot commands never import the ORM for it)."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rocks.errors import RocksError

if TYPE_CHECKING:
    from rocks.inventory.core import Db
    from rocks.inventory.db import Session

_RACK = re.compile(r"^rack(\d+)$")


def expand_hosts(session: Session | Db, words: Sequence[str], *, empty_means_all: bool = True
                 ) -> list[str]:
    """Host names (sorted, unique) for the given words; an unknown word is an error."""
    from rocks.inventory import core

    db = core.Db.of(session)
    if words and all(not _RACK.match(w) and not any(c in w for c in "*?[") for w in words) \
            and core.existing_hosts(db, words) == set(words):
        return sorted(set(words))  # plain host names (no appliance has a host's name)
    rows = core.host_index(db)
    if not words:
        return sorted(r[0] for r in rows) if empty_means_all else []
    names = {r[0] for r in rows}
    appliances = {r[2] for r in rows} | set(core.appliance_names(db))
    chosen: set[str] = set()
    for word in words:
        m = _RACK.match(word)
        if word in names:
            chosen.add(word)
        elif m:
            rack = int(m.group(1))
            chosen |= {r[0] for r in rows if r[1] == rack and r[2] != "frontend"}
        elif word in appliances:
            chosen |= {r[0] for r in rows if r[2] == word}
        elif any(c in word for c in "*?["):
            hits = {n for n in names if fnmatch.fnmatchcase(n, word)}
            if not hits:
                raise RocksError.of("unknown-host", f'no host matches "{word}"')
            chosen |= hits
        elif (owner := core.host_by_address(db, word)) is not None:
            chosen.add(owner)  # an IP, a MAC or an FQDN, as Rocks accepted
        else:
            import difflib

            close = difflib.get_close_matches(word, sorted(names | appliances), n=1)
            raise RocksError.of(
                "unknown-host", f'unknown host "{word}"',
                hint=f'did you mean "{close[0]}"?' if close
                else "give host names, appliance names, rackN, globs, or a host's IP, MAC or "
                "FQDN (rocks list host)",
            )
    return sorted(chosen)
