"""Audit figures drawn in a forked helper process, so that matplotlib's import, its first figure
and the drawing (about 1.5 CPU seconds) overlap the audit instead of following it.

:func:`start_figure_worker` is called first thing by the commands that write an audit folder. On
Linux, in a process that has not imported torch and runs no other thread (a fresh ``muaudit``
command, not a library caller or a test runner), it forks a child that imports matplotlib, draws a
throw-away figure and waits. :func:`draw_figures` sends it the figures' data as soon as the scores
exist and returns at once; :meth:`PendingFigures.write` writes the PNGs into the results folder
when the folder is written (nothing is written before: an audit that fails leaves no file). An
error in the child is raised by ``write`` as it was raised there. Without a worker (other
platforms, library use, a child that died) ``write`` draws the same figures in this process.
"""

from __future__ import annotations

import os
import sys

_worker = None  # (process, connection) while a worker runs
_jobs = iter(range(1, sys.maxsize))  # job numbers: a reply is matched to its job


def start_figure_worker() -> bool:
    """Fork the figure worker if this process allows it cheaply and safely; True if one runs.

    ``MUAUDIT_FIGURES=inline`` turns it off (the figures are then drawn in this process)."""
    global _worker
    import threading

    if _worker is not None:
        return True
    if sys.platform != "linux" or "torch" in sys.modules or threading.active_count() > 1 \
            or os.environ.get("MUAUDIT_FIGURES") == "inline":
        return False
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    ours, theirs = ctx.Pipe()
    proc = ctx.Process(target=_serve, args=(theirs, ours), name="muaudit-figures", daemon=True)
    try:
        proc.start()
    except OSError:  # no processes left: draw in this process
        return False
    theirs.close()
    _worker = (proc, ours)
    return True


class PendingFigures:
    """The audit figures of ``curves``/``groups`` (see :func:`muaudit.report.figures.render_audit_figures`),
    being drawn by the worker if one was sent the job, else drawn by :meth:`write`."""

    def __init__(self, curves: dict, groups: dict):
        self.job, self.number = (curves, groups), next(_jobs)
        self.sent = _send((self.number, curves, groups))

    def write(self, out_dir) -> list[str]:
        """Write the PNGs into ``out_dir`` (waiting for the worker); return their names."""
        from muaudit.report.figures import render_audit_figures, write_figures

        pngs = _receive(self.number) if self.sent else None
        return write_figures(out_dir, pngs if pngs is not None else render_audit_figures(*self.job))


def draw_figures(curves: dict, groups: dict) -> PendingFigures:
    """Start drawing the audit figures (in the worker where one runs); write them with ``.write``."""
    return PendingFigures(curves, groups)


def _send(job) -> bool:
    global _worker
    if _worker is None:
        return False
    try:
        _worker[1].send(job)
        return True
    except (OSError, ValueError):  # a broken pipe: the worker is gone
        _worker = None
        return False


def _receive(number: int) -> dict | None:
    """The worker's PNGs for job ``number``, None if it died (the caller draws them), or its error
    raised here. Replies to earlier jobs nobody wrote (an audit that failed after sending) are skipped."""
    global _worker
    while _worker is not None:
        try:
            got, status, value = _worker[1].recv()
        except (EOFError, OSError):
            _worker = None
            return None
        if got != number:
            continue
        if status == "error":
            raise value
        return value
    return None


def _serve(conn, parents_end) -> None:
    """The worker: import matplotlib, draw one figure to warm its caches, then render on request
    until the parent's end of the pipe closes. Prints nothing; Ctrl-C is the parent's to handle."""
    import signal
    import warnings

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parents_end.close()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    warnings.simplefilter("ignore")
    from muaudit.report.figures import render_audit_figures, warm_up

    try:
        warm_up()
    except Exception:  # noqa: BLE001 - a real failure shows again, and is reported, with the real figures
        pass
    while True:
        try:
            number, curves, groups = conn.recv()
        except (EOFError, OSError):
            return
        try:
            reply = (number, "ok", render_audit_figures(curves, groups))
        except Exception as e:  # noqa: BLE001 - raised again in the parent
            reply = (number, "error", e)
        try:
            conn.send(reply)
        except Exception:  # noqa: BLE001 - an exception that does not pickle: say what it was
            conn.send((number, "error", RuntimeError(f"{type(reply[2]).__name__}: {reply[2]}")))
