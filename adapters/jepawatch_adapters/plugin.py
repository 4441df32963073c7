"""The plugin module the `jepawatch` entry point names."""

from __future__ import annotations

from jepawatch.adapters import hookimpl
from jepawatch_adapters.nasa import NasaAdapter
from jepawatch_adapters.prometheus import PrometheusAdapter
from jepawatch_adapters.psm import PsmAdapter
from jepawatch_adapters.swat import SwatAdapter


@hookimpl
def register_adapters(register):
    register(NasaAdapter())
    register(SwatAdapter())
    register(PsmAdapter())
    register(PrometheusAdapter())
