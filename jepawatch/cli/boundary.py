"""The one error boundary: known failures become one line on stderr and a non-zero exit code.

Exit codes: 0 ok; 1 a known error (bad input, bad config, bad bundle, and what the machine refuses:
a full disk, a file too large, a directory that cannot be written); 2 usage error (click); 3 an
alert with `score --fail-on-alert`; 75 another run holds the --state file's lock; 130
interrupted. A closed stdout (`jepawatch score ... | head -1`) ends
the command quietly with 0, as `head` meant. An unexpected exception is a bug: one line too,
with the way to see the traceback (JEPAWATCH_DEBUG=1).
"""

from __future__ import annotations

import errno
import os
import re
import sys

import typer
from typer.core import TyperGroup

from jepawatch.cli import output
from jepawatch.errors import JepawatchError

# What the machine refuses, not a bug: said in one line with the file it happened to.
_ENVIRONMENT = {errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS, errno.EISDIR,
                errno.ENOTDIR, errno.ELOOP, errno.ENAMETOOLONG, errno.EIO, errno.ENXIO, errno.EMFILE, errno.ETXTBSY}
_SAFETENSORS_OS_ERROR = re.compile(r"Os \{ code: (\d+)|os error (\d+)")


class BoundaryGroup(TyperGroup):
    def main(self, *args, **kwargs):
        before = _stdout_identity()
        try:
            return super().main(*args, **kwargs)
        except SystemExit as exc:
            # rich (help, tables) answers a closed stdout by pointing it at /dev/null and exiting 1
            if exc.code == 1 and before != _devnull_identity() and _stdout_identity() == _devnull_identity():
                raise SystemExit(0) from None
            raise

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except JepawatchError as exc:
            output.error(str(exc))
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            output.error("interrupted")
            raise typer.Exit(130) from None
        except BrokenPipeError:
            quiet_closed_stdout()
            raise typer.Exit(0) from None
        except Exception as exc:  # a bug, not bad input -- unless it is the CLI framework's own signal
            if type(exc).__module__.startswith(("typer", "click")) or os.environ.get("JEPAWATCH_DEBUG"):
                raise
            message = environment_error(exc)
            if message is not None:
                output.error(message)
                raise typer.Exit(1) from None
            output.error(f"internal error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''} "
                         "(rerun with JEPAWATCH_DEBUG=1 for the traceback, and please report it)")
            raise typer.Exit(1) from None


def environment_error(exc: BaseException) -> str | None:
    """One line for an error the machine raised (disk full, permission, ...); None for anything else."""
    code, filename = None, None
    if isinstance(exc, OSError) and exc.errno in _ENVIRONMENT:
        code, filename = exc.errno, exc.filename
    elif type(exc).__name__ == "SafetensorError":  # its I/O errors carry the OS error in their text
        match = _SAFETENSORS_OS_ERROR.search(str(exc))
        number = int(match.group(1) or match.group(2)) if match else None
        if number in _ENVIRONMENT:
            code = number
    if code is None:
        return None
    where = f"{filename}: " if filename else ""
    hint = {errno.ENOSPC: "; free some space and run it again", errno.EDQUOT: "; free some space and run it again",
            errno.EFBIG: "; the file size limit (ulimit -f) or the file system's refused it",
            errno.EACCES: "; check the permissions, or write somewhere this user can",
            errno.EPERM: "; check the permissions, or write somewhere this user can",
            errno.EROFS: "; write somewhere else"}.get(code, "")
    return f"{where}{os.strerror(code)}{hint}"


def quiet_closed_stdout() -> None:
    """The reader of stdout went away: send what is still buffered nowhere, so exiting stays quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _stdout_identity() -> tuple[int, int] | None:
    try:
        stat = os.fstat(sys.stdout.fileno())
        return stat.st_dev, stat.st_ino
    except (OSError, ValueError, AttributeError):
        return None


def _devnull_identity() -> tuple[int, int]:
    stat = os.stat(os.devnull)
    return stat.st_dev, stat.st_ino
