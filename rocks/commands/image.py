"""`rocks create image`, `rocks list image`, `rocks remove image`: stateless images built from an
appliance's profile (rocks.images), the way `rocks try` builds a root."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rocks.commands import Context, Result, Rows, Text, command, keyword, positional
from rocks.commands._inventory import cluster_service, distro_dir, session
from rocks.commands._sync import sync_root
from rocks.model.inventory import STATELESS


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


@command(positional("appliances", many=True, metavar="APPLIANCE", help="appliance names"),
         keyword("force", bool, default=False,
                 help="build again even when an image with the same digest exists"),
         keyword("timeout", float, default=600.0, metavar="seconds",
                 help="longest one %post script may run"),
         examples=("rocks create image compute",))
def create_image(ctx: Context, args: dict[str, Any]) -> Result:
    """Build the stateless image of appliances: their packages and %post, as a node gets them.

    The root is built as `rocks try appliance` builds it (dnf from the distribution, each %post
    chrooted), with the appliance's attribute values; values naming one host and secret values
    are left empty (a stateless node fetches its own at boot). It is stripped, given the
    stateless /init, and packed as a gzip'd cpio initramfs beside the kernel it installs. An
    image is named by its content (profile + distribution digest): an appliance whose image is
    current is not built again. Stateless hosts of the appliance boot the new image at their
    next boot (`rocks list host image` shows who needs one). Needs
    root.
    """
    from rocks.commands._progress import Progress
    from rocks.images import build_image
    from rocks.inventory import queries as q

    s = session(ctx)
    svc = cluster_service(ctx)
    root, repo = sync_root(ctx), distro_dir(ctx)
    lines: list[str] = []
    with Progress(ctx) as progress:
        for name in dict.fromkeys(args["appliances"]):
            app = q.get_appliance(s, name)
            progress.step(f"{name}: compiling")
            attrs = svc.preview(app.name, s)
            compiled = svc.compiler.compile(app.node, attrs)
            secret = svc.compiler.declared_secret | q.resolve_appliance_attrs(s, name).secret

            def step(text: str, app: str = name) -> None:
                progress.step(f"{app}: {text}")

            res = build_image(compiled.profile, attrs, secret, name, repo, root,
                              force=args["force"], script_timeout=args["timeout"], step=step)
            m = res.manifest
            if not res.built:
                lines.append(f"image {name} {m.short}: unchanged (built {m.created})")
                continue
            lines.append(f"image {name} {m.short}: {m.packages} packages, {m.files} files, "
                         f"root {_mb(m.root_bytes)} -> initrd {_mb(m.initrd_bytes)} + kernel "
                         f"{_mb(m.kernel_bytes)} ({m.kernel_version}), {m.build_seconds:.1f} s")
    return Text("\n".join(lines) + "\n")


@command(positional("appliances", many=True, default=(), metavar="APPLIANCE",
                    help="appliance names (none: all)"),
         tabular=True, examples=("rocks list image", "rocks list image compute"))
def list_image(ctx: Context, args: dict[str, Any]) -> Result:
    """List stateless images: appliance, digest, when built, sizes, and which one hosts boot."""
    from rocks.images import current_images, list_images

    root = sync_root(ctx)
    wanted = set(args["appliances"])
    current = current_images(root)
    rows = [(m.appliance, m.short, m.created, m.kernel_version, m.packages,
             _mb(m.initrd_bytes), "yes" if current.get(m.appliance) == m else "no")
            for m in list_images(root) if not wanted or m.appliance in wanted]
    return Rows(("appliance", "image", "created", "kernel", "packages", "size", "current"), rows)


@command(positional("appliance", help="appliance name"),
         keyword("image", default="", metavar="digest",
                 help="the image's digest or its start (none: every image of the appliance)"),
         examples=("rocks remove image compute", "rocks remove image compute image=3f2a9c"))
def remove_image(ctx: Context, args: dict[str, Any]) -> Result:
    """Remove stateless images of an appliance (all of them, or the one named by image=).

    When the current image goes, the newest remaining one becomes current; with none left, the
    appliance's stateless hosts cannot boot until `rocks create image` builds one (a warning
    names them).
    """
    from rocks.images import current_images
    from rocks.images import remove_image as remove
    from rocks.inventory import queries as q

    s = session(ctx)
    name = args["appliance"]
    q.get_appliance(s, name)
    root = sync_root(ctx)
    gone = remove(root, name, args["image"])
    if name not in current_images(root):
        hosts = [h.name for h in q.list_hosts(s) if h.appliance == name
                 and h.run_action == "stateless"]
        if hosts:
            ctx.warn(f"{len(hosts)} stateless host(s) of {name} have no image to boot now "
                     f"({', '.join(hosts[:5])}{' …' if len(hosts) > 5 else ''})",
                     f"rocks create image {name}, or rocks set host boot … action=os")
    return Text("".join(f"removed image {m.appliance} {m.short}\n" for m in gone))


def _age(when: datetime, now: datetime) -> str:
    s = max(0, int((now - when).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            return f"{s // size}{unit} ago"
    return f"{s}s ago"


@command(positional("hosts", many=True, default=(), metavar="HOST",
                    help="host names, appliance names, rackN, globs (none: all)"),
         tabular=True, examples=("rocks list host image", "rocks list host image compute"))
def list_host_image(ctx: Context, args: dict[str, Any]) -> Result:
    """List stateless hosts: the image their appliance boots now (digest, age), the image each
    last reported running, and whether it needs a reboot to pick up the current one."""
    from rocks.commands._hosts import expand_hosts
    from rocks.images import current_images
    from rocks.inventory import queries as q
    from rocks.inventory.events import running_images

    s = session(ctx)
    names = expand_hosts(s, args["hosts"]) if args["hosts"] else None
    hosts = [h for h in q.list_hosts(s, names) if h.run_action == STATELESS
             and h.boot.value == "os"]
    images = current_images(sync_root(ctx))
    running = running_images(s, [h.name for h in hosts])
    now = datetime.now(UTC)
    rows = []
    for h in hosts:
        m = images.get(h.appliance)
        seen = running.get(h.name)
        reboot = "" if m is None or seen is None else ("no" if seen[1] == m.digest else "yes")
        rows.append((h.name, h.appliance, m.short if m else None,
                     _age(m.created_at, now) if m else None,
                     seen[1][:12] if seen else None, _age(seen[0], now) if seen else None,
                     reboot or None))
    return Rows(("host", "appliance", "image", "built", "running", "up", "reboot"), rows)
