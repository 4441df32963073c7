"""Jobs that write bundles, above scoring and bundles: `train` (read, preprocess, split, train, fit the
scoring state, save) and `transfer` (fit a trained bundle to another system, `--adapt`)."""
