"""The `rocks` console script: real streams and environment around `rocks.cli.dispatch.run`.

Importing this module imports only the stdlib and the command table; each command's module
(and whatever heavy library it needs) is imported when that command runs.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from rocks.cli.context import default_factories
from rocks.cli.dispatch import run
from rocks.commands import Context


def main(argv: Sequence[str] | None = None) -> int:
    ctx = Context(
        stdout=sys.stdout,
        stderr=sys.stderr,
        stdin=sys.stdin,
        env=os.environ,
        factories=default_factories(),
    )
    try:
        code = run(sys.argv[1:] if argv is None else argv, ctx)
        sys.stdout.flush()
    except BrokenPipeError:
        # `rocks list host | head`: the reader left. Point stdout at /dev/null so the
        # interpreter's final flush does not fail again, and exit quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
