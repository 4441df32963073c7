"""The plugin hook. A plugin is a module (or object) with a `register_adapters` hook implementation:

    from jepawatch.adapters import Adapter, hookimpl

    @hookimpl
    def register_adapters(register):
        register(MyAdapter())

and is installed through the `jepawatch` entry-point group of its distribution:

    [project.entry-points.jepawatch]
    myformat = "my_package.plugin"
"""

from __future__ import annotations

import pluggy

PROJECT = "jepawatch"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_adapters(register):
    """Call `register(adapter)` once for every `Adapter` instance this plugin provides."""
