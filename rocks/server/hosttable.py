"""The snapshot's hosts as columns: a few dozen bytes a host instead of a few objects a host.

The frontend keeps every host in memory — who an address is, its token, what its kickstart is
made of — so that no node request waits for the database. Held as Python objects (a dataclass,
its strings, tuples, an attribute dictionary of sixty values and four index entries) a host
cost several KiB, and a 100,000-host cluster hundreds of MiB. Here:

- what many hosts share (roll defaults, network facts, global, os, appliance and rack
  attributes, the graph root) is one `Layer` per group of hosts, built once;
- each host is a row across arrays and packed strings (`Strings`), with its host-scope
  attributes, when it has any, on the side;
- lookups by address, MAC and token are sorted arrays of string hashes (`HashIndex`), by
  name a binary search of the sorted names;
- a `HostEntry` — the object the request path, the console and the API use — is made when
  something asks for a host (microseconds), and dropped after.

Nothing here reads the database: index.py fills a `TableBuilder` from the inventory.
"""

from __future__ import annotations

import bisect
import hashlib
from array import array
from collections import ChainMap
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rocks.profiles import HostView

MASK = "********"
HOST_MARK = "\x00host\x00"  # stands for the host's name in a layer's error text
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NO_TIME = -(1 << 63)  # install_started of a host that never began an install


def to_us(t: datetime | None) -> int:
    """Microseconds since the epoch, exactly (NO_TIME for None)."""
    if t is None:
        return NO_TIME
    d = t - EPOCH
    return (d.days * 86400 + d.seconds) * 1_000_000 + d.microseconds


def from_us(us: int) -> datetime | None:
    return None if us == NO_TIME else EPOCH + timedelta(microseconds=us)


class Strings:
    """Many short strings in one buffer: a string costs its UTF-8 bytes and four more."""

    __slots__ = ("_blob", "_ends")

    def __init__(self, items: Iterable[str] = ()) -> None:
        self._blob = bytearray()
        self._ends = array("I")
        for text in items:
            self.append(text)

    def append(self, text: str) -> None:
        self._blob += text.encode()
        self._ends.append(len(self._blob))

    def __len__(self) -> int:
        return len(self._ends)

    def __iter__(self) -> Iterator[str]:
        return (self[i] for i in range(len(self._ends)))

    def __getitem__(self, i: int) -> str:
        start = self._ends[i - 1] if i else 0
        return self._blob[start:self._ends[i]].decode()

    def nbytes(self) -> int:
        return len(self._blob) + self._ends.itemsize * len(self._ends)


class HashIndex:
    """Positions by a string key, in an open-addressing table of two arrays (each key's hash,
    and its position): twelve bytes a key and a little room, no object per key. A lookup
    yields the positions whose key hashes alike; the caller compares the key itself."""

    __slots__ = ("_pos", "_size", "_tags")

    def __init__(self, keys: Iterable[tuple[str, int]] = (), count: int = 0) -> None:
        """`count`: how many keys will come (at least); more make the table rebuild."""
        self._size = 0
        self._alloc(max(8, count * 10 // 7 + 1))
        for key, p in keys:
            self.add(key, p)

    def _alloc(self, capacity: int) -> None:
        self._tags = array("q", bytes(8 * capacity))
        self._pos = array("i", [-1]) * capacity

    def add(self, key: str, position: int) -> None:
        if (self._size + 1) * 10 > len(self._pos) * 7:
            old = [(self._tags[i], self._pos[i]) for i in range(len(self._pos))
                   if self._pos[i] >= 0]
            self._alloc(len(self._pos) * 2)
            for h, p in old:
                self._put(h, p)
        self._put(hash(key), position)
        self._size += 1

    def _put(self, h: int, position: int) -> None:
        pos = self._pos
        cap = len(pos)
        i = h % cap
        while pos[i] >= 0:
            i = i + 1 if i + 1 < cap else 0
        self._tags[i] = h
        pos[i] = position

    def candidates(self, key: str) -> Iterator[int]:
        h = hash(key)
        pos, tags = self._pos, self._tags
        cap = len(pos)
        i = h % cap
        while pos[i] >= 0:
            if tags[i] == h:
                yield pos[i]
            i = i + 1 if i + 1 < cap else 0

    def __len__(self) -> int:
        return self._size

    def nbytes(self) -> int:
        return (self._tags.itemsize + self._pos.itemsize) * len(self._pos)


@dataclass(frozen=True, slots=True, eq=False)
class Layer:
    """What the hosts of one group (same appliance, os and — when that rack has attributes of
    its own — rack) compile with before their own values: the graph root, the attributes as
    ProfileService.view merges them (roll defaults, network facts, global < os < appliance <
    rack, the release), which of them are secret, and where each came from."""

    appliance: str
    root: str
    attrs: dict[str, str]
    sources: dict[str, str]
    secret: frozenset[str]  # from the inventory's secret flags (resolution)
    declared: frozenset[str]  # what the rolls declare secret (added to every host's)
    shadow: frozenset[str]  # intrinsics (hostname, rank, rack) that a group value overrides
    rack_in_group: bool  # the intrinsic rack is part of `attrs`
    release: str
    error: str = ""  # the hosts cannot be compiled: why (HOST_MARK stands for the name)
    digest: bytes = b""  # of root, attrs and the graph: part of each host's `inputs`


@dataclass(frozen=True, slots=True, eq=False)
class Extra:
    """A host's own attributes (host scope), in resolution order, and their secret flags."""

    values: Mapping[str, str]
    secret: frozenset[str]  # host attributes flagged secret
    public: frozenset[str]  # host attributes not flagged (they clear a group's flag)


class HostEntry:
    """One host as the request path sees it: a row of a HostTable, its fields read from the
    columns when first asked for (identifying a node reads a few of them)."""

    __slots__ = (
        "_ifaces",
        "_t",
        "boot",
        "generation",
        "id",
        "layer",
        "name",
        "pos",
        "rack",
        "rank",
        "token",
    )

    def __init__(self, table: HostTable, i: int) -> None:
        self._t = table
        self.pos = i  # its row in the table it was read from
        self.generation = table.generation  # that table's snapshot
        self.id: int = table.ids[i]
        self.name: str = table.names[i]
        self.layer: Layer = table.layers[table.layer_of[i]]
        self.boot: str = table.words[table.boots[i]]
        self.token: str | None = table.tokens[i] or None
        self.rack: int = table.racks[i]
        self.rank: int = table.ranks[i]
        self._ifaces: tuple[tuple[str, ...], tuple[str, ...]] | None = None

    def __repr__(self) -> str:
        return f"HostEntry({self.name!r}, generation={self.generation}, row={self.pos})"

    @property
    def appliance(self) -> str:
        return self.layer.appliance

    @property
    def install_started(self) -> datetime | None:
        return from_us(self._t.started[self.pos])

    @property
    def ips(self) -> tuple[str, ...]:
        """Its interfaces' addresses (BMCs are not the node's)."""
        if self._ifaces is None:
            self._ifaces = self._t.interfaces_at(self.pos)
        return self._ifaces[0]

    @property
    def macs(self) -> tuple[str, ...]:
        """Its interfaces' MACs, lower case."""
        if self._ifaces is None:
            self._ifaces = self._t.interfaces_at(self.pos)
        return self._ifaces[1]

    def _pxe(self, column: Strings) -> str:
        t, i = self._t, self.pos
        chosen = t.pxe[i]
        return column[(t.ends[i - 1] if i else 0) + chosen] if chosen >= 0 else ""

    @property
    def hostaddr(self) -> str:
        """The address of the interface resolution takes hostaddr from ("" when none)."""
        return self._pxe(self._t.ips)

    @property
    def ksmac(self) -> str:
        return self._pxe(self._t.macs)

    @property
    def extra(self) -> Extra | None:
        return self._t.extras.get(self.pos)

    @property
    def install_action(self) -> str:
        return self._t.words[self._t.actions[self.pos]]

    @property
    def run_action(self) -> str:
        return self._t.words[self._t.runs[self.pos]]

    @property
    def installing(self) -> bool:
        return self.boot == "install"

    @property
    def stateless(self) -> bool:
        """Boots its appliance's stateless image (rocks.images) and fetches its state."""
        from rocks.model.inventory import STATELESS

        return self.boot == "os" and self.run_action == STATELESS

    @property
    def error(self) -> str:
        """Why the host cannot be compiled ("" when it can)."""
        return self.layer.error.replace(HOST_MARK, self.name)

    def _own(self) -> tuple[dict[str, str], dict[str, str], frozenset[str]]:
        """The host's values over its layer's, where each came from, and its secret names
        (resolution order: intrinsics < group values < host attributes < interface)."""
        layer = self.layer
        own: dict[str, str] = {}
        sources: dict[str, str] = {}
        intrinsic = [("hostname", self.name), ("rank", str(self.rank))]
        if not layer.rack_in_group:
            intrinsic.append(("rack", str(self.rack)))
        for key, value in intrinsic:
            if key not in layer.shadow:
                own[key] = value
                sources[key] = "intrinsic"
        secret = layer.secret
        extra = self.extra
        if extra is not None:
            own.update(extra.values)
            sources.update(dict.fromkeys(extra.values, "host"))
            secret = (secret - extra.public) | extra.secret
        for key, value in (("hostaddr", self.hostaddr), ("ksmac", self.ksmac)):
            if value:
                own[key] = value
                sources[key] = "intrinsic"
                secret = secret - {key}
        own["release"] = layer.release  # the target release wins over any attribute
        return own, sources, secret

    @property
    def view(self) -> HostView | None:
        """What compiling the host needs (None when it cannot be compiled: `error`)."""
        from rocks.profiles import HostView

        layer = self.layer
        if layer.error:
            return None
        own, sources, secret = self._own()
        attrs = {**layer.attrs, **own}
        return HostView(attrs.get("hostname", ""), layer.appliance, layer.root, attrs,
                        ChainMap(sources, layer.sources), secret | layer.declared)

    @property
    def inputs(self) -> str:
        """A digest of everything the host's kickstart depends on (its layer, its own values,
        its token)."""
        own, _, secret = self._own()
        extra = repr((sorted(own.items()), sorted(secret), self.token or ""))
        return hashlib.sha256(self.layer.digest + extra.encode()).hexdigest()

    def attrs(self) -> dict[str, str]:
        """The values its kickstart is compiled from, with its install token."""
        view = self.view
        assert view is not None
        return {**view.attrs, "install_token": self.token or ""}

    def redact(self, text: str) -> str:
        """`text` with the host's secret values and install token masked, whole and word by
        word (an error message may quote part of a value)."""
        layer = self.layer
        if layer.error and not self.token:
            return text
        values = {self.token or ""}
        if not layer.error:  # as self.view would have it, without merging every attribute
            own, _, secret = self._own()
            for name in secret | layer.declared:
                value = own[name] if name in own else layer.attrs.get(name, "")
                values.add(value)
                values.update(value.split())
        for value in sorted((v for v in values if len(v) >= 4), key=len, reverse=True):
            text = text.replace(value, MASK)
        return text

    def public_attrs(self) -> dict[str, str]:
        """Attributes safe to show: secrets masked, the install token left out."""
        view = self.view
        if view is None:
            return {}
        return {k: (MASK if k in view.secret else v)
                for k, v in sorted(view.attrs.items()) if k != "install_token"}


class TableBuilder:
    """Collects hosts into columns as the inventory streams them (hosts in id order, then
    their interfaces and attributes in host id order), then packs a HostTable in name order.
    No object per host is made on the way: 100,000 hosts build in a few MiB."""

    def __init__(self, generation: int = 0) -> None:
        self.generation = generation
        self.layers: list[Layer] = []
        self._words: dict[str, int] = {}
        self._ids = array("q")
        self._names: list[str] = []
        self._boots = array("H")
        self._tokens = Strings()
        self._started = array("q")
        self._actions = array("H")
        self._runs = array("H")
        self._racks = array("q")
        self._ranks = array("q")
        self._layer_of = array("I")
        self._extras: dict[int, Extra] = {}
        # interfaces, in host id order: whose (index into the hosts above), and what
        self._if_host = array("I")
        self._ips = Strings()
        self._macs = Strings()
        self._flags = bytearray()  # 1: served (its address identifies the host), 2: PXE

    def _word(self, text: str) -> int:
        return self._words.setdefault(text, len(self._words))

    def _index(self, host_id: int) -> int:
        ids = self._ids
        k = bisect.bisect_left(ids, host_id)
        return k if k < len(ids) and ids[k] == host_id else -1

    def layer(self, layer: Layer) -> int:
        self.layers.append(layer)
        return len(self.layers) - 1

    def host(self, host_id: int, name: str, boot: str, token: str | None,
             started: datetime | None, install_action: str, run_action: str, rack: int,
             rank: int, layer: int) -> None:
        """A host; hosts come in ascending id order."""
        if self._ids and host_id <= self._ids[-1]:
            raise ValueError("hosts must come in ascending id order")
        self._ids.append(host_id)
        self._names.append(name)
        self._boots.append(self._word(boot))
        self._tokens.append(token or "")
        self._started.append(to_us(started))
        self._actions.append(self._word(install_action))
        self._runs.append(self._word(run_action))
        self._racks.append(rack)
        self._ranks.append(rank)
        self._layer_of.append(layer)

    def interface(self, host_id: int, ip: str, mac: str, *, served: bool, pxe: bool) -> None:
        """An interface of a host added before; a host's come together, in device order."""
        k = self._index(host_id)
        if k < 0:
            return
        if self._if_host and self._if_host[-1] > k:
            raise ValueError("interfaces must come in host id order")
        self._if_host.append(k)
        self._ips.append(ip)
        self._macs.append(mac)
        self._flags.append((1 if served else 0) | (2 if pxe else 0))

    def extra(self, host_id: int, extra: Extra) -> None:
        k = self._index(host_id)
        if k >= 0:
            self._extras[k] = extra

    def build(self) -> HostTable:
        from rocks.server.console import natural_key

        n = len(self._names)
        names = self._names
        order = sorted(range(n), key=names.__getitem__)
        where = array("I", bytes(4 * n))  # id-order index -> row
        for row, k in enumerate(order):
            where[k] = row
        table = HostTable(self.generation)
        table.layers = self.layers
        table.words = list(self._words)
        table.names = Strings(names[k] for k in order)
        self._names = []

        def take(col: array[int]) -> array[int]:
            return array(col.typecode, (col[k] for k in order))

        table.ids = take(self._ids)
        table.boots, table.started = take(self._boots), take(self._started)
        table.actions, table.runs = take(self._actions), take(self._runs)
        table.racks, table.ranks = take(self._racks), take(self._ranks)
        table.layer_of = take(self._layer_of)
        table.tokens = Strings(self._tokens[k] for k in order)
        table.extras = {where[k]: e for k, e in self._extras.items()}
        # each host's interfaces: a run of the id-ordered lists
        first = array("i", [-1]) * n
        count = array("I", bytes(4 * n))
        for j, k in enumerate(self._if_host):
            if first[k] < 0:
                first[k] = j
            count[k] += 1
        ips, macs, ends, pxe, owner, sig = Strings(), Strings(), array("I"), array("b"), \
            array("I"), array("q")
        served = array("I")  # interfaces whose address identifies their host
        flags = self._flags
        for row, k in enumerate(order):
            runs = range(first[k], first[k] + count[k]) if count[k] else range(0)
            chosen = next((j - runs.start for j in runs if flags[j] & 2), 0 if runs else -1)
            pxe.append(chosen)
            host_ips = []
            host_macs = []
            for j in runs:
                ip, mac = self._ips[j], self._macs[j]
                if flags[j] & 1 and ip:
                    served.append(len(ips))
                ips.append(ip)
                macs.append(mac)
                owner.append(row)
                if ip:
                    host_ips.append(ip)
                if mac:
                    host_macs.append(mac.lower())
            ends.append(len(ips))
            sig.append(hash((table.ids[row], self.layers[table.layer_of[row]].appliance,
                             table.racks[row], table.ranks[row], table.words[table.boots[row]],
                             table.tokens[row], table.started[row], tuple(host_ips),
                             tuple(host_macs))))
        table.ips, table.macs, table.ends, table.pxe, table.owner, table.sig = \
            ips, macs, ends, pxe, owner, sig
        # an address two hosts claim identifies neither (index.py logs it)
        index = HashIndex(count=len(served))
        shared: set[str] = set()
        for j in served:
            ip = ips[j]
            if any(owner[k] != owner[j] for k in index.candidates(ip) if ips[k] == ip):
                shared.add(ip)
            index.add(ip, j)
        table.shared_ips = sorted(shared)
        if shared:
            index = HashIndex(((ips[j], j) for j in served if ips[j] not in shared),
                              count=len(served))
        table.ip_index = index
        table.mac_index = HashIndex(((macs[j].lower(), j) for j in range(len(macs)) if macs[j]),
                                    count=len(macs))
        table.token_index = HashIndex(((table.tokens[i], i) for i in range(n)
                                       if table.tokens[i]), count=n)
        ranks = array("I", bytes(4 * n))
        for place, i in enumerate(sorted(range(n), key=lambda i: natural_key(table.names[i]))):
            ranks[i] = place
        table.natural = ranks
        table.id_sorted = self._ids
        table.id_pos = array("I", (where[k] for k in range(n)))
        return table


class HostTable(Mapping[str, HostEntry]):
    """Hosts by name (sorted), read back as HostEntry objects."""

    def __init__(self, generation: int = 0) -> None:
        self.generation = generation
        self.layers: list[Layer] = []
        self.names = Strings()
        self.ids = array("q")
        self.boots = array("H")
        self.tokens = Strings()
        self.started = array("q")
        self.actions = array("H")
        self.runs = array("H")
        self.racks = array("q")
        self.ranks = array("q")
        self.layer_of = array("I")
        self.extras: dict[int, Extra] = {}
        self.ends = array("I")  # per host: the end of its interfaces in ips/macs
        self.pxe = array("b")  # per host: which of its interfaces gives hostaddr/ksmac
        self.owner = array("I")  # per interface: its host
        self.ips = Strings()
        self.macs = Strings()
        self.shared_ips: list[str] = []
        self.ip_index = HashIndex()
        self.mac_index = HashIndex()
        self.token_index = HashIndex()
        self.words: list[str] = []
        self.natural = array("I")  # per host: its place in natural name order
        self.sig = array("q")  # per host: a hash of what its console row shows of the inventory
        self.id_sorted = array("q")
        self.id_pos = array("I")
        self.by_ip = _ByIp(self)
        self.by_mac = _ByMac(self)
        self.by_token = _ByToken(self)

    # -- Mapping -------------------------------------------------------------------------
    def position(self, name: str) -> int:
        """The row of host `name`, -1 when there is none."""
        names = self.names
        i = bisect.bisect_left(names, name)
        return i if i < len(names) and names[i] == name else -1

    def __getitem__(self, name: str) -> HostEntry:
        i = self.position(name) if isinstance(name, str) else -1
        if i < 0:
            raise KeyError(name)
        return self.entry(i)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.position(name) >= 0

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)

    def entries(self) -> Iterator[HostEntry]:
        """Every host, in name order (each made on the way: for whole-table walks only)."""
        return (self.entry(i) for i in range(len(self.names)))

    def values(self) -> Any:
        return list(self.entries())

    def items(self) -> Any:
        return [(e.name, e) for e in self.entries()]

    # -- columns ---------------------------------------------------------------------------
    def entry(self, i: int) -> HostEntry:
        return HostEntry(self, i)

    def name_of_id(self, host_id: int) -> str | None:
        ids = self.id_sorted
        k = bisect.bisect_left(ids, host_id)
        if k < len(ids) and ids[k] == host_id:
            return self.names[self.id_pos[k]]
        return None

    def appliance_at(self, i: int) -> str:
        return self.layers[self.layer_of[i]].appliance

    def boot_at(self, i: int) -> str:
        return self.words[self.boots[i]]

    def token_at(self, i: int) -> str | None:
        return self.tokens[i] or None

    def interfaces_at(self, i: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The host's addresses and MACs (lower case), as HostEntry.ips / .macs."""
        start = self.ends[i - 1] if i else 0
        ips = tuple(ip for ip in (self.ips[k] for k in range(start, self.ends[i])) if ip)
        macs = tuple(m.lower() for m in (self.macs[k] for k in range(start, self.ends[i]))
                     if m)
        return ips, macs

    def nbytes(self) -> int:
        """Bytes held by the columns."""
        arrays = (self.ids, self.boots, self.started, self.actions, self.runs, self.racks,
                  self.ranks, self.layer_of, self.ends, self.pxe, self.owner, self.natural,
                  self.id_sorted, self.id_pos, self.sig)
        return (sum(a.itemsize * len(a) for a in arrays) + self.names.nbytes()
                + self.tokens.nbytes()
                + self.ips.nbytes() + self.macs.nbytes() + self.ip_index.nbytes()
                + self.mac_index.nbytes() + self.token_index.nbytes())


class _ByIp:
    """Address → host, for the addresses that identify a host (served, claimed by one)."""

    __slots__ = ("_t",)

    def __init__(self, table: HostTable) -> None:
        self._t = table

    def get(self, ip: str) -> HostEntry | None:
        t = self._t
        for k in t.ip_index.candidates(ip):
            if t.ips[k] == ip:
                return t.entry(t.owner[k])
        return None

    def __contains__(self, ip: str) -> bool:
        return self.get(ip) is not None


class _ByMac:
    """MAC (lower case) → host."""

    __slots__ = ("_t",)

    def __init__(self, table: HostTable) -> None:
        self._t = table

    def owner(self, mac: str) -> int:
        """The row of the host with this MAC, -1 for none."""
        t = self._t
        found = -1
        for k in t.mac_index.candidates(mac):
            if t.macs[k].lower() == mac:
                found = max(found, t.owner[k])
        return found

    def get(self, mac: str) -> HostEntry | None:
        found = self.owner(mac)
        return self._t.entry(found) if found >= 0 else None

    def __contains__(self, mac: str) -> bool:
        return self.get(mac) is not None


class _ByToken:
    """Install token → host."""

    __slots__ = ("_t",)

    def __init__(self, table: HostTable) -> None:
        self._t = table

    def get(self, token: str) -> HostEntry | None:
        t = self._t
        for i in t.token_index.candidates(token):
            if t.tokens[i] == token:
                return t.entry(i)
        return None

    def __contains__(self, token: str) -> bool:
        return self.get(token) is not None
