"""What reading changed or left out, as one-line warnings for the commands to print."""

from __future__ import annotations

from jepawatch.adapters.contract import Dataset, Series

SHOWN = 8  # dropped columns named before "..."
CUT_LAST_ROW = "the last line is cut short (no label): left out"


def reading_report(dataset: Dataset, series: Series) -> list[str]:
    """One line each: dropped columns, unparseable and infinite cells, missing cells, left-out parts."""
    messages = []
    meta = series.metadata
    dropped = meta.get("dropped_columns") or {}
    if dropped:
        messages.append("dropped columns: " + ", ".join(f"{c} ({why})" for c, why in list(dropped.items())[:SHOWN])
                        + (" ..." if len(dropped) > SHOWN else ""))
    if meta.get("label_like_channels"):
        messages.append(label_like_warning(meta["label_like_channels"]))
    if meta.get("binary_last_column"):
        messages.append(binary_last_warning(meta["binary_last_column"]))
    if meta.get("cut_last_row"):
        messages.append(CUT_LAST_ROW)
    messages.extend(str(note) for note in meta.get("notes") or [])  # what an adapter says of its source
    if meta.get("unparsed_cells"):
        messages.append(f"{meta['unparsed_cells']} cells were not numbers and count as missing")
    if meta.get("infinite_cells"):
        messages.append(f"{meta['infinite_cells']} infinite cells count as missing")
    missing = series.missing_cells()
    if missing:
        messages.append(f"filled {missing} missing cells with the channel's last value (the training mean at the start)")
    for key in ("left_out_listed_twice", "left_out_without_labels"):
        if dataset.metadata.get(key):
            messages.append(f"{key.replace('_', ' ')}: {', '.join(dataset.metadata[key])}")
    return messages


def label_like_warning(names: list[str]) -> str:
    """A column named like labels whose values are not 0/1 was read as a channel: said, never silent."""
    shown = ", ".join(repr(n) for n in names)
    return (f"column {shown} is named like a label column but holds values other than 0/1 or true/false, so it is "
            f"read as a channel; give --label-col {names[0]} with 0/1 labels, or --label-col none to keep it a channel "
            "without this warning")


def binary_last_warning(name: str) -> str:
    """A header-less file's last column holds only 0 and 1: maybe labels without their name. Said, never silent."""
    return (f"column {name}, the last of a file without a header, holds only 0 and 1 like a label column, so it is "
            f"read as a channel; give --label-col {name} if it is the labels, or --label-col none to keep it a "
            "channel without this warning")
