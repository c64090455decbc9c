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


def write_blocks(blocks: dict[str, str], before: tuple[float, ...], out, *, write: bool = True) -> None:
    """Print each named block with the load note (``before``: :func:`load` at the start, read again
    now) and, with ``write``, put it between its markers in ``out`` (:func:`replace_block`)."""
    import time

    after = load()
    note = (f"\n\nMeasured {time.strftime('%Y-%m-%d')} with one torch thread, load average "
            f"{before[0]:.1f} before / {after[0]:.1f} after (shared 2-core machine).")
    for name, block in blocks.items():
        print(f"\n{block}{note}")
        if write:
            replace_block(Path(out), name, None, block + note)
