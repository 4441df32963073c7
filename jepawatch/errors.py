"""Domain errors. Raised where things go wrong; turned into one line at the CLI boundary.

Every message says what is wrong and, where possible, what to do about it.
"""


class JepawatchError(Exception):
    """Base class: a known failure with a message meant for the user."""

    exit_code = 1


class DataError(JepawatchError):
    """The input data cannot be used (missing, empty, malformed, too short, ...)."""


class ConfigError(JepawatchError):
    """A configuration file or `--set` override is invalid."""


class BundleError(JepawatchError):
    """A model bundle or checkpoint is missing, incomplete or corrupted."""


class TrainingDiverged(JepawatchError):
    """Training ended with a non-finite loss or weights: no bundle is saved, the checkpoint is kept."""


class TrainingInterrupted(JepawatchError):
    """Training stopped by Ctrl-C after its last checkpoint was saved."""

    exit_code = 130


class StateBusy(JepawatchError):
    """Another run holds the lock on the same state file (an overlapping cron run)."""

    exit_code = 75  # EX_TEMPFAIL (sysexits.h): try again later


class JepawatchWarning(UserWarning):
    """What the Python API warns of (dropped columns, filled cells, a rough calibration); the CLI
    prints the same messages as `warning:` lines."""


class MissingExtra(JepawatchError):
    """A feature needs an optional dependency (an extra such as `jepawatch[report]`) that is not installed."""
