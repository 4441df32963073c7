"""`--adapt` / `--adapt-rows` on `score`, `watch`, `calibrate` and `evaluate`: the bundle made ready for
the data's system first (`jepawatch.jobs.transfer`), then the command runs on the adapted bundle."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jepawatch.jobs.transfer import adapt
from jepawatch.adapters import ReadOptions, iter_batches, source_name
from jepawatch.app.common import DataSource, Warn, as_data, warn_python
from jepawatch.bundle import load_bundle, resolve_bundle_path
from jepawatch.errors import ConfigError, JepawatchError


@dataclass
class Adapted:
    model: str | None  # the bundle the command then opens (the one it was given, without --adapt)
    first_row: int | None  # the first row to score: N with `--adapt-rows N` on the scored data itself


def adapt_for(data: DataSource, model: str | None, models_dir: str | Path, adapt_data: DataSource | None,
              adapt_rows: int | None, *, adapter: str | None = None, options: ReadOptions | None = None,
              device: str | None = None, warn: Warn = warn_python, notify: Warn | None = None,
              scores_all_rows: bool = False) -> Adapted:
    """Adapt bundle `model` to `adapt_data` (its first `adapt_rows` rows when given), or, with
    `adapt_rows` alone, to the first rows of `data`, which are then not scored. Without either:
    `model` unchanged. `scores_all_rows` (calibrate, evaluate read every labelled window): the
    stretch must then come from `--adapt`, not from the data itself."""
    if adapt_data is None and adapt_rows is None:
        return Adapted(model, None)
    if adapt_data is None and scores_all_rows:
        raise ConfigError("--adapt-rows alone adapts on the first rows of DATA, which this command reads whole; "
                          "give the normal stretch as --adapt FILE (with --adapt-rows N for its first N rows)")
    parent = load_bundle(resolve_bundle_path(model, Path(models_dir)))
    source = as_data(adapt_data if adapt_data is not None else data)
    scored = None
    if adapt_data is not None:  # what DATA holds, checked before the adapted bundle is written
        try:
            first = next(iter_batches(as_data(data), adapter, options or ReadOptions()), None)
        except JepawatchError:  # not readable yet (a file `watch --follow` waits for): the command says so
            first = None
        if first is not None:
            scored = (source_name(as_data(data)), list(first.channels))
    path = adapt(parent, source, rows=adapt_rows, adapter=adapter if adapt_data is None else None,
                 options=options, device=device, warn=warn, scored=scored)
    (notify or warn)(f"adapted {parent.name} to {source if not hasattr(source, 'shape') else 'the DataFrame'}"
         + (f" (first {adapt_rows} rows)" if adapt_rows else "") + f": {path} (`--model {path}` uses it again)")
    return Adapted(str(path), adapt_rows if adapt_data is None else None)
