"""The application layer: what each command does, as one function per verb, for the CLI and the
Python API alike. Nothing here prints; messages go to a `warn` callable and results are returned.

    train      train a bundle on data (a path or a DataFrame)
    score      score data window by window, optionally incremental (--state)
    watch      replay or follow a file, scoring windows as they arrive
    calibrate  fit the supervised next-window head and store it in the bundle
    evaluate   the paper's protocol and the label-free comparison on labelled data
    feedback   an operator's verdict (false alarm, incident) beside a --state file
    export     the bundle's inference path as ONNX, checked against torch
    info       what a bundle holds, as plain data
    demo       generate data, train, replay
"""
