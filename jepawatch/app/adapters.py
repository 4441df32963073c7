"""`adapters`: the installed data adapters, as plain data (nothing here imports torch)."""

from __future__ import annotations

from jepawatch.adapters import installed


def adapter_listing() -> list[dict]:
    """Name, package, formats and description of every installed adapter, in load order."""
    return [{"name": a.name, "package": a.package, "formats": list(a.formats), "description": a.description}
            for a in installed().infos()]
