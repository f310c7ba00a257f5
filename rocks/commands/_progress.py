"""Progress for commands that can take more than a second: a rich bar on stderr, only when
stderr is a terminal (never in a pipe, a log or a test), gone when the command ends so that
only its one-line summary stays.

    with Progress(ctx) as progress:
        tick = progress.step("writing boot files", total=len(files))
        tick(done)                      # or progress.callback() for (stage, done, total)
"""

from __future__ import annotations

import io
from collections.abc import Callable
from types import TracebackType
from typing import Any, TextIO, cast

from rocks.commands import Context

Tick = Callable[[int], None]
StageTick = Callable[[str, int, int], None]


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


class Progress:
    """Steps of one command, each a bar with its own total; a no-op off a terminal."""

    def __init__(self, ctx: Context, *, enabled: bool = True) -> None:
        self.enabled = enabled and _is_terminal(ctx.stderr) and ctx.env.get("TERM") != "dumb"
        self._ctx = ctx
        self._bar: Any = None
        self._task: Any = None
        self._stages: dict[str, Any] = {}
        self._stderr: Any = None

    def __enter__(self) -> Progress:
        if self.enabled and self._bar is None:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeElapsedColumn,
            )
            from rich.progress import Progress as Bar

            console = Console(file=self._ctx.stderr)
            self._bar = Bar(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), console=console, transient=True)
            self._bar.start()
            # what the command writes to stderr meanwhile (warnings) goes above the bar
            self._stderr = self._ctx.stderr
            self._ctx.stderr = cast(TextIO, _Above(console, self._stderr))
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._bar is not None:
            above = self._ctx.stderr
            self._bar.stop()
            self._bar = None
            self._ctx.stderr = self._stderr
            if isinstance(above, _Above):
                above.close()

    def step(self, description: str, total: int | None = None) -> Tick:
        """Start the next step (the previous one is complete); returns tick(done)."""
        if self._bar is None:
            return _ignore
        self._finish_current()
        task = self._bar.add_task(description, total=total)
        self._task = (task, total)
        bar = self._bar

        def tick(done: int) -> None:
            bar.update(task, completed=done)

        return tick

    def callback(self, prefix: str = "") -> StageTick:
        """A (stage, done, total) callback (create distro's, sync apply's): one bar a stage."""
        if self._bar is None:
            return _ignore_stage

        def report(stage: str, done: int, total: int) -> None:
            if stage not in self._stages:
                self._stages[stage] = self.step(f"{prefix}{stage}", total)
            self._stages[stage](done)

        return report

    def _finish_current(self) -> None:
        if self._task is not None and self._bar is not None:
            task, total = self._task
            if total is not None:
                self._bar.update(task, completed=total)


class _Above(io.TextIOBase):
    """A stderr stand-in while a bar is drawn: whole lines are printed above the bar."""

    def __init__(self, console: Any, stream: Any) -> None:
        self._console = console
        self._stream = stream
        self._pending = ""

    def write(self, text: str) -> int:
        self._pending += text
        if "\n" in self._pending:
            done, _, self._pending = self._pending.rpartition("\n")
            self._console.print(done, markup=False, highlight=False, emoji=False,
                                soft_wrap=True)
        return len(text)

    def isatty(self) -> bool:
        return True

    def close(self) -> None:
        if self._pending:
            self._stream.write(self._pending)
            self._pending = ""
        super().close()


def _ignore(_done: int) -> None:
    return None


def _ignore_stage(_stage: str, _done: int, _total: int) -> None:
    return None


def plural(count: int, word: str, many: str = "") -> str:
    """`1 host`, `5000 hosts`."""
    return f"{count} {word if count == 1 else many or word + 's'}"
