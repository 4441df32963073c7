"""Every field a bundle's JSON records carry, tampered with: a wrong type, NaN, a negative and a
huge value. Each is refused when the bundle loads, in one line, so nothing is ever scored with it.

The bundle is calibrated and exported, so it has all four records: config.json, risk.json,
head.json and onnx.json. A record other than config.json gets its checksum in config.json updated
(as an attacker would), so the refusal comes from the value itself.
"""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest
from typer.testing import CliRunner

from jepawatch.bundle import load_bundle
from jepawatch.cli.app import app
from jepawatch.errors import BundleError

RECORDS = ("config.json", "risk.json", "head.json", "onnx.json")
# Where a negative value is a value: means, medians and standardised points of the data can be below 0.
SIGNED = ("reference/median/", "reference/mean/", "reference/points/", "/preprocess/mean/")
HUGE_REAL = 1e300  # beyond float32, in which scoring runs: no scale, statistic, rate or weight is that
HUGE_COUNT = 10**30  # beyond int64, in which every count and size must fit


def leaves(value, path=()):
    """(path, value) of every leaf: each key of an object, the first item of a list (all items of a
    list are of one kind)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, path + (key,))
    elif isinstance(value, list) and value:
        yield from leaves(value[0], path + (0,))
    else:
        yield path, value


def mutations(path: tuple, value) -> dict:
    """What to put in place of `value`: a wrong type always; NaN, a negative and a huge value where
    the field holds a number (a negative only where the field cannot be negative)."""
    out = {"wrong type": [value] if isinstance(value, str) else "x" if value is not None else 7}
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        out["NaN"] = float("nan")
        if not any(marker in "/".join(map(str, path)) + "/" for marker in SIGNED):
            out["negative"] = -5
        out["huge"] = HUGE_COUNT if isinstance(value, int) else HUGE_REAL
    return out


def set_at(record, path: tuple, value) -> None:
    for key in path[:-1]:
        record = record[key]
    record[path[-1]] = value


def rechecksum(bundle, name: str) -> None:
    config = json.loads((bundle / "config.json").read_text())
    config["files"][name] = hashlib.sha256((bundle / name).read_bytes()).hexdigest()
    (bundle / "config.json").write_text(json.dumps(config))


# The files' own names and checksums are the subject of test_bundle.py's path and checksum tests.
NOT_SWEPT = {("config.json", "files"), ("config.json", "format"), ("config.json", "format_version")}


def test_every_field_of_every_record_tampered_with_is_refused_in_one_line(exported, tmp_path):
    _, trained, _ = exported
    bundle = tmp_path / "bundle"
    shutil.copytree(trained, bundle)
    load_bundle(bundle)  # untouched, it loads
    originals = {name: (bundle / name).read_bytes() for name in RECORDS}
    assert all(originals.values())
    tried, accepted = 0, []
    for name in RECORDS:
        record = json.loads(originals[name])
        for path, value in leaves(record):
            if (name, path[0]) in NOT_SWEPT:
                continue
            for kind, bad in mutations(path, value).items():
                changed = json.loads(originals[name])
                set_at(changed, path, bad)
                (bundle / name).write_text(json.dumps(changed))  # NaN as JSON's NaN token
                if name != "config.json":
                    rechecksum(bundle, name)
                tried += 1
                try:
                    load_bundle(bundle)
                    accepted.append(f"{name} {'/'.join(map(str, path))} {kind}")
                except BundleError as error:
                    assert "\n" not in str(error) and "corrupted" in str(error), (name, path, kind, str(error))
                for restored in RECORDS:
                    (bundle / restored).write_bytes(originals[restored])
    assert tried > 400, tried  # every record swept (config.json alone has over 60 fields)
    assert not accepted, f"{len(accepted)} of {tried} tampered bundles loaded: " + "; ".join(accepted)


@pytest.mark.parametrize("name, path, bad", [("config.json", ("model", "temperature"), float("nan")),
                                             ("risk.json", ("validation", "stats_neighbours", 0), -5),
                                             ("head.json", ("threshold",), "x"),
                                             ("onnx.json", ("max_abs_diff", "codes"), 1e300)])
def test_a_tampered_bundle_scores_nothing_and_says_why_in_one_line(exported, tmp_path, name, path, bad):
    _, trained, _ = exported
    bundle = tmp_path / "bundle"
    shutil.copytree(trained, bundle)
    record = json.loads((bundle / name).read_text())
    set_at(record, path, bad)
    (bundle / name).write_text(json.dumps(record))
    if name != "config.json":
        rechecksum(bundle, name)
    data, out = tmp_path / "data.csv", tmp_path / "scores.jsonl"
    root = exported[0]
    shutil.copy(root / "test.csv", data)
    result = CliRunner().invoke(app, ["score", str(data), "--model", str(bundle), "--out", str(out)])
    text = " ".join(result.output.split())
    assert result.exit_code == 1 and text.startswith("error:") and "corrupted" in text, result.output
    assert len(result.output.strip().splitlines()) == 1 or "\n" not in result.output.strip()[:200]
    assert not out.exists()
