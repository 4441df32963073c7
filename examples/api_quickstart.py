"""The Python API in one notebook-style script: the code of README.md's "Python API" section.

Run it from the repository root (it reads examples/demo_train.csv and examples/demo_live.csv and
writes the bundle under models/):

    python examples/api_quickstart.py
"""

import pandas as pd

import jepawatch

# Train on a file (or a DataFrame); the bundle goes to models/demo_train and becomes the latest.
monitor = jepawatch.train("examples/demo_train.csv", epochs=2, seed=0)
print(monitor)                       # Monitor('models/demo_train': mts-jepa, 8 channels, window 100, ...)
print(monitor.channels, monitor.window)

# Score a DataFrame: one row per window, typed columns.
live = pd.read_csv("examples/demo_live.csv")   # eight channels and a 0/1 `label` column
scores = monitor.score(live)
print(scores[["end_time", "next_window_risk", "alert", "regime", "drivers"]].tail())

# The paper's protocol and the label-free comparison on labelled data.
report = jepawatch.evaluate(monitor, live, seeds=1)
print(report.table())

# The supervised next-window head, stored in the bundle; `score` then reports its risk.
monitor.calibrate(live, label="label")
print(monitor.risk_source)           # supervised

# The inference path as ONNX, checked against torch; `score` and `watch` then run it.
print(monitor.export_onnx())

# The live stream as an iterator (follow=True tails a growing CSV; here the file is replayed).
for row in monitor.watch("examples/demo_live.csv", follow=False):
    if row["alert"]:
        print("first alert:", row["end_time"], "drivers", row["drivers"])
        break

# Later, in another process: the same bundle by name.
monitor = jepawatch.load("demo_train")
