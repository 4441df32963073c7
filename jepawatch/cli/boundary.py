"""The one error boundary: known failures become one line on stderr and a non-zero exit code.

Exit codes: 0 ok; 1 a known error (bad input, bad config, bad bundle); 2 usage error (click);
130 interrupted. An unexpected exception is a bug: one line too, with the way to see the
traceback (JEPAWATCH_DEBUG=1).
"""

from __future__ import annotations

import os

import typer
from typer.core import TyperGroup

from jepawatch.cli import output
from jepawatch.errors import JepawatchError


class BoundaryGroup(TyperGroup):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except JepawatchError as exc:
            output.error(str(exc))
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            output.error("interrupted")
            raise typer.Exit(130) from None
        except Exception as exc:  # a bug, not bad input -- unless it is the CLI framework's own signal
            if type(exc).__module__.startswith(("typer", "click")) or os.environ.get("JEPAWATCH_DEBUG"):
                raise
            output.error(f"internal error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''} "
                         "(rerun with JEPAWATCH_DEBUG=1 for the traceback, and please report it)")
            raise typer.Exit(1) from None
