"""Shared by the benchmarks: machine load and replacing one marked block of docs/benchmarks.md."""

from __future__ import annotations

import os
from pathlib import Path


def load() -> tuple[float, float, float]:
    """The 1-, 5- and 15-minute load averages (how busy the machine was)."""
    return os.getloadavg()


def replace_block(path: Path, name: str, heading: str | None, block: str) -> None:
    """Replace the text between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->`` in ``path``.
    Without the markers: append ``heading`` and the block, or, with ``heading=None`` (a page whose
    layout is written by hand), stop with an error naming the missing markers."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = path.read_text() if path.exists() else ""
    if start in text and end in text:
        before, rest = text.split(start, 1)
        text = f"{before}{start}\n{block.strip()}\n{end}{rest.split(end, 1)[1]}"
    elif heading is None:
        raise SystemExit(f"{path} has no {start} / {end} markers")
    else:
        text = f"{text.rstrip()}\n\n{heading}\n\n{start}\n{block.strip()}\n{end}\n"
    path.write_text(text)
