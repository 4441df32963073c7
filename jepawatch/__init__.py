"""jepawatch: early warning for multivariate time series with MTS-JEPA."""

__version__ = "0.1.0"
