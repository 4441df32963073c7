"""Benchmark-format adapters for jepawatch: NASA MSL/SMAP, SWaT and PSM.

Installed as its own distribution (`jepawatch-adapters`) and loaded through the `jepawatch`
entry-point group, exactly as a third-party plugin would be.
"""

__version__ = "0.1.0"
