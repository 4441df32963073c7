"""jepawatch: early warning for multivariate time series with MTS-JEPA."""

from jepawatch._version import __version__
