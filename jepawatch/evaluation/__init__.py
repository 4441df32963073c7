"""Labelled windows, the paper's downstream protocol, and the figures that say what it hides."""
