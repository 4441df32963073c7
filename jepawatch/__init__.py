"""jepawatch: early warning for multivariate time series with MTS-JEPA.

    import jepawatch

    monitor = jepawatch.train("examples/demo_train.csv", epochs=10)  # a path or a DataFrame -> Monitor
    monitor = jepawatch.load("demo")                                # a bundle, by name or path
    scores = monitor.score("examples/demo_live.csv")                # a DataFrame, one row per window
    report = jepawatch.evaluate(monitor, "examples/demo_live.csv")  # .to_dict(), .table()

See `help(jepawatch.Monitor)`. Errors are `jepawatch.JepawatchError` subclasses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jepawatch._version import __version__
from jepawatch.errors import (
    BundleError,
    ConfigError,
    DataError,
    JepawatchError,
    JepawatchWarning,
    MissingExtra,
    StateBusy,
    TrainingDiverged,
    TrainingInterrupted,
)

if TYPE_CHECKING:
    from jepawatch.api import (AlertSettings, EvaluationReport, Monitor, Verdict, evaluate, installed_adapters, load,
                               train, verdicts)

# The API is imported on first use, so that `jepawatch --help` does not wait for torch.
_API = ("AlertSettings", "EvaluationReport", "Monitor", "Verdict", "evaluate", "installed_adapters", "load", "train",
        "verdicts")

__all__ = [*_API, "BundleError", "ConfigError", "DataError", "JepawatchError", "JepawatchWarning", "MissingExtra",
           "StateBusy",
           "TrainingDiverged", "TrainingInterrupted", "__version__"]


def __getattr__(name: str) -> Any:
    if name in _API:
        from jepawatch import api

        return getattr(api, name)
    raise AttributeError(f"module 'jepawatch' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
