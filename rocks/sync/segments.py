"""The host-dependent parts of the shared files, kept as sorted runs of per-interface fragments.

A shared file (dhcpd.conf, kea-dhcp4.conf, a zone, /etc/hosts) is fixed text around a few
*segments*: the host blocks of one subnet, the records of one zone, the lines of /etc/hosts.
Each segment is a run of entries sorted by key (the interface's address as a number), each entry
the fragment one interface of one host contributes, rendered once by the generator that owns
the file. The full plan builds every segment from the site; the incremental plan
(rocks.sync.incremental) keeps them between runs and splices in only the entries of the hosts
that changed — and the same render functions assemble the file from either, so a file is
byte-for-byte what the full plan writes.

Between runs a segment is stored as a few big strings and arrays (`encode`/`decode`): loading
the segments of ten thousand hosts then costs a few copies, not ten thousand objects, and a
change to a few hosts is spliced into the strings where they stand (`splice`), never splitting
them into ten thousand pieces.
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Collection, Iterable, Iterator, Mapping
from typing import NamedTuple

SEP = "\0"  # between the fragments of an encoded segment (no fragment holds a NUL: checked)


class Entry(NamedTuple):
    """One interface's fragment in one segment. `name` is what must be unique across the
    file's segments (the dhcpd host identifier), or ""."""

    segment: str
    key: int
    owner: str  # the host
    text: str
    name: str = ""


class Segment:
    """A sorted run of fragments. Held either encoded (as stored: joined strings) or split into
    lists (while it is being changed); `joined(sep)` serves either without splitting."""

    __slots__ = ("_enc", "keys", "names", "owners", "texts")
    Encoded = tuple[bytes, str, str, str, bytes, bytes, bytes]
    # keys, then owners, texts and names (SEP-joined), then their lengths ("l" arrays)

    def __init__(self, keys: list[int] | None = None, owners: list[str] | None = None,
                 texts: list[str] | None = None, names: list[str] | None = None) -> None:
        self.keys = keys if keys is not None else []
        self.owners = owners if owners is not None else []
        self.texts = texts if texts is not None else []
        self.names = names if names is not None else []
        self._enc: Segment.Encoded | None = None

    # ------------------------------------------------------------------ reading

    def __len__(self) -> int:
        if self._enc is not None:
            return len(self._enc[0]) // 8
        return len(self.keys)

    def joined(self, sep: str) -> str:
        """The fragments in key order, `sep` between them."""
        if self._enc is not None:
            texts = self._enc[2]
            return texts.replace(SEP, sep) if sep != SEP else texts
        return sep.join(self.texts)

    def text_list(self) -> list[str]:
        self._split()
        return self.texts

    def owner_text(self) -> str:
        """The owners, SEP-joined (what `has_owner` searches)."""
        return self._enc[1] if self._enc is not None else SEP.join(self.owners)

    def name_text(self) -> str:
        return self._enc[3] if self._enc is not None else SEP.join(self.names)

    def has_owner(self, owners: Collection[str]) -> bool:
        if not owners or not len(self):
            return False
        if self._enc is not None:
            hay = SEP + self._enc[1] + SEP
            return any(f"{SEP}{o}{SEP}" in hay for o in owners)
        return not set(owners).isdisjoint(self.owners)

    def name_count(self, name: str) -> int:
        if not len(self):
            return 0
        return (SEP + self.name_text() + SEP).count(f"{SEP}{name}{SEP}")

    # ------------------------------------------------------------------ changing

    def _split(self) -> None:
        if self._enc is None:
            return
        keys, owners, texts, names = self._enc[:4]
        n = len(keys) // 8
        a = array("q")
        a.frombytes(keys)
        self.keys = a.tolist()
        self.owners = owners.split(SEP) if n else []
        self.texts = texts.split(SEP) if n else []
        self.names = names.split(SEP) if n else []
        self._enc = None

    def add(self, entry: Entry) -> None:
        """Append (the full plan adds in key order; `sort` fixes any other order)."""
        self._split()
        self.keys.append(entry.key)
        self.owners.append(entry.owner)
        self.texts.append(entry.text)
        self.names.append(entry.name)

    def sort(self) -> None:
        self._split()
        if all(a < b for a, b in zip(self.keys, self.keys[1:], strict=False)):
            return
        order = sorted(range(len(self.keys)), key=lambda i: (self.keys[i], self.owners[i]))
        self.keys = [self.keys[i] for i in order]
        self.owners = [self.owners[i] for i in order]
        self.texts = [self.texts[i] for i in order]
        self.names = [self.names[i] for i in order]

    def splice(self, drop: Collection[str], add: Iterable[Entry]) -> None:
        """Remove the fragments of the owners in `drop`, insert `add`, keep the key order."""
        new = sorted(add, key=lambda e: (e.key, e.owner))
        if self._enc is not None and len(drop) + len(new) <= 16 and self._splice_encoded(drop, new):
            return
        self._split()
        if drop:
            keep = [i for i, o in enumerate(self.owners) if o not in drop]
            if len(keep) != len(self.owners):
                self.keys = [self.keys[i] for i in keep]
                self.owners = [self.owners[i] for i in keep]
                self.texts = [self.texts[i] for i in keep]
                self.names = [self.names[i] for i in keep]
        if len(new) <= 64:
            for e in new:
                at = bisect.bisect_right(self.keys, e.key)
                while at > 0 and self.keys[at - 1] == e.key and self.owners[at - 1] > e.owner:
                    at -= 1
                self.keys.insert(at, e.key)
                self.owners.insert(at, e.owner)
                self.texts.insert(at, e.text)
                self.names.insert(at, e.name)
        else:
            for e in new:
                self.keys.append(e.key)
                self.owners.append(e.owner)
                self.texts.append(e.text)
                self.names.append(e.name)
            self.sort()

    def _splice_encoded(self, drop: Collection[str], new: list[Entry]) -> bool:
        """`splice` on the stored strings: each removal and insertion a few slices (copies
        done in C), where splitting ten thousand fragments apart and joining them again costs
        milliseconds. False (and nothing changed): the split path must do it."""
        assert self._enc is not None
        keys_b, owners, texts, names, olen_b, tlen_b, nlen_b = self._enc
        keys, olen, tlen, nlen = (_ints(keys_b, "q"), _ints(olen_b, "l"), _ints(tlen_b, "l"),
                                  _ints(nlen_b, "l"))
        if not len(keys) == len(olen) == len(tlen) == len(nlen):
            return False
        strings = [owners, texts, names]
        lens = [olen, tlen, nlen]
        hay = SEP + owners + SEP
        gone: list[int] = []
        for o in drop:
            needle = f"{SEP}{o}{SEP}"
            at = hay.find(needle)
            while at >= 0:
                gone.append(hay.count(SEP, 0, at))
                at = hay.find(needle, at + 1)
        for i in sorted(gone, reverse=True):
            n = len(keys)
            for k in range(3):
                off = sum(lens[k][:i]) + i
                end = off + lens[k][i]
                strings[k] = ("" if n == 1 else strings[k][:off] + strings[k][end + 1:]
                              if i < n - 1 else strings[k][:off - 1])
                lens[k].pop(i)
            keys.pop(i)
        for e in new:
            at = bisect.bisect_right(keys, e.key)
            if at > 0 and keys[at - 1] == e.key:
                return False  # a tie: its order is the owners' (the split path keeps it)
            n = len(keys)
            for k, part in enumerate((e.owner, e.text, e.name)):
                off = sum(lens[k][:at]) + at
                strings[k] = (part if n == 0 else strings[k][:off] + part + SEP + strings[k][off:]
                              if at < n else strings[k] + SEP + part)
                lens[k].insert(at, len(part))
            keys.insert(at, e.key)
        self._enc = (keys.tobytes(), strings[0], strings[1], strings[2], olen.tobytes(),
                     tlen.tobytes(), nlen.tobytes())
        return True

    # ------------------------------------------------------------------ storing

    def encode(self) -> Segment.Encoded:
        if self._enc is not None:
            return self._enc
        return (array("q", self.keys).tobytes(), SEP.join(self.owners), SEP.join(self.texts),
                SEP.join(self.names), array("l", map(len, self.owners)).tobytes(),
                array("l", map(len, self.texts)).tobytes(),
                array("l", map(len, self.names)).tobytes())

    @classmethod
    def decode(cls, data: Segment.Encoded) -> Segment:
        seg = cls()
        if not (isinstance(data, tuple) and len(data) == 7
                and all(isinstance(x, bytes) for x in (data[0], *data[4:]))
                and all(isinstance(x, str) for x in data[1:4]) and len(data[0]) % 8 == 0):
            raise ValueError("not a segment")
        seg._enc = data
        return seg


class Segments(Mapping[str, Segment]):
    """Every segment of a plan by name; a name never seen is an empty segment."""

    def __init__(self, data: dict[str, Segment] | None = None) -> None:
        self.data: dict[str, Segment] = data if data is not None else {}

    def __getitem__(self, name: str) -> Segment:
        seg = self.data.get(name)
        return seg if seg is not None else _EMPTY

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def size(self, name: str) -> int:
        seg = self.data.get(name)
        return len(seg) if seg is not None else 0

    def joined(self, name: str, sep: str) -> str:
        seg = self.data.get(name)
        return seg.joined(sep) if seg is not None else ""

    def texts(self, name: str) -> list[str]:
        seg = self.data.get(name)
        return list(seg.text_list()) if seg is not None else []

    def mutable(self, name: str) -> Segment:
        seg = self.data.get(name)
        if seg is None:
            seg = self.data[name] = Segment()
        return seg

    @classmethod
    def build(cls, entries: Iterable[Entry]) -> Segments:
        segs = cls()
        for e in entries:
            segs.mutable(e.segment).add(e)
        for seg in segs.data.values():
            seg.sort()
        return segs

    def encode(self) -> dict[str, Segment.Encoded]:
        return {name: seg.encode() for name, seg in self.data.items() if len(seg)}

    @classmethod
    def decode(cls, data: Mapping[str, Segment.Encoded]) -> Segments:
        return cls({name: Segment.decode(value) for name, value in data.items()})


_EMPTY = Segment()


def _ints(data: bytes, code: str) -> array[int]:
    a = array(code)
    a.frombytes(data)
    return a


def has_nul(entries: Iterable[Entry]) -> bool:
    """Whether any fragment holds the separator (such a plan is never cached)."""
    return any(SEP in e.text or SEP in e.owner or SEP in e.name for e in entries)
