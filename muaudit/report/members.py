"""The files of a results folder besides ``results.json``: checked before a report reads them, and
kept apart from what a report writes.

A results folder is written beside its final place and moved in only when complete
(:func:`muaudit.atomic.staged_dir`), so a folder with a missing, empty or truncated member was
damaged afterwards (or copied half-way): :func:`check_members` refuses it instead of showing it
as a valid audit.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from muaudit.errors import MuauditError

SCORES = "scores.npz"
AUDIT_FIGURES = ("roc.png", "roc_loglog.png", "scores_hist.png")  # written together
KNOWN_FIGURES = (*AUDIT_FIGURES, "poison_metric.png", "benchmark.png")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PNG_END = b"IEND\xaeB`\x82"  # the last chunk of every complete PNG


def _damaged(folder: Path, name: str, why: str) -> MuauditError:
    return MuauditError(f"results folder {folder} is damaged: {name} {why}; rerun the command that wrote it")


def check_members(folder) -> None:
    """Raise :class:`MuauditError` when a member of ``folder`` is a symbolic link (a figure could
    then embed any file of this machine), empty or truncated, or missing where its companions
    exist (``scores.npz`` beside any figure; the three audit figures together)."""
    folder = Path(folder)
    for p in sorted(folder.glob("*.png")) + sorted(folder.glob("*.npz")) + [folder / "results.json"]:
        if p.is_symlink():
            raise MuauditError(f"results folder {folder}: {p.name} is a symbolic link; a report embeds only "
                               "files of the folder itself")
    present = {name for name in (SCORES, *KNOWN_FIGURES) if (folder / name).exists()}
    if present and SCORES not in present:
        raise _damaged(folder, SCORES, "is missing")
    some = present & set(AUDIT_FIGURES)
    if some and some != set(AUDIT_FIGURES):
        raise _damaged(folder, sorted(set(AUDIT_FIGURES) - some)[0], "is missing")
    if SCORES in present:
        _check_npz(folder, folder / SCORES)
    for name in sorted(present - {SCORES}):
        _check_png(folder, folder / name)


def _check_npz(folder: Path, p: Path) -> None:
    try:
        if p.stat().st_size == 0:
            raise _damaged(folder, p.name, "is empty")
        with zipfile.ZipFile(p) as z:
            bad = z.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
        raise _damaged(folder, p.name, f"is not a complete .npz archive ({e})") from None
    if bad is not None:
        raise _damaged(folder, p.name, f"is not a complete .npz archive (member {bad!r} is corrupt)")


def _check_png(folder: Path, p: Path) -> None:
    try:
        size = p.stat().st_size
        with open(p, "rb") as f:
            head = f.read(8)
            f.seek(max(size - 8, 0))
            tail = f.read(8)
    except OSError as e:
        raise _damaged(folder, p.name, f"cannot be read ({e.strerror or e})") from None
    if size == 0:
        raise _damaged(folder, p.name, "is empty")
    if head != PNG_MAGIC or tail != PNG_END:
        raise _damaged(folder, p.name, "is not a complete PNG image (truncated)")


def read_files(folder) -> dict[str, Path]:
    """The files a report reads from ``folder``, by a name for messages."""
    folder = Path(folder)
    files = [folder / "results.json", folder / SCORES, *sorted(folder.glob("*.png"))]
    return {str(p): p for p in files if p.exists() or p.is_symlink()}


def check_report_outputs(folders, outputs: dict) -> None:
    """Refuse outputs (``{"--out": path, "--csv": path}``) that are a file the report reads, or one
    file named twice."""
    from muaudit.paths import check_not_inputs

    inputs = {}
    for folder in folders:
        inputs.update(read_files(folder))
    check_not_inputs(outputs, inputs)
