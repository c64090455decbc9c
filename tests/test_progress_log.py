"""Progress a log can show: plain lines at a steady interval when stderr is not a terminal, and
a terminal bar whose estimate follows the measured rate after the first model (fake clocks)."""

import io

import pytest
from click.testing import CliRunner

from muaudit.cli.common import progress_bar
from muaudit.errors import ConfigError
from muaudit.progress import LogLines, Rate, TerminalBar, format_duration, log_interval


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def run_job(progress, clock, times):
    """``progress(done, total)`` with done = 1, 2, ... at the given times (seconds)."""
    for done, t in enumerate(times, 1):
        clock.t = t
        progress(done, len(times))


def test_one_line_per_interval_and_one_at_the_end():
    clock, out = Clock(), io.StringIO()
    log = LogLines("training pool", out, interval=10, clock=clock)
    clock.t = 5.0  # start-up: imports, the first model's warm-up
    log(0, 8)
    run_job(log, clock, [7.0, 9.0, 11.0, 13.0, 15.0, 17.0, 19.0, 21.0])  # one model every 2 s after the first
    lines = out.getvalue().splitlines()
    assert lines == ["training pool: 3/8 (38%) after 11 s, 30/min, about 10 s left",
                     "training pool: 8/8 (100%) in 21 s, 22.9/min"]


def test_lines_keep_a_steady_interval_and_the_estimate_follows_the_rate():
    clock, out = Clock(), io.StringIO()
    log = LogLines("x", out, interval=10, clock=clock)
    run_job(log, clock, [30.0] + [30.0 + 3 * k for k in range(1, 20)])  # a slow first model, then 3 s each
    lines = out.getvalue().splitlines()
    assert len(lines) == 6  # at 30, 42, 54, 66 and 78 s (>= 10 s apart), and the end (87 s)
    assert lines[0] == "x: 1/20 (5%) after 30 s, rate not measured yet"
    assert lines[1] == "x: 5/20 (25%) after 42 s, 20/min, about 45 s left"  # 15 models left at 3 s: 45 s
    assert lines[-1].startswith("x: 20/20 (100%) in 1 min 27 s")


def test_a_short_job_prints_nothing_and_a_count_without_total_prints_lines():
    clock, out = Clock(), io.StringIO()
    run_job(LogLines("x", out, interval=10, clock=clock), clock, [1.0, 2.0, 3.0])
    assert out.getvalue() == ""
    clock.t = 0.0
    count = LogLines("unlearning", out, interval=10, clock=clock)
    for done, t in ((1000, 4.0), (5000, 14.0), (6000, 16.0)):
        clock.t = t
        count(done, 0)
    clock.t = 20.0
    count.close()
    assert out.getvalue().splitlines() == ["unlearning: 5,000 after 14 s, 400/s", "unlearning: 6,000 in 20 s, 300/s"]


def test_interval_from_the_environment(monkeypatch):
    monkeypatch.setenv("MUAUDIT_PROGRESS_INTERVAL", "2.5")
    assert log_interval() == 2.5 and LogLines("x", io.StringIO()).interval == 2.5
    for bad in ("0", "-1", "soon", "inf", "nan"):
        monkeypatch.setenv("MUAUDIT_PROGRESS_INTERVAL", bad)
        with pytest.raises(ConfigError, match=f"^Expected MUAUDIT_PROGRESS_INTERVAL a number of seconds > 0, got '{bad}'$"):
            log_interval()


def test_terminal_estimate_ignores_the_start_up():
    """The old bar averaged from the start: a build whose first model came after 20 s of start-up
    showed minutes left; the estimate now follows the rate measured after the first model."""
    clock, out = Clock(), io.StringIO()
    bar = TerminalBar("training", out, clock=clock, width=8)
    bar(0, 10)
    clock.t = 20.0
    bar(1, 10)
    assert "eta" not in out.getvalue().split("\r")[-1]  # one model: no rate yet
    clock.t = 22.0
    bar(2, 10)
    assert out.getvalue().split("\r")[-1] == "training [#-------] 2/10  30/min  eta 16 s"
    for done in range(3, 11):
        clock.t += 2.0
        bar(done, 10)
    assert out.getvalue().endswith("\rtraining [########] 10/10  30/min  in 38 s\n")


def test_rate_and_durations():
    clock = Clock()
    r = Rate(clock=clock)
    assert r.per_second() is None and r.seconds_left() is None
    clock.t = 3.0
    r.update(4, 8)  # a whole ensemble chunk at once
    clock.t = 3.5
    r.update(8, 16)
    assert r.per_second() is None  # half a second is no span to measure a rate over
    clock.t = 7.0
    r.update(8, 16)
    assert r.per_second() == 1.0 and r.seconds_left() == 8.0
    assert [format_duration(s) for s in (4.4, 65, 3 * 3600 + 7 * 60)] == ["4 s", "1 min 05 s", "3 h 07 min"]


def test_the_cli_shows_log_lines_when_stderr_is_not_a_terminal(tiny_recipe, tmp_path, monkeypatch):
    monkeypatch.setenv("MUAUDIT_PROGRESS_INTERVAL", "0.001")
    r = CliRunner().invoke(cli_main(), ["pool", "build", str(tiny_recipe(n_models=2)), "--out", str(tmp_path / "p"),
                                        "--workers", "1"])
    assert r.exit_code == 0, r.output
    lines = [line for line in r.output.splitlines() if line.startswith("training ")]
    assert lines[-1].startswith("training tiny-sequential-2: 2/2 (100%) in ")
    assert isinstance(progress_bar("x", io.StringIO()), LogLines)


def cli_main():
    from muaudit.cli.main import cli

    return cli
