"""Rolls and the distribution: create, add, enable, trust, build the repository, depsolve."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rocks.commands import Context, Result, Rows, Text, command, keyword, positional
from rocks.commands._inventory import cluster_service, distro_dir, roll_store, session
from rocks.errors import RocksError
from rocks.profiles import package_problems

VERSION = keyword("version", default="", help="only this version")
ARCH = keyword("arch", default="", help="only this architecture")


@command(positional("roll", help="a roll directory (roll.xml, nodes/, graphs/, RPMS/ or src/)"),
         keyword("format", default="iso", choices=("iso", "tar"), help="artifact format"),
         keyword("dir", default=".", help="where to write the artifact"),
         examples=("rocks create roll rolls/myroll", "rocks create roll myroll format=tar"))
def create_roll(ctx: Context, args: dict[str, Any]) -> Result:
    """Build a roll artifact (ISO in the Rocks layout, or a tarball); spec files under src/ are
    built with rpmbuild first."""
    from rocks.packages.roll import RollFormat
    from rocks.packages.roll import create_roll as build

    out = build(Path(args["roll"]), Path(args["dir"]), fmt=RollFormat(args["format"]))
    return Text(f"{out}\n")


@command(positional("sources", many=True, help="roll ISOs, tarballs or directories; an OS DVD"),
         keyword("clean", bool, default=False, help="replace a roll of the same name/version"),
         tabular=True,
         examples=("rocks add roll base-7.0-0.x86_64.disk1.iso", "rocks add roll Rocky-9.4.iso"))
def add_roll(ctx: Context, args: dict[str, Any]) -> Result:
    """Copy rolls into the frontend's roll store and record them (disabled until enabled).

    Packages are taken from anywhere under the roll's RPMS/ (flat, or rpmbuild's
    RPMS/<arch>/); each roll's line says how many packages and node files were copied.
    clean=yes replaces a roll of the same name, version and arch and keeps it enabled if it
    was (a trusted roll must be trusted again).

    An OS installation DVD (Rocky/Alma: .treeinfo, BaseOS/Packages) becomes the roll `os`:
    its packages, comps groups and installer kernel and initrd. Nothing is half-added: a bad
    source leaves the store and the inventory as they were.
    """
    from rocks.inventory import queries as q
    from rocks.model.inventory import Roll
    from rocks.packages.roll import add_roll as store_add
    from rocks.packages.roll import remove_roll as store_remove

    s = session(ctx)
    store = roll_store(ctx)
    store.mkdir(parents=True, exist_ok=True)
    rows = []
    disabled = []
    from rocks.commands._progress import Progress

    bar = ctx.resources.enter_context(Progress(ctx))
    for src in args["sources"]:
        bar.step(f"adding {Path(src).name}")
        rec = store_add(Path(src), store, clean=args["clean"])
        try:
            enabled = False
            if args["clean"]:
                # a re-add replaces the content, not the admin's choice to enable it; trust
                # was given to the old content and is not carried over
                old = q.remove_roll(s, rec.name, version=rec.version, arch=rec.arch)
                enabled = any(r.enabled for r in old)
                if any(r.trusted for r in old):
                    ctx.warn(f"roll {rec.name} was trusted; its new content is not",
                             f"rocks set roll {rec.name} trusted=yes")
            q.add_roll(s, Roll(rec.name, rec.version, rec.arch, rec.os, enabled=enabled))
        except Exception:
            store_remove(store, rec.name, rec.version, rec.arch)
            raise
        packages = len(list(rec.rpms_dir.glob("*.rpm")))
        nodes = len(list((rec.path / "nodes").glob("*.xml")))
        ctx.stderr.write(f"{rec.name} {rec.version} {rec.arch}: copied {_n(packages, 'package')}"
                         f", {_n(nodes, 'node file')}\n")
        rows.append((rec.name, rec.version, rec.arch, rec.os, enabled, packages, nodes,
                     str(rec.path)))
        if not enabled:
            disabled.append(rec.name)
    if disabled:
        ctx.stderr.write("enable with: rocks enable roll " + " ".join(disabled) + "\n")
    return Rows(("name", "version", "arch", "os", "enabled", "packages", "nodes", "path"), rows)


def _n(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _flip(ctx: Context, args: dict[str, Any], **change: bool) -> Result:
    from rocks.inventory import queries as q

    s = session(ctx)
    for name in args["rolls"]:
        if not q.update_rolls(s, name, version=args["version"], arch=args["arch"], **change):
            raise RocksError.of("unknown-roll", f'no roll "{name}" matches',
                                hint="rocks list roll")
    return None


@command(positional("rolls", many=True, help="roll names"), VERSION, ARCH)
def enable_roll(ctx: Context, args: dict[str, Any]) -> Result:
    """Enable rolls: their nodes and graphs join the graph, their packages the distribution."""
    return _flip(ctx, args, enabled=True)


@command(positional("rolls", many=True, help="roll names"), VERSION, ARCH)
def disable_roll(ctx: Context, args: dict[str, Any]) -> Result:
    """Disable rolls (they stay in the store)."""
    return _flip(ctx, args, enabled=False)


@command(positional("roll", help="roll name"), keyword("trusted", bool, help="yes or no"),
         VERSION, ARCH, examples=("rocks set roll myroll trusted=yes",))
def set_roll(ctx: Context, args: dict[str, Any]) -> Result:
    """Trust a roll (its <eval> blocks may run on this frontend) or stop trusting it."""
    return _flip(ctx, {**args, "rolls": (args["roll"],)}, trusted=args["trusted"])


@command(positional("rolls", many=True, help="roll names"), VERSION, ARCH)
def remove_roll(ctx: Context, args: dict[str, Any]) -> Result:
    """Remove rolls from the inventory and the store."""
    from rocks.inventory import queries as q
    from rocks.packages.roll import remove_roll as store_remove

    s = session(ctx)
    for name in args["rolls"]:
        gone = q.remove_roll(s, name, version=args["version"], arch=args["arch"])
        if not gone:
            raise RocksError.of("unknown-roll", f'no roll "{name}" matches',
                                hint="rocks list roll")
        for r in gone:
            store_remove(roll_store(ctx), r.name, r.version, r.arch)
    return None


@command(positional("rolls", many=True, default=(), help="roll names"), tabular=True)
def list_roll(ctx: Context, args: dict[str, Any]) -> Result:
    """List the rolls: the bundled ones and those added to the store."""
    from rocks.compiler.service import bundled_roll_dirs
    from rocks.inventory import queries as q

    s = session(ctx)
    recorded = q.list_rolls(s, args["rolls"] or None)
    names = {r.name for r in recorded}
    rows = [(r.name, r.version, r.arch, r.os, r.enabled, r.trusted, "store") for r in recorded]
    for d in bundled_roll_dirs():
        if d.name not in names and (not args["rolls"] or d.name in args["rolls"]):
            rows.append((d.name, "-", "-", "linux", True, False, "bundled"))
    rows.sort()
    return Rows(("name", "version", "arch", "os", "enabled", "trusted", "source"), rows)


@command(keyword("dir", default="", help="output directory (default: <state>/distro)"),
         keyword("force", bool, default=False,
                 help="build without an OS roll (a repository of the other rolls' packages, "
                      "e.g. for rocks try; nodes cannot install from it)"),
         examples=("rocks create distro",))
def create_distro(ctx: Context, args: dict[str, Any]) -> Result:
    """Build the package repository installs use, from the enabled rolls of the store.

    One RPM per name and architecture (highest version-release wins), comps groups merged,
    repodata by createrepo_c, swapped in atomically; a re-run with no change does no work.
    An enabled OS roll (an installation DVD added with `rocks add roll`) is required: it brings
    the base packages and the installer; without one this is an error (force=yes overrides).
    """
    from rocks.inventory import queries as q
    from rocks.packages.distro import create_distro as build
    from rocks.packages.roll import read_roll_record

    s = session(ctx)
    store = roll_store(ctx)
    records = []
    for r in q.list_rolls(s):
        path = store / r.name / r.version / r.arch
        if r.enabled and path.is_dir():
            records.append(read_roll_record(path))
    if not any(r.boot_kernel is not None for r in records) and not args["force"]:
        from rocks.packages.distro import no_os_roll

        raise no_os_roll(
            f"no enabled OS roll: the distribution would have no base packages and no "
            f"installer ({len(records)} other roll{'s' if len(records) != 1 else ''} enabled)"
            if records else "no enabled OS roll, and no other roll with packages")
    if not records:
        raise RocksError.of("no-rolls", "no enabled roll in the store carries packages",
                            hint="rocks add roll <iso>; rocks enable roll <name>")
    out = Path(args["dir"]) if args["dir"] else distro_dir(ctx)
    last = [""]
    from rocks.commands._progress import Progress

    with Progress(ctx) as bar:
        tick = bar.callback() if bar.enabled else None

        def progress(stage: str, done: int, total: int) -> None:
            if tick is not None:
                tick(stage, done, total)
            elif stage != last[0] or done == total:
                ctx.stderr.write(f"  {stage}: {done}/{total}\n")
                last[0] = stage

        result = build(records, out, progress=progress)
    if not args["dir"]:
        _record_distro(ctx, s, out)
    if result.unchanged:
        return Text(f"{out}: unchanged ({result.packages} packages)\n")
    return Text(f"{out}: {result.packages} packages, {len(result.groups)} comps groups in "
                f"{result.seconds:.2f} s\n")


def _record_distro(ctx: Context, s: Any, out: Path) -> None:
    """The site's distribution in the inventory: service frontends sharing it are notified
    and mirror it from this frontend's URL (Kickstart_DistroURL)."""
    import hashlib

    from rocks.commands._inventory import cluster_source
    from rocks.inventory.frontends import record_distro
    from rocks.siteconfig import global_settings

    url = global_settings(s, cluster_source(ctx)).get("Kickstart_DistroURL", "")
    repomd = out / "repodata" / "repomd.xml"
    if url and repomd.is_file():
        record_distro(s, hashlib.sha256(repomd.read_bytes()).hexdigest(), url)


@command(keyword("from", default="", metavar="URL",
                 help="the distribution to copy, e.g. http://10.1.1.1:8080/install/distro "
                      "(default: where `rocks create distro` last built it)"),
         keyword("dir", default="", help="output directory (default: <state>/distro)"),
         examples=("rocks sync distro", "rocks sync distro from=http://10.1.1.1:8080/install/distro"))
def sync_distro(ctx: Context, args: dict[str, Any]) -> Result:
    """Mirror the head node's distribution onto this (service) frontend, by content.

    The repodata's checksums decide what to fetch: a package or image whose content this copy
    already has is reused (hard-linked), only the others are downloaded, each checked against
    its checksum. The new copy is swapped in atomically: until then, and if the mirror fails or
    is interrupted, the previous one is served whole. A running service frontend does this by
    itself when `rocks create distro` changes the distribution (start frontend mirror=yes).
    """
    from rocks.commands._progress import Progress
    from rocks.inventory.frontends import current_distro
    from rocks.packages.mirror import mirror_distro

    source = args["from"]
    if not source:
        known = current_distro(session(ctx))
        if known is None:
            raise RocksError.of("no-distro-source", "no distribution has been built for this "
                                "inventory yet, and from= names none",
                                hint="rocks create distro on the head node, or rocks sync distro "
                                     "from=http://<head>:8080/install/distro")
        source = known.url
    out = Path(args["dir"]) if args["dir"] else distro_dir(ctx)
    with Progress(ctx) as bar:
        tick = bar.callback() if bar.enabled else None
        result = mirror_distro(source, out, progress=tick)
    if result.unchanged:
        return Text(f"{out}: unchanged (the same as {source})\n")
    return Text(f"{out}: {len(result.fetched)} files fetched ({result.bytes / 1e6:.1f} MB), "
                f"{result.linked} reused, from {source} in {result.seconds:.2f} s\n")


@command(positional("appliance", help="appliance name"))
def check_appliance(ctx: Context, args: dict[str, Any]) -> Result:
    """Depsolve the appliance's %packages against the distribution, without installing.

    Each missing package or broken dependency is reported with the node file and line that
    asked for it.
    """
    from rocks.inventory import queries as q

    s = session(ctx)
    app = q.get_appliance(s, args["appliance"])
    svc = cluster_service(ctx)
    attrs = svc.preview(app.name, s)
    problems = package_problems(svc.compiler.compile(app.node, attrs).profile,
                                  distro_dir(ctx))
    if problems:
        raise RocksError(*problems)
    return Text(f"{app.name}: every package can be installed\n")


@command(positional("hosts", many=True, help="host names, appliances, rackN or globs"))
def check_host_packages(ctx: Context, args: dict[str, Any]) -> Result:
    """Depsolve each host's %packages against the distribution, without installing."""
    from rocks.commands._hosts import expand_hosts
    from rocks.commands._progress import Progress
    from rocks.profiles import hosts_package_problems

    s = session(ctx)
    names = expand_hosts(s, args["hosts"])
    with Progress(ctx) as bar:
        bar.step(f"depsolving {len(names)} hosts' packages")
        svc = cluster_service(ctx)
        problems = hosts_package_problems(svc, s, names, distro_dir(ctx))
    if problems:
        raise RocksError(*problems)
    return Text(f"{len(names)} hosts: every package can be installed\n")
