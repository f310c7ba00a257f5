"""The rocks(8) manual page, generated from the command registry (troff, man macros).

Every command's section comes from the same declaration `--help` prints (summary, usage,
description, parameters with their defaults, examples), so the page cannot drift from the
commands. `rocks report manpage > /usr/local/share/man/man8/rocks.8` is what scripts/setup.sh
runs; the output is deterministic (no date).
"""

from __future__ import annotations

from collections.abc import Mapping

from rocks import __version__
from rocks.cli.help import _show_default, spec
from rocks.cli.params import all_params
from rocks.cli.registry import Entry
from rocks.cli.resolve import Name, load, spell
from rocks.commands import Args, Command, Context, ParamKind, Text, command


def roff(text: str) -> str:
    """Text made safe for troff: backslashes escaped, no line starting with a control char,
    non-ASCII characters as groff's \\[uXXXX] escapes."""
    out = []
    text = text.replace("\\", "\\e")
    if not text.isascii():
        text = "".join(c if c.isascii() else f"\\[u{ord(c):04X}]" for c in text)
    for line in text.splitlines():
        stripped = line.lstrip()
        if stripped.startswith((".", "'")):
            line = "\\&" + stripped
        out.append(line)
    return "\n".join(out)


def literal(text: str) -> str:
    """A command line to be copied: hyphens are real minus signs (\\-)."""
    return roff(text).replace("-", "\\-")


def _paragraphs(text: str) -> str:
    blocks = [b.strip() for b in text.strip().split("\n\n") if b.strip()]
    return "\n.PP\n".join(roff(b) for b in blocks)


def _usage(name: Name, cmd: Command) -> str:
    words = [f"\\fBrocks {literal(spell(name))}\\fR"]
    ordered = sorted(
        all_params(cmd),
        key=lambda p: 0 if p.kind is ParamKind.POSITIONAL else 1 if p.positional_ok else 2,
    )
    for param in ordered:
        shown = literal(spec(param))
        words.append(shown if param.required else f"[{shown}]")
    return " ".join(words)


def _command_section(name: Name, entry: Entry, cmd: Command) -> str:
    lines = [f'.SS "rocks {literal(spell(name))}"', roff(entry.summary) + ".", ".PP",
             ".nh", _usage(name, cmd), ".hy"]
    if cmd.description:
        lines += [".PP", _paragraphs(cmd.description)]
    for param in all_params(cmd):
        shown = _show_default(param.default)
        note = "required" if param.required else f"default: {shown}" if shown else ""
        words = " ".join(w for w in (param.help, f"({note})" if note else "") if w)
        lines += [".TP", f"\\fB{literal(spec(param))}\\fR", roff(words) or "\\&"]
    if cmd.examples:
        lines += [".PP", "Examples:", ".RS", ".nf"]
        lines += [literal(example) for example in cmd.examples]
        lines += [".fi", ".RE"]
    return "\n".join(lines)


_HEAD = r""".TH ROCKS 8 "" "rocks {version}" "System Administration"
.SH NAME
rocks \- declarative cluster provisioning: inventory, rolls, kickstarts and the frontend
.SH SYNOPSIS
.B rocks
[\fB\-\-debug\fR] [\fB\-\-version\fR] [\fB\-\-help\fR]
\fIverb\fR \fInoun\fR... [\fIargs\fR...] [\fIkey\fB=\fIvalue\fR...]
.SH DESCRIPTION
An admin describes machines, not disk images.
Rolls contribute packages, XML node files and graph edges; the enabled rolls and the site's
own graph merge into one configuration graph whose roots are appliances.
.B rocks
keeps the inventory (hosts, appliances, networks, attributes), compiles each host's
kickstart from the graph, writes the frontend's DHCP, DNS, /etc/hosts and network-boot
configuration, and serves kickstarts and packages to installing nodes.
.PP
The grammar is that of the Rocks cluster distribution:
\fBrocks\fR \fIverb\fR \fInoun\fR... followed by arguments and \fIkey\fB=\fIvalue\fR
parameters.
A partial command lists the commands under it; \fB\-\-help\fR, \fB\-h\fR or \fBhelp\fR after
a command prints its parameters (the same text as its section below).
Host arguments are host names, appliance names (all hosts of the appliance),
\fBrack\fIN\fR, shell globs, or a host's IP address, MAC address or FQDN.
Listings take \fBoutput\-format=table|json|csv\fR.
Every command is one transaction: it succeeds whole or changes nothing.
Commands that can take more than a second show a progress bar on standard error when it is a
terminal.
.SH COMMANDS
"""

_TAIL = r""".SH ENVIRONMENT
Environment variables override the configuration file.
.TP
.B ROCKS_CONFIG
The configuration file (default \fI/etc/rocks/rocks.toml\fR; empty: none).
.TP
.B ROCKS_STATE
The state directory: the SQLite inventory (\fIrocks.db\fR), the roll store, the distribution.
When set (and \fBROCKS_SYNC_ROOT\fR is not), sync writes under \fI$ROCKS_STATE/root\fR,
never this machine's \fI/etc\fR.
Default: \fI/var/lib/rocks\fR for root, else \fI~/.local/state/rocks\fR.
.TP
.B ROCKS_DATABASE_URL
The inventory database, e.g. \fIpostgresql://rocks@db/rocks\fR (default: SQLite in the
state directory).
.TP
.B ROCKS_SYNC_ROOT
Where sync writes \fIetc/\fR, \fIvar/named/\fR and \fItftpboot/\fR (\fI/\fR on a frontend).
.TP
.B ROCKS_LISTEN
The address \fBrocks start frontend\fR listens on, \fIhost\fR:\fIport\fR.
.TP
.B ROCKS_API_TOKEN
The admin API's bearer token (default: the file \fI<state>/api\-token\fR).
.SH FILES
.TP
.I /etc/rocks/rocks.toml
Settings: \fBstate\fR, \fBdatabase_url\fR, \fBlisten\fR, \fBsync_root\fR (TOML, all optional).
.TP
.I <sync root>/etc/hosts.local
Lines appended verbatim to the generated \fI/etc/hosts\fR, in a marked section.
.TP
.I <sync root>/etc/dhcp/dhcpd.conf.local
Statements appended verbatim to the generated ISC \fIdhcpd.conf\fR, in a marked section.
.TP
.I <state>/rolls/, <state>/distro/, <state>/site/
The roll store, the package repository installs use, and the site's own graph.
.SH EXIT STATUS
0 on success; 2 for a usage error or a refused change (with the reason and a hint on
standard error); 1 for an internal error (\fB\-\-debug\fR shows the traceback); 130 when
interrupted.
.SH SEE ALSO
.BR dhcpd (8),
.BR kea\-dhcp4 (8),
.BR named (8),
.BR in.tftpd (8),
.BR ksvalidator (1)
"""


def manpage(table: Mapping[Name, Entry]) -> str:
    sections = [_command_section(name, table[name], load(table[name]))
                for name in sorted(table)]
    return _HEAD.format(version=__version__) + "\n".join(sections) + "\n" + _TAIL


@command(examples=("rocks report manpage > /usr/local/share/man/man8/rocks.8",
                   "rocks report manpage | man -l -"))
def report_manpage(ctx: Context, args: Args) -> Text:
    """Print the rocks(8) manual page in troff, one section per command, generated from the
    same declarations as each command's help."""
    return Text(manpage(ctx.commands))
