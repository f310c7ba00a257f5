"""Every benchmark in one run, with Cobbler 3.3.10's counterparts interleaved, and one summary.

Each round runs, for each cluster size, our size-dependent benchmarks and then Cobbler's
harness at the same size (../shared/bench/cobbler, when its setup.sh has been run; the order
alternates between rounds so that a drift in the machine's load favours neither), then the
benchmarks that do not depend on the size. Every JSON line of every round is kept
(<out>/records.jsonl); the summary (<out>/summary.json, and --summary, e.g. bench/summary.json)
holds the medians over the rounds per (system, op, n, variant) and the headline comparisons —
ours, Cobbler's, the ratio, the target — that bench/readme_table.py turns into the README's
speed table.

    .venv/bin/python bench/all.py                          # 3 rounds at 1,000 and 10,000 hosts
    .venv/bin/python bench/all.py --summary bench/summary.json
    .venv/bin/python bench/all.py --smoke --out /tmp/x     # every benchmark at ~20, one round

A benchmark that fails is recorded in the summary's "failures" and the run goes on; the exit
status is then 1.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
COBBLER_HARNESS = Path(os.environ.get("COBBLER_HARNESS",
                                      REPO.parent / "shared" / "bench" / "cobbler"))
COBBLER_VENV = Path(os.environ.get("COBBLER_VENV", "/tmp/cobbler-venv"))
COBBLER_ROOT = Path(os.environ.get("COBBLER_ROOT", "/tmp/cobbler-bench-root"))


@dataclass(frozen=True)
class Bench:
    name: str
    script: str
    sized: bool  # takes --hosts N and runs once per size
    full: tuple[str, ...] = ()
    smoke: tuple[str, ...] = ()
    ops: tuple[str, ...] = field(default=())  # what a run must print (the smoke test checks)


BENCHES: tuple[Bench, ...] = (
    Bench("inventory", "inventory.py", True, ("--reps", "3", "--callgrind"),
          ("--reps", "1", "--add-reps", "1"),
          ("load_hostfile", "reload_hostfile_unchanged", "add_host", "startup_version",
           "list_host", "dump", "list_host_profile")),
    Bench("sync", "sync.py", True, ("--reps", "3"), ("--reps", "1", "--installing", "tenth"),
          ("sync_config", "sync_config_nochange", "sync_config_full", "set_interface_mac",
           "sync_config_one_change",
           "one_host_mac_sync", "set_host_boot_install", "set_host_boot_os", "new_host_live")),
    Bench("serve", "serve.py", True, ("--seconds", "5"),
          ("--seconds", "1", "--clients", "8", "--distro-mb", "1", "--distro-clients", "8"),
          ("frontend_start", "serve_kickstart_wrk", "serve_nginx_wrk", "serve_kickstart_py",
           "frontend_memory_after_load", "serve_distro_wrk", "serve_distro_nginx_wrk")),
    Bench("serve-tenth", "serve.py", True, ("--installing", "tenth"), ("--installing", "tenth"),
          ("frontend_start",)),
    Bench("compile", "compile.py", False, ("--hosts", "10000", "--reps", "5"),
          ("--hosts", "20", "--reps", "1"),
          ("load_merge_corpus", "compile_appliance", "per_request_walk", "render_host",
           "render_hosts")),
    Bench("distro", "distro.py", False, ("5000", "3"), ("20", "1"),
          ("add_roll_dir", "create_distro_cold", "create_distro_one_changed",
           "create_distro_unchanged", "depsolve_subprocess")),
    Bench("run", "run.py", False, (),
          ("--nodes", "4", "--spaces", "2", "--probes", "20", "--reps", "1"),
          ("list_host_status_probe", "run_host_hostname")),
)

# Fields that tell two measurements of one op apart (besides system, op, n).
IDENTITY = ("installing", "clients", "worker", "file_mb", "ranged")
# Fields whose median over the rounds the summary keeps.
VALUES = ("seconds", "per_item_ms", "cpu_seconds", "unqueued_seconds", "rate", "rps", "p50_ms",
          "p95_ms", "p99_ms", "rss_mb", "peak_rss_mb", "cobblerd_rss_mb", "gunicorn_worker_rss_mb",
          "instructions", "mean_bytes", "bytes", "body_bytes", "written", "installing_hosts",
          "mib_s")


def cobbler_ready() -> str:
    """'' when Cobbler's harness can run here, else why not."""
    if not (COBBLER_HARNESS / "bench.py").is_file():
        return f"no harness at {COBBLER_HARNESS}"
    if not (COBBLER_VENV / "bin" / "python").exists():
        return f"no venv at {COBBLER_VENV} (run {COBBLER_HARNESS}/setup.sh)"
    if not (COBBLER_ROOT / "upper" / "etc" / "cobbler").is_dir():
        return f"no throwaway root at {COBBLER_ROOT} (run {COBBLER_HARNESS}/setup.sh)"
    return ""


def json_lines(text: str) -> tuple[list[dict[str, Any]], list[str]]:
    """The JSON objects a benchmark printed, one per line, and the lines that did not parse."""
    good: list[dict[str, Any]] = []
    bad: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            good.append(dict(json.loads(line)))
        except (json.JSONDecodeError, TypeError, ValueError):
            bad.append(line)
    return good, bad


@dataclass
class Runner:
    out: Path
    smoke: bool
    records: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    loads: list[float] = field(default_factory=list)

    def _keep(self, recs: Iterable[dict[str, Any]], **tags: Any) -> None:
        with open(self.out / "records.jsonl", "a") as fh:
            for rec in recs:
                rec.update(tags)
                self.records.append(rec)
                fh.write(json.dumps(rec) + "\n")

    def _run(self, argv: Sequence[str], label: str, env: dict[str, str], **tags: Any) -> None:
        self.loads.append(os.getloadavg()[0])
        sys.stderr.write(f"[all] {label}\n")
        t0 = time.perf_counter()
        done = subprocess.run(list(argv), capture_output=True, text=True, env=env, check=False)
        took = time.perf_counter() - t0
        self.loads.append(os.getloadavg()[0])
        with open(self.out / "stderr.log", "a") as fh:
            fh.write(f"==== {label} (rc {done.returncode}, {took:.1f} s)\n{done.stderr}\n")
        good, bad = json_lines(done.stdout)
        self._keep(good, **tags)
        if done.returncode or bad:
            why = done.stderr.strip()[-1500:] if done.returncode else f"bad JSON lines: {bad[:3]}"
            self.failures.append({**tags, "rc": done.returncode, "stderr": why})
            sys.stderr.write(f"[all] FAILED {label}: {why[-400:]}\n")

    def ours(self, bench: Bench, rnd: int, n: int | None) -> None:
        argv = [sys.executable, str(REPO / "bench" / bench.script),
                *(bench.smoke if self.smoke else bench.full)]
        if n is not None:
            argv += ["--hosts", str(n)]
        env = {**os.environ, "ROCKS_BENCH_OUT": str(self.out / "rocks")}
        if self.smoke:
            env["ROCKS_BENCH_CACHE"] = str(self.out / "rpm-cache")
        label = f"round {rnd}: {bench.name}" + (f" n={n}" if n is not None else "")
        self._run(argv, label, env, round=rnd, bench=bench.name)

    def cobbler(self, rnd: int, n: int, http_requests: int) -> None:
        jsonl = self.out / "cobbler" / f"round{rnd}-n{n}.jsonl"
        jsonl.parent.mkdir(parents=True, exist_ok=True)
        argv = [str(COBBLER_VENV / "bin" / "python"), str(COBBLER_HARNESS / "bench.py"),
                "--sizes", str(n), "--reps", "1", "--no-sync-repeat",
                "--http-requests", str(http_requests), "--out", str(jsonl),
                "--logdir", str(self.out / "cobbler" / "logs")]
        (self.out / "cobbler" / "logs").mkdir(exist_ok=True)
        before = len(self.records)
        self._run(argv, f"round {rnd}: cobbler n={n}", dict(os.environ), round=rnd,
                  bench="cobbler")
        # its own per-invocation medians and its meta line are not measurements
        self.records[before:] = [r for r in self.records[before:]
                                 if not r.get("stat") and r.get("op") != "meta"]


def git_commit() -> str:
    done = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True, check=False)
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "rocks"],
                           capture_output=True, text=True, check=False).stdout.strip()
    return done.stdout.strip() + ("+changes" if dirty else "")


# ---------------------------------------------------------------------------- summary


def _key(rec: dict[str, Any]) -> tuple[Any, ...]:
    return (rec.get("system"), rec.get("op"), rec.get("n"),
            *(rec.get(k) for k in IDENTITY))


def medians(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (system, op, n, variant): the median of each value over the rounds."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for rec in records:
        if rec.get("seconds") is None or rec.get("op") == "meta":
            continue
        groups.setdefault(_key(rec), []).append(rec)
    rows = []
    for key, recs in groups.items():
        row: dict[str, Any] = {"system": key[0], "op": key[1], "n": key[2]}
        row.update({k: v for k, v in zip(IDENTITY, key[3:], strict=True) if v is not None})
        row["rounds"] = len(recs)
        for name in VALUES:
            vals = [r[name] for r in recs if isinstance(r.get(name), int | float)]
            if vals:
                row[name] = round(statistics.median(vals), 6)
        bests = [r["best_seconds"] for r in recs if isinstance(r.get("best_seconds"), int | float)]
        if bests:
            row["best_seconds"] = min(bests)  # the best of every round
        secs = [r["seconds"] for r in recs]
        row["min_seconds"], row["max_seconds"] = round(min(secs), 6), round(max(secs), 6)
        if recs[0].get("version"):
            row["version"] = recs[0]["version"]
        rows.append(row)
    rows.sort(key=lambda r: (r["system"], r["op"], r["n"] or 0, str(r.get("installing")),
                             r.get("clients") or 0, str(r.get("worker"))))
    return rows


class Table:
    """Lookups into the median rows."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows

    def get(self, system: str, op: str, n: int | None = None, **ident: Any
            ) -> dict[str, Any] | None:
        for r in self.rows:
            if r["system"] == system and r["op"] == op and (n is None or r["n"] == n) and all(
                    r.get(k) == v for k, v in ident.items()):
                return r
        return None

    def sizes(self, system: str, op: str) -> list[int]:
        return sorted({r["n"] for r in self.rows if r["system"] == system and r["op"] == op})


def _ms(seconds: float) -> str:
    ms = seconds * 1000
    return f"{ms:.3f} ms" if ms < 1 else f"{ms:.1f} ms" if ms < 100 else f"{ms:.0f} ms"


def _s(seconds: float) -> str:
    return _ms(seconds) if seconds < 1 else f"{seconds:.2f} s"


def _rate(rate: float) -> str:
    return f"{rate:,.0f}/s"


def _mib(mb: float) -> str:
    return f"{mb:.0f} MiB"


def _proc(r: dict[str, Any], extra: str = "", more: str = "") -> str:
    """A whole-process figure: the median wall time, that less the wait for a CPU
    ("unqueued"), the CPU time used, and `more`."""
    parts = []
    if "unqueued_seconds" in r:
        parts.append(f"{_s(r['unqueued_seconds'])} unqueued")
    if "cpu_seconds" in r:
        parts.append(f"CPU {_s(r['cpu_seconds'])}")
    if more:
        parts.append(more)
    return _s(r["seconds"]) + extra + (f" ({', '.join(parts)})" if parts else "")


def _within(r: dict[str, Any], limit: float) -> dict[str, Any]:
    """met: the median wall time is within the limit; met_unqueued: the wall time less the
    wait for a CPU is (what an idle machine would show)."""
    return {"met": r["seconds"] <= limit,
            "met_unqueued": r["unqueued_seconds"] <= limit if "unqueued_seconds" in r else None}


TOPICS = {"render": "Render", "sync": "Full sync", "one host": "One host",
          "bulk": "Bulk load", "serve": "Kickstarts/s", "nginx": "nginx", "memory": "Memory",
          "distro": "Distribution"}
NOTES = {
    "render": "ours renders the Rocks 7 compute appliance (~46 KB) from the compile cache; "
              "Cobbler renders its stock sample.ks (~6.5 KB)",
    "sync": "Cobbler's is api.sync() in process with every system netboot-enabled, i.e. all "
            "installing",
    "one host": "Cobbler's counterpart is one api.add_system() with its default sync (PXE "
                "files, menu, the whole dhcpd.conf), in process: what `cobbler system add` "
                "makes the daemon do",
    "bulk": "Cobbler's is api.add_system(with_sync=False) per system, in process",
    "serve": "wrk with keep-alive connections for ours and nginx; Cobbler's client opens a "
             "connection per request (8 threads), through gunicorn to cobblerd",
    "nginx": "ratio = ours ÷ nginx, the lower of 64 and 512 clients",
    "distro": "wrk -t1 against the frontend's sendfile path and nginx (sendfile on) serving "
              "the same files in the same run; ratio = ours ÷ nginx, the lower of whole and "
              "ranged",
    "memory": "peak RSS of the frontend process after the load; Cobbler: cobblerd's after "
              "2,000 kickstarts",
}


def headline(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The comparisons the README shows: what, ours, Cobbler's, ratio, target, met."""
    t = Table(rows)
    out: list[dict[str, Any]] = []

    def add(topic: str, what: str, ours: str, cobbler: str = "", ratio: float | None = None,
            target: str = "", met: bool | None = None, better: str = "lower",
            met_unqueued: bool | None = None) -> None:
        out.append({"topic": topic, "what": what, "ours": ours, "cobbler": cobbler,
                    "ratio": None if ratio is None else round(ratio, 4), "better": better,
                    "target": target, "met": met, "met_unqueued": met_unqueued,
                    "note": f"{TOPICS[topic]}: {NOTES[topic]}" if topic in NOTES else ""})

    def cob(op: str, n: int | None) -> dict[str, Any] | None:
        if n is not None and (hit := t.get("cobbler", op, n)):
            return hit
        sizes = t.sizes("cobbler", op)
        return t.get("cobbler", op, sizes[-1]) if sizes else None

    r = t.get("rocks", "render_host")
    c = cob("render_autoinstall", None)
    if r:
        add("render", "warm render of one kickstart (in process)", _ms(r["per_item_ms"] / 1000),
            f"{_ms(c['per_item_ms'] / 1000)} (n={c['n']:,})" if c else "",
            r["per_item_ms"] / c["per_item_ms"] if c else None, "< 0.2 ms",
            r["per_item_ms"] < 0.2)

    for n in t.sizes("rocks", "sync_config"):
        for installing in ("all", "tenth"):
            r = t.get("rocks", "sync_config", n, installing=installing)
            if not r:
                continue
            c = t.get("cobbler", "sync_full", n) if installing == "all" else None
            limit = 1.5 if n >= 10000 else None
            add("sync", f"full `rocks sync config`, {n:,} hosts, "
                f"{'all' if installing == 'all' else '10 %'} installing",
                _proc(r, f" = {r['per_item_ms']:.2f} ms/host"),
                f"{_s(c['seconds'])} = {c['per_item_ms']:.2f} ms/system" if c else "",
                r["per_item_ms"] / c["per_item_ms"] if c else None,
                "≤ 1.5 s" if limit else "", **(_within(r, limit) if limit else {}))

    for n in t.sizes("rocks", "sync_config_full"):
        for installing in ("all", "tenth"):
            r = t.get("rocks", "sync_config_full", n, installing=installing)
            if r:
                add("sync", f"`rocks sync config full=yes` over the tree in place (every host "
                    f"planned, nothing to write), {n:,} hosts, "
                    f"{'all' if installing == 'all' else '10 %'} installing",
                    _proc(r, f" = {r['seconds'] / n * 1000:.2f} ms/host"),
                    target="≤ 1.5 s" if n >= 10000 else "",
                    **(_within(r, 1.5) if n >= 10000 else {}))

    for n in t.sizes("rocks", "set_interface_mac"):
        c = t.get("cobbler", "add_system_synced", n)
        for op, what in (("set_interface_mac", "one host changed → live: `set host interface "
                                               "mac …` (it writes the files itself)"),
                         ("one_host_mac_sync", "the same with sync=no, then `sync config`"),
                         ("set_host_boot_install", "one host to reinstall: `set host boot … "
                                                   "action=install`"),
                         ("new_host_live", "new host live: `add host` + `add host interface` "
                                           "(live at once)")):
            r = t.get("rocks", op, n, installing="tenth") or t.get("rocks", op, n)
            if not r:
                continue
            limit = 0.1 if op in ("set_interface_mac", "set_host_boot_install") else None
            add("one host", f"{what}, {n:,} hosts", _proc(r),
                _s(c["per_item_ms"] / 1000) if c else "",
                r["seconds"] / (c["per_item_ms"] / 1000) if c else None,
                "≤ 100 ms" if limit else "", **(_within(r, limit) if limit else {}))

    for n in t.sizes("rocks", "add_host"):
        r = t.get("rocks", "add_host", n)
        c = t.get("cobbler", "add_system_synced", n)
        ins = t.get("rocks", "add_host_instructions", n)
        assert r is not None
        more = f"{ins['instructions'] / 1e6:,.0f} M instructions" if ins else ""
        add("one host", f"one `rocks add host` at {n:,} hosts", _proc(r, more=more),
            _s(c["per_item_ms"] / 1000) if c else "",
            r["seconds"] / (c["per_item_ms"] / 1000) if c else None, "≤ 150 ms",
            **_within(r, 0.15))
    for n in t.sizes("rocks", "startup_version")[-1:]:
        r = t.get("rocks", "startup_version", n)
        assert r is not None
        add("floor", "`rocks --version` (interpreter + CLI, no command)", _proc(r))

    for n in t.sizes("rocks", "load_hostfile"):
        r = t.get("rocks", "load_hostfile", n)
        c = t.get("cobbler", "add_systems", n)
        assert r is not None
        add("bulk", f"bulk load {n:,} hosts (`load hostfile`)",
            _proc(r, f" = {r['per_item_ms']:.3f} ms/host"),
            f"{_s(c['seconds'])} = {c['per_item_ms']:.2f} ms/system" if c else "",
            r["per_item_ms"] / c["per_item_ms"] if c else None,
            "< 5 s" if n >= 10000 else "", **(_within(r, 5.0) if n >= 10000 else {}))

    for n in t.sizes("rocks", "serve_kickstart_wrk"):
        c = t.get("cobbler", "http_autoinstall", n)
        k64, k512 = (t.get("rocks", "serve_kickstart_wrk", n, clients=k) for k in (64, 512))
        x64, x512 = (t.get("rocks", "serve_nginx_wrk", n, clients=k) for k in (64, 512))
        if not (k64 and k512):
            continue
        add("serve", f"kickstarts/s, 1 worker, 64 / 512 clients, {n:,} hosts",
            f"{_rate(k64['rate'])} / {_rate(k512['rate'])}",
            f"{c['rps']:.0f}/s (8 clients)" if c else "",
            k64["rate"] / c["rps"] if c else None, better="higher")
        add("serve", f"kickstart latency p50 / p99 at 512 clients, {n:,} hosts",
            f"{_s(k512['p50_ms'] / 1000)} / {_s(k512['p99_ms'] / 1000)}",
            f"p50 {_s(c['p50_ms'] / 1000)}, p95 {_s(c['p95_ms'] / 1000)} (8 clients)"
            if c and c.get("p50_ms") and c.get("p95_ms") else "",
            target="p99 ≤ 100 ms", met=k512["p99_ms"] <= 100)
        if x64 and x512:
            worst = min(k64["rate"] / x64["rate"], k512["rate"] / x512["rate"])
            add("nginx", f"the same bytes from nginx, same wrk settings, {n:,} hosts",
                f"nginx: {_rate(x64['rate'])} / {_rate(x512['rate'])}", "", worst,
                "ours ≥ 0.5 of nginx", worst >= 0.5, better="nginx")

    for n in t.sizes("rocks", "serve_distro_wrk"):
        for mb in sorted({r["file_mb"] for r in rows if r["op"] == "serve_distro_wrk"
                          and r["n"] == n and r.get("file_mb")}):
            pairs = [(t.get("rocks", "serve_distro_wrk", n, file_mb=mb, ranged=g),
                      t.get("rocks", "serve_distro_nginx_wrk", n, file_mb=mb, ranged=g))
                     for g in (False, True)]
            if not all(o and x for o, x in pairs):
                continue
            worst = min(o["mib_s"] / x["mib_s"] for o, x in pairs)  # type: ignore[index]
            (w, wx), (r_, rx) = pairs
            assert w and wx and r_ and rx
            add("distro", f"`/install/distro`, {mb} MiB files, {w['clients']} clients, whole / "
                f"ranged (middle half), {n:,} hosts",
                f"{w['mib_s']:,.0f} / {r_['mib_s']:,.0f} MiB/s",
                f"nginx: {wx['mib_s']:,.0f} / {rx['mib_s']:,.0f} MiB/s", worst,
                "ours ≥ 0.9 of nginx", worst >= 0.9, better="nginx")

    for n in t.sizes("rocks", "frontend_memory_after_load"):
        r = t.get("rocks", "frontend_memory_after_load", n)
        c = t.get("cobbler", "http_autoinstall", n)
        ten = t.get("rocks", "frontend_start", n, installing="tenth")
        assert r is not None
        cm = c.get("cobblerd_rss_mb") if c else None
        add("memory", f"frontend memory, {n:,} hosts",
            f"{_mib(r['peak_rss_mb'])} all installing"
            + (f", {_mib(ten['peak_rss_mb'])} 10 % installing (at start)" if ten else ""),
            f"cobblerd {_mib(cm)}" if cm else "", r["peak_rss_mb"] / cm if cm else None,
            "≤ 120 MiB", r["peak_rss_mb"] <= 120)

    for op, what, limit in (
            ("list_host", "`rocks list host`, {n:,} hosts", None),
            ("dump", "`rocks dump`, {n:,} hosts", None),
            ("run_host_hostname", "`rocks run host command=hostname` on {n} sshd nodes", 2.0),
            ("list_host_status_probe", "`rocks list host status` probing {n:,} addresses",
             None),
            ("create_distro_cold", "`create distro` over {n:,} RPMs (in process)", None),
            ("depsolve_subprocess", "depsolve of one appliance (dnf, child process)", None),
            ("compile_appliance", "compile the Rocks 7 compute appliance, pykickstart-checked",
             None)):
        for n in t.sizes("rocks", op):
            r = t.get("rocks", op, n)
            assert r is not None
            add("other", what.format(n=n), _proc(r), target=f"< {_s(limit)}" if limit else "",
                **({} if limit is None else _within(r, limit)))
    return out


def summarize(records: list[dict[str, Any]], *, meta: dict[str, Any] | None = None,
              failures: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    rows = medians(records)
    return {**(meta or {}), "medians": rows, "headline": headline(rows),
            "failures": list(failures)}


def write_summary(summary: dict[str, Any], out: Path, also: str) -> None:
    text = json.dumps(summary, indent=1, ensure_ascii=False) + "\n"
    (out / "summary.json").write_text(text)
    if also:
        Path(also).write_text(text)


def merge(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """`old` with the rows `new` measured replaced by new's (a partial run: `--only`); the
    headline is made again, and the run is listed under "updates" (the README says which rows
    come from which run, and that their ratios are against Cobbler's figures of the older)."""
    fresh = {_key(r) for r in new["medians"]}
    rows = [r for r in old["medians"] if _key(r) not in fresh] + new["medians"]
    rows.sort(key=lambda r: (r["system"], r["op"], r["n"] or 0, str(r.get("installing")),
                             r.get("clients") or 0, str(r.get("worker"))))
    update = {k: new.get(k) for k in ("generated", "commit", "rounds", "sizes", "wall_seconds")}
    update["load"] = new.get("machine", {}).get("loadavg_1min_during_run", {})
    update["ops"] = sorted({r["op"] for r in new["medians"]})
    meta = {k: v for k, v in old.items() if k not in ("medians", "headline", "failures")}
    meta["updates"] = [*old.get("updates", []), update]
    return {**meta, "medians": rows, "headline": headline(rows),
            "failures": [*old.get("failures", []), *new.get("failures", [])]}


def resummarize(out: Path, also: str) -> int:
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    old = json.loads((out / "summary.json").read_text())
    meta = {k: v for k, v in old.items() if k not in ("medians", "headline", "failures")}
    write_summary(summarize(records, meta=meta, failures=old.get("failures", [])), out, also)
    return 0


def replace_rows(out: Path, target: str) -> int:
    """Put the medians of the run in `out` into the summary `target` in place of the rows of
    the same ops (the rest kept as measured before), and note the re-run in it."""
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    run = json.loads((out / "summary.json").read_text())
    old = json.loads(Path(target).read_text())
    new = medians(records)
    ops = {(r["system"], r["op"]) for r in new}
    rows = [r for r in old["medians"] if (r["system"], r["op"]) not in ops] + new
    meta = {k: v for k, v in old.items() if k not in ("medians", "headline", "failures")}
    meta["reruns"] = [*old.get("reruns", []), {
        "ops": sorted(op for _, op in ops), "generated": run.get("generated"),
        "commit": run.get("commit"), "rounds": run.get("rounds"), "sizes": run.get("sizes"),
        "wall_seconds": run.get("wall_seconds"),
        "loadavg_1min_during_run": run.get("machine", {}).get("loadavg_1min_during_run", {}),
        "out": str(out)}]
    failures = [f for f in old.get("failures", []) if f.get("bench") not in
                {f2.get("bench") for f2 in run.get("failures", [])}] + run.get("failures", [])
    text = json.dumps({**meta, "medians": rows, "headline": headline(rows),
                       "failures": failures}, indent=1, ensure_ascii=False) + "\n"
    Path(target).write_text(text)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000,10000")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--cobbler", choices=("auto", "yes", "no"), default="auto")
    ap.add_argument("--cobbler-http-requests", type=int, default=2000)
    ap.add_argument("--only", default="", help="comma list of benchmark names (and cobbler)")
    ap.add_argument("--smoke", action="store_true",
                    help="every benchmark at ~20 hosts, one round, no Cobbler")
    ap.add_argument("--out", default="", help="default bench/results/all-<time>")
    ap.add_argument("--summary", default="", help="also write the summary here")
    ap.add_argument("--resummarize", default="", metavar="DIR",
                    help="only rebuild DIR/summary.json from DIR/records.jsonl (no run)")
    ap.add_argument("--replace-in", default="", metavar="SUMMARY",
                    help="after the run (or with --resummarize DIR: no run), put its rows into "
                         "SUMMARY in place of the same ops' rows, keeping the rest (re-measure "
                         "one benchmark: --only serve,serve-tenth --replace-in "
                         "bench/summary.json)")
    ap.add_argument("--merge", nargs=2, default=None, metavar=("PARTIAL", "SUMMARY"),
                    help="replace in SUMMARY the rows a partial run (--only) measured, from "
                         "its PARTIAL summary.json; no run")
    a = ap.parse_args()
    if a.resummarize and a.replace_in:
        return replace_rows(Path(a.resummarize), a.replace_in)
    if a.resummarize:
        return resummarize(Path(a.resummarize), a.summary)
    if a.merge:
        partial, target = (Path(p) for p in a.merge)
        merged = merge(json.loads(target.read_text()), json.loads(partial.read_text()))
        target.write_text(json.dumps(merged, indent=1, ensure_ascii=False) + "\n")
        return 0

    sizes = [20] if a.smoke else [int(x) for x in a.sizes.split(",") if x]
    rounds = 1 if a.smoke else a.rounds
    only = {x for x in a.only.split(",") if x}
    why_not = cobbler_ready()
    use_cobbler = not a.smoke and a.cobbler != "no" and not why_not and (
        not only or "cobbler" in only)
    if a.cobbler == "yes" and why_not:
        sys.stderr.write(f"[all] Cobbler cannot run: {why_not}\n")
        return 2
    out = Path(a.out or REPO / "bench" / "results" / time.strftime("all-%Y%m%dT%H%M%S"))
    out.mkdir(parents=True, exist_ok=True)
    benches = [b for b in BENCHES if not only or b.name in only]
    runner = Runner(out, a.smoke)
    started = time.time()
    commit = git_commit()  # what is measured: the tree as it is now
    for rnd in range(1, rounds + 1):
        for n in sizes:
            steps: list[Bench | None] = [b for b in benches if b.sized]  # None: Cobbler
            if use_cobbler:
                steps = [*steps, None] if rnd % 2 else [None, *steps]
            for step in steps:
                if step is None:
                    runner.cobbler(rnd, n, a.cobbler_http_requests)
                else:
                    runner.ours(step, rnd, n)
        for b in benches:
            if not b.sized:
                runner.ours(b, rnd, None)
    meta = {
        "generated": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "commit": commit,
        "rounds": rounds, "sizes": sizes, "smoke": a.smoke,
        "wall_seconds": round(time.time() - started, 1),
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0],
                    "loadavg_1min_during_run": {
                        "min": round(min(runner.loads), 2), "max": round(max(runner.loads), 2),
                        "median": round(statistics.median(runner.loads), 2)}
                    if runner.loads else {},
                    "note": "2 cores shared with other engineers' builds and tests while "
                            "measuring: wall times carry their load; cpu_seconds and "
                            "instruction counts much less so"},
        "cobbler": {"used": use_cobbler, "version": "3.3.10",
                    "why_not": why_not if not use_cobbler else "",
                    "http_requests": a.cobbler_http_requests},
        "out": str(out),
    }
    write_summary(summarize(runner.records, meta=meta, failures=runner.failures), out,
                  a.summary)
    if a.replace_in:
        replace_rows(out, a.replace_in)
    sys.stderr.write(f"[all] {len(runner.records)} records, {len(runner.failures)} failures; "
                     f"summary in {out / 'summary.json'}\n")
    return 1 if runner.failures else 0


if __name__ == "__main__":
    sys.exit(main())
