"""Check on the real MSL data that the telemanom layout reads exactly as the concatenated one.

    python benchmarks/check_nasa_layouts.py [../shared/data/msl]

Reads `<folder>` (MSL_train.npy, MSL_test.npy, MSL_test_label.npy) and `<folder>/telemanom`
(train/, test/, labeled_anomalies.csv) with the nasa adapter and compares values, channel names
and labels element by element; also compares the float64 arrays on disk with the telemanom
channels stacked in chan_id order. Exits 1 on any difference.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from jepawatch.adapters import ReadOptions, read_dataset


def main() -> int:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "shared" / "data" / "msl")
    start = time.perf_counter()
    concatenated = read_dataset(folder, "nasa")
    middle = time.perf_counter()
    telemanom = read_dataset(folder / "telemanom", "nasa", ReadOptions(extra={"spacecraft": "MSL"}))
    end = time.perf_counter()
    print(f"concatenated: read in {middle - start:.2f} s; telemanom: read in {end - middle:.2f} s "
          f"({len(telemanom.metadata['entities'])} channels)")
    same = True
    for part in ("train", "test"):
        a, b = concatenated.part(part), telemanom.part(part)
        equal = a.channels == b.channels and a.values.shape == b.values.shape and np.array_equal(a.values, b.values)
        print(f"{part:5}: shape {a.values.shape} vs {b.values.shape}; identical: {equal}; "
              f"fingerprints {a.fingerprint()} / {b.fingerprint()}")
        same &= equal
    labels_equal = np.array_equal(concatenated.test.labels, telemanom.test.labels)
    print(f"labels: {int(concatenated.test.labels.sum())} vs {int(telemanom.test.labels.sum())} anomalous steps "
          f"({concatenated.test.labels.mean():.2%}); identical: {labels_equal}")
    same &= labels_equal
    # and on disk, at float64, independently of the adapter's float32 values
    channels = sorted(e["name"] for e in telemanom.metadata["entities"])
    for part in ("train", "test"):
        stacked = np.concatenate([np.load(folder / "telemanom" / part / f"{c}.npy") for c in channels])
        raw = np.load(folder / f"MSL_{part}.npy")
        equal = np.array_equal(stacked, raw)
        print(f"float64 {part} on disk: telemanom stacked by chan_id == MSL_{part}.npy: {equal}")
        same &= equal
    print("RESULT:", "identical" if same else "DIFFERENT")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
