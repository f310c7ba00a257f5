"""Commands on the running cluster: run a command on nodes, node status, who may log in.

`run host` and `list host status` read the inventory in one short transaction, talk to the
nodes outside any transaction (an SQLite write lock must not be held for 30 s), then record what
they learnt in a second one. The work itself lives in `rocks.remote`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rocks.commands import Context, Result, Rows, command, keyword, positional
from rocks.errors import RocksError

if TYPE_CHECKING:
    from rocks.inventory import Inventory
    from rocks.inventory.db import Session
    from rocks.model.inventory import ResolvedAttributes
    from rocks.remote.access import Caller
    from rocks.remote.ssh import HostResult, Target

SOME_HOSTS = positional("hosts", many=True, default=(), metavar="HOST",
                        help="host names, appliance names, rackN or globs (none: all hosts)")
HOSTS = positional("hosts", many=True, metavar="HOST",
                   help="host names, appliance names, rackN or globs")
TIMEOUT = keyword("timeout", float, default=30.0, metavar="SECONDS",
                  help="give up on a node (killing its ssh) after this long")
THREADS = keyword("num-threads", int, default=128,
                  help="how many nodes to talk to at once")
ACCESS = (
    keyword("users", default=None, metavar="USER,…",
            help="login names allowed on the nodes (empty: inherit from the wider scope)"),
    keyword("groups", default=None, metavar="GROUP,…",
            help="groups whose members are allowed (empty: inherit from the wider scope)"),
)


def _state(ctx: Context) -> Path:
    from rocks.commands._cluster_key import state_dir

    return state_dir(ctx)


def _inventory(ctx: Context) -> Inventory:
    from rocks.commands._inventory import database_url_from
    from rocks.inventory import open_inventory

    inv = open_inventory(database_url_from(ctx.env))
    ctx.resources.callback(inv.close)
    return inv


def _caller(ctx: Context) -> Caller:
    """The calling user; tests inject another through the `caller` service."""
    from rocks.remote.access import caller_of_process

    try:
        caller: Caller = ctx.service("caller")
    except LookupError:
        return caller_of_process()
    return caller


def _publish_key(s: Session, key: Path) -> None:
    from rocks.commands._cluster_key import publish

    publish(s, key)


def _truthy(value: str) -> bool:
    return value.strip().lower() in ("yes", "true", "on", "1", "y")


def _select(s: Session, words: tuple[str, ...]) -> tuple[list[str], dict[str, ResolvedAttributes]]:
    """Hosts named by `words` and their attributes; with no words, every managed host."""
    from rocks.commands._hosts import expand_hosts
    from rocks.inventory import queries as q

    names = expand_hosts(s, words)
    attrs = q.resolve_attrs_many(s, names)
    if not words:
        names = [n for n in names if _truthy(attrs[n].values.get("managed", "yes"))]
    return names, attrs


def _target(name: str, attrs: ResolvedAttributes) -> Target | None:
    from rocks.remote.ssh import Target
    from rocks.remote.status import address_of

    try:
        endpoint = address_of(attrs.values)
    except ValueError:
        raise RocksError.of(
            "bad-ssh-port", f"{name}: ssh_port {attrs.values['ssh_port']!r} is not a number",
            hint=f"rocks set host attr {name} ssh_port 22") from None
    return None if endpoint is None else Target(name, *endpoint)


def _check_limits(args: dict[str, Any]) -> None:
    if args["timeout"] <= 0:
        raise RocksError.of("bad-timeout", "timeout must be more than 0 seconds")
    if args["num-threads"] < 1:
        raise RocksError.of("bad-num-threads", "num-threads must be at least 1")


def _fan_out(ctx: Context, args: dict[str, Any], jobs: dict[str, str],
             attrs: dict[str, ResolvedAttributes], caller: Caller,
             learn: bool = False) -> list[HostResult]:
    """Run each host's command; refused and address-less hosts become results too."""
    from rocks.remote.access import AccessRules, allowed
    from rocks.remote.ssh import HostResult, Outcome, SshConfig, cluster_key, known_hosts, run_jobs

    state = _state(ctx)
    config = SshConfig(
        known_hosts=known_hosts(state),
        identity=cluster_key(state) if caller.is_root else None,
        user="root" if caller.is_root else None,
        timeout=args["timeout"],
        host_key_checking="accept-new" if learn and caller.is_root else "yes",
    )
    results: list[HostResult] = []
    todo = []
    for name, cmd in jobs.items():
        if not allowed(AccessRules.from_attrs(attrs[name].values), caller):
            results.append(HostResult(name, Outcome.REFUSED,
                                      detail=f"access rules do not admit {caller.user}"))
            continue
        target = _target(name, attrs[name])
        if target is None:
            results.append(HostResult(name, Outcome.NO_ADDRESS,
                                      detail="no interface address and no ssh_address"))
            continue
        todo.append((target, cmd))
    from rocks.commands._progress import Progress

    with Progress(ctx, enabled=len(todo) > 1) as bar:
        tick = bar.step(f"{len(todo)} nodes", len(todo))
        finished = [0]

        def one_more(_result: HostResult) -> None:
            finished[0] += 1
            tick(finished[0])

        return results + run_jobs(todo, config, args["num-threads"], one_more)


def _record_runs(ctx: Context, inv: Inventory, results: list[HostResult]) -> None:
    from rocks.remote.ssh import Outcome
    from rocks.remote.status import Source, State, record

    seen = {r.host: (State.UP, Source.RUN.value) for r in results if r.connected}
    if not seen:
        return
    try:
        with inv.transaction() as s:
            record(s, seen, ran=[r.host for r in results if r.outcome is Outcome.OK])
    except (RocksError, OSError) as exc:
        ctx.warn(f"could not record the run in the inventory: {exc}")


def _finish(ctx: Context, results: list[HostResult]) -> None:
    """Summary on stderr; exit status 2 unless every host succeeded."""
    from rocks.remote.report import problems, summary
    from rocks.remote.ssh import Outcome

    unusual = (Outcome.HOST_KEY, Outcome.UNKNOWN_KEY, Outcome.DENIED, Outcome.ERROR)
    for line in problems([r for r in results if r.outcome in unusual]):
        ctx.stderr.write(line + "\n")
    if any(r.outcome in (Outcome.HOST_KEY, Outcome.UNKNOWN_KEY) for r in results):
        known = _state(ctx) / "ssh" / "known_hosts"
        ctx.stderr.write(
            f"  hint: a reinstalled node has a new key: ssh-keygen -R <host> -f {known}, "
            "then rerun with hostkey=learn to record keys of nodes you trust\n")
    ctx.stderr.write(summary(results) + "\n")
    bad = [r for r in results if r.outcome is not Outcome.OK]
    if bad:
        raise RocksError.of("run-failed",
                            f"{len(bad)} of {len(results)} hosts did not succeed")


@command(
    positional("hosts", many=True, default=(), metavar="HOST",
               help="host names, appliance names, rackN or globs (none: all managed hosts)"),
    keyword("command", help="the shell command line to run on each node"),
    TIMEOUT, THREADS,
    keyword("collate", bool, default=False, help="prefix every output line with its host"),
    keyword("group", bool, default=None,
            help="print identical outputs once under the list of their hosts "
                 "(default: yes unless collate=yes)"),
    keyword("hostkey", default="strict", choices=("strict", "learn"),
            help="strict: only nodes whose key is recorded; learn: record unknown keys "
                 "(a changed key is refused either way)"),
    examples=('rocks run host command="uptime"',
              'rocks run host compute rack1 command="systemctl is-active slurmd" timeout=10',
              'rocks run host compute-0-[0-3] command="df -h /" collate=yes'),
)
def run_host(ctx: Context, args: dict[str, Any]) -> Result:
    """Run a command on many nodes at once over SSH with the frontend's cluster key.

    Nodes are reached at their install-network address (host attributes ssh_address and
    ssh_port override it), num-threads at a time; a node that does not finish within timeout
    seconds is killed and reported. Output is grouped like `dshbak -c` (or collated with
    collate=yes), in host order. A summary of the outcomes ends on stderr; the exit status is
    0 when every node ran the command with status 0, else 2. With no host, all managed hosts.
    A caller who is not root uses their own SSH keys and login, and nodes whose access rules
    (rocks set host access) do not admit them are refused without being contacted.
    """
    from rocks.remote.report import collated, grouped
    from rocks.remote.ssh import cluster_key

    _check_limits(args)
    if not args["command"].strip():
        raise RocksError.of("empty-command", "command is empty", hint='command="uptime"')
    caller = _caller(ctx)
    inv = _inventory(ctx)
    with inv.transaction(readonly=not caller.is_root) as s:
        names, attrs = _select(s, tuple(args["hosts"]))
        if caller.is_root:
            _publish_key(s, cluster_key(_state(ctx)))
    results = _fan_out(ctx, args, dict.fromkeys(names, args["command"]), attrs, caller,
                       learn=args["hostkey"] == "learn")
    _record_runs(ctx, inv, results)
    group = not args["collate"] if args["group"] is None else args["group"]
    ctx.stdout.write(collated(results) if args["collate"] else grouped(results, group))
    _finish(ctx, results)
    return None


@command(
    SOME_HOSTS,
    keyword("probe", bool, default=False,
            help="ask each node's sshd now (up only if it sends its SSH banner); no: the last "
                 "observation"),
    keyword("timeout", float, default=2.0, metavar="SECONDS", help="probe timeout per node"),
    keyword("num-threads", int, default=512, help="probes in flight at once"),
    keyword("stall-after", float, default=300.0, metavar="SECONDS",
            help="an install without news for this long is stalled"),
    tabular=True,
    examples=("rocks list host status", "rocks list host status compute probe=yes"),
)
def list_host_status(ctx: Context, args: dict[str, Any]) -> Result:
    """Show each node's state — up, down, installing, stalled or unknown — since when, and how
    it was learnt (install-events, probe, run-host).

    Installs are followed through their install events. Otherwise, by default, the last
    observation is shown (no network traffic): an earlier probe or the last successful `rocks
    run host`. probe=yes asks each node now: it is up when its sshd sends its SSH banner
    (an accepted TCP connection alone is not enough), down otherwise. SINCE is UTC.
    """
    from rocks.commands._hosts import expand_hosts
    from rocks.commands._progress import Progress
    from rocks.remote.status import statuses

    _check_limits(args)
    inv = _inventory(ctx)
    with inv.transaction(readonly=True) as s:
        names = expand_hosts(s, tuple(args["hosts"]))
    with Progress(ctx, enabled=args["probe"]) as bar:
        bar.step(f"probing {len(names)} hosts")
        found = statuses(inv, names, probe=args["probe"], timeout=args["timeout"],
                         parallel=args["num-threads"], stall_after=args["stall-after"])
    return Rows(("host", "state", "since", "source"), (
        (st.host, st.state.value,
         st.since.strftime("%Y-%m-%d %H:%M:%S") if st.since else None, st.source)
        for st in found))


def _set_access(ctx: Context, args: dict[str, Any], scope: str, targets: list[str]) -> None:
    from rocks.inventory import queries as q
    from rocks.remote.access import GROUPS_ATTR, USERS_ATTR, check_names, split_names

    if args["users"] is None and args["groups"] is None:
        raise RocksError.of("nothing-to-set", "give users= or groups= (or both)",
                            hint="rocks set host access compute users=alice groups=hpc")
    from rocks.commands._inventory import session

    s = session(ctx)
    for attr, key in ((USERS_ATTR, "users"), (GROUPS_ATTR, "groups")):
        if args[key] is None:
            continue
        value = ",".join(check_names(key[:-1], split_names(args[key])))
        existing = {a.target for a in q.list_attrs(s, scope) if a.name == attr}
        for target in targets:
            if value:
                q.set_attr(s, scope, target, attr, value)
            elif target in existing:
                q.remove_attr(s, scope, target, attr)


@command(HOSTS, *ACCESS,
         examples=("rocks set host access compute-0-0 compute-0-1 users=alice,bob",
                   "rocks set host access rack2 groups=chemistry",
                   "rocks set host access compute-0-0 users= groups="))
def set_host_access(ctx: Context, args: dict[str, Any]) -> Result:
    """Record who may log in to hosts (attributes access_users and access_groups at host scope).

    An empty value removes the host's own rule, so the appliance's or global one applies. Root
    may always log in. Takes effect at the next install, or now with `rocks sync host access`.
    """
    from rocks.commands._hosts import expand_hosts
    from rocks.commands._inventory import session

    _set_access(ctx, args, "host", expand_hosts(session(ctx), args["hosts"]))
    return None


@command(positional("appliance", help="an appliance name (rocks list appliance)"), *ACCESS,
         examples=("rocks set appliance access login groups=users",
                   "rocks set appliance access compute users=alice groups=hpc"))
def set_appliance_access(ctx: Context, args: dict[str, Any]) -> Result:
    """Record who may log in to hosts of an appliance (host rules take precedence)."""
    from rocks.commands._inventory import session
    from rocks.inventory import queries as q

    name = args["appliance"]
    if name not in {a.name for a in q.list_appliances(session(ctx))}:
        raise RocksError.of("unknown-appliance", f'unknown appliance "{name}"',
                            hint="see `rocks list appliance`")
    _set_access(ctx, args, "appliance", [name])
    return None


@command(SOME_HOSTS, tabular=True,
         examples=("rocks list host access", "rocks list host access login"))
def list_host_access(ctx: Context, args: dict[str, Any]) -> Result:
    """List who may log in to each host, and the scope each rule comes from ('-': anyone)."""
    from rocks.commands._hosts import expand_hosts
    from rocks.commands._inventory import session
    from rocks.inventory import queries as q
    from rocks.remote.access import GROUPS_ATTR, USERS_ATTR, AccessRules

    s = session(ctx)
    names = expand_hosts(s, args["hosts"])
    attrs = q.resolve_attrs_many(s, names)
    rows = []
    for name in names:
        a = attrs[name]
        rules = AccessRules.from_attrs(a.values)
        scopes = sorted({str(a.sources[k]) for k in (USERS_ATTR, GROUPS_ATTR)
                         if a.values.get(k)})
        rows.append((name, ",".join(rules.users) or None, ",".join(rules.groups) or None,
                     ",".join(scopes) or None))
    return Rows(("host", "users", "groups", "source"), rows)


@command(HOSTS, TIMEOUT, THREADS,
         examples=("rocks set host access compute users=alice && rocks sync host access compute",))
def sync_host_access(ctx: Context, args: dict[str, Any]) -> Result:
    """Write each running node's pam_access rules (/etc/security/access.conf) over SSH, as its
    kickstart would, and enable pam_access (authselect) — no reinstall needed. Root only."""
    from rocks.remote.access import ACCESS_FILE, FILE_ATTR, AccessRules, sync_script

    _check_limits(args)
    caller = _caller(ctx)
    if not caller.is_root:
        raise RocksError.of("not-root", "only root may change the access rules of nodes")
    inv = _inventory(ctx)
    with inv.transaction() as s:
        names, attrs = _select(s, tuple(args["hosts"]))
        from rocks.remote.ssh import cluster_key

        _publish_key(s, cluster_key(_state(ctx)))
    jobs = {n: sync_script(AccessRules.from_attrs(attrs[n].values),
                           attrs[n].values.get(FILE_ATTR) or ACCESS_FILE) for n in names}
    results = _fan_out(ctx, args, jobs, attrs, caller)
    _record_runs(ctx, inv, results)
    _finish(ctx, results)
    return None
