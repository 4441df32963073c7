"""Write the MSL training (and test) split to Parquet, one column per channel, for `jepawatch train`.

    python benchmarks/msl_to_parquet.py [--msl ../shared/data/msl] [--out benchmarks/data]

Reads the concatenated NASA layout (MSL_train.npy, MSL_test.npy, MSL_test_label.npy); the test
file gets a `label` column. Channels are named c00..c54 (column 0 is telemetry, the rest are
command flags).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd


def main() -> None:
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--msl", type=Path, default=here.parent.parent / "shared" / "data" / "msl")
    parser.add_argument("--out", type=Path, default=here / "data")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    train = np.load(args.msl / "MSL_train.npy")
    test = np.load(args.msl / "MSL_test.npy")
    labels = np.load(args.msl / "MSL_test_label.npy")
    columns = [f"c{i:02d}" for i in range(train.shape[1])]
    pd.DataFrame(train.astype(np.float32), columns=columns).to_parquet(args.out / "msl_train.parquet")
    test_frame = pd.DataFrame(test.astype(np.float32), columns=columns)
    test_frame["label"] = labels.astype(np.int8)
    test_frame.to_parquet(args.out / "msl_test.parquet")
    constant = int((train.std(axis=0) == 0).sum())
    print(f"wrote {args.out}/msl_train.parquet {train.shape}, msl_test.parquet {test.shape}; "
          f"{constant} channels constant on train")


if __name__ == "__main__":
    main()
