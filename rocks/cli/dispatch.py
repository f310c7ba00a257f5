"""Running one command line: global flags, finding the command, binding, running, rendering.

This is the one place where errors become exit codes: usage and RocksError 2, internal errors 1
(traceback with --debug), Ctrl-C 130.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from rocks import __version__
from rocks.cli.help import command_help, menu, usage
from rocks.cli.params import OutputFormat, UsageError, bind
from rocks.cli.registry import COMMANDS, Entry
from rocks.cli.resolve import Menu, Name, load, resolve
from rocks.commands import Context
from rocks.errors import RocksError

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
HELP_FLAGS = frozenset({"-h", "--help"})
_OPTION = re.compile(r"^--[A-Za-z][A-Za-z0-9-]*$")


def run(argv: Sequence[str], ctx: Context, table: Mapping[Name, Entry] = COMMANDS) -> int:
    """Run `rocks <argv…>` against `ctx`; returns the exit code, never raises (but BrokenPipe)."""
    ctx.commands = table
    try:
        return _dispatch(list(argv), ctx, table)
    except UsageError as exc:
        ctx.stderr.write(f"error: {exc.message}\n")
        if exc.hint:
            ctx.stderr.write(f"  hint: {exc.hint}\n")
        return EXIT_USAGE
    except RocksError as exc:
        if ctx.debug:
            _traceback(exc, ctx)
        for diagnostic in exc.diagnostics:
            ctx.stderr.write(f"{diagnostic}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        ctx.stderr.write("interrupted\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        raise  # the reader of our output went away; main() handles it quietly
    except Exception as exc:
        if ctx.debug:
            _traceback(exc, ctx)
        ctx.stderr.write(f"internal error: {type(exc).__name__}: {exc}\n")
        if not ctx.debug:
            ctx.stderr.write("  hint: rerun with --debug before the command to see the traceback\n")
        return EXIT_INTERNAL


def _traceback(exc: BaseException, ctx: Context) -> None:
    import traceback

    traceback.print_exception(exc, file=ctx.stderr)


def _check_utf8(argv: list[str]) -> None:
    """Arguments that are not UTF-8 arrive with surrogate escapes; nothing can store them."""
    for n, word in enumerate(argv, 1):
        try:
            word.encode("utf-8")
        except UnicodeEncodeError as exc:
            try:
                shown = word.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            except UnicodeEncodeError:
                shown = word.encode("utf-8", "backslashreplace").decode("ascii")
            raise UsageError(
                f"argument {n} ({shown}) is not valid UTF-8 (at character {exc.start + 1})",
                "arguments are text: use UTF-8 (check the terminal's and the script's encoding)",
            ) from None


def _dispatch(argv: list[str], ctx: Context, table: Mapping[Name, Entry]) -> int:
    _check_utf8(argv)
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        flag = argv[i]
        if flag == "--debug":
            ctx.debug = True
        elif flag == "--version":
            ctx.stdout.write(f"rocks {__version__}\n")
            return EXIT_OK
        elif flag in HELP_FLAGS:
            ctx.stdout.write(menu((), table))
            return EXIT_OK
        else:
            raise UsageError(f'unknown option "{flag}"', "global options: --debug, --version")
        i += 1
    words = argv[i:]
    if words and " " in words[0].strip():
        # Rocks accepts the command quoted as one word: rocks "add host" compute-0-0
        words = words[0].split() + words[1:]
    explicit_help = bool(words) and words[0] == "help" and ("help",) not in table
    if explicit_help:
        words = words[1:]
    # --help / -h anywhere asks for help (never a host named "--help"); any other --option
    # after the command is a mistake, not an argument
    if any(w in HELP_FLAGS for w in words):
        explicit_help = True
        words = [w for w in words if w not in HELP_FLAGS]
    for word in words:
        if _OPTION.match(word) and word != "--debug":
            raise UsageError(f'unknown option "{word}"',
                             "parameters are key=value; global options (--debug, --version, "
                             "--help) go before the command")
    if "--debug" in words:
        ctx.debug = True
        words = [w for w in words if w != "--debug"]

    target = resolve(words, table)
    if isinstance(target, Menu):
        ctx.stdout.write(menu(target.prefix, table))
        return EXIT_OK
    command = load(target.entry)
    if explicit_help or target.args[:1] == ("help",):
        ctx.stdout.write(command_help(target.name, target.entry.summary, command))
        return EXIT_OK
    args = bind(command, target.args, usage(target.name, command))
    fmt = args.pop("output-format", OutputFormat.TABLE)
    from rocks.config import environment

    ctx.env = environment(ctx.env)  # /etc/rocks/rocks.toml under the environment
    with ctx.resources:
        result = command.run(ctx, args)

    from rocks.cli.output import render

    render(result, fmt, ctx.stdout)
    return EXIT_OK
