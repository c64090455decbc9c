"""The local executor's worker processes: a build equal to the in-process one, kill and resume,
the driver the one writer, the shared value sent once, and one `Error:` line per bad --workers."""

import os
import warnings

import numpy as np
import pytest
from click.testing import CliRunner

import muaudit.pool.build as build_module
from muaudit.cli.main import cli
from muaudit.errors import ConfigError, DataError
from muaudit.execution import ExecutionError, LocalExecutor, check_workers, make_executor
from muaudit.execution.processes import ProcessExecutor
from muaudit.pool import Pool, build_pool, load_spec
from muaudit.threads import machine_cores

pytestmark = pytest.mark.usefixtures("one_thread")
UNLEARN = '\n[[unlearn]]\nmethod = "ga"\nretrain = true\n'


@pytest.fixture(scope="module")
def workers():
    with ProcessExecutor(2) as ex:  # one pair of workers for the module (the forkserver starts once)
        yield ex


def _two_chunks(path):
    path.write_text(path.read_text().replace("ensemble_size = 4", "ensemble_size = 2"))
    return path


def add(shared, task):
    return shared + task


def pid_and_view(shared, task):
    return os.getpid(), bool(shared.flags.writeable), float(shared.sum()) + task


def fail(shared, task):
    raise DataError(f"bad task {task}")


def die(shared, task):
    os._exit(1)


def test_default_is_one_worker_per_core_and_one_worker_runs_here(monkeypatch):
    monkeypatch.delenv("MUAUDIT_WORKERS", raising=False)
    assert check_workers(None) == machine_cores()
    monkeypatch.setenv("MUAUDIT_WORKERS", "2")
    assert check_workers(None) == 2
    monkeypatch.setenv("MUAUDIT_WORKERS", "0")
    with pytest.raises(ConfigError, match=r"^Expected `\$MUAUDIT_WORKERS` to be an integer >= 1, got 0$"):
        check_workers(None)
    assert isinstance(make_executor("local", workers=1), LocalExecutor)
    ex = make_executor("local", workers=2)
    assert (type(ex), ex.width, ex.threads, ex.in_process) == (ProcessExecutor, 2, 1, False)


def test_bad_worker_counts():
    with pytest.raises(ConfigError, match=r"^Expected `workers` to be an integer >= 1, got 0$"):
        check_workers(0)
    with pytest.warns(UserWarning, match=f"--workers {machine_cores() + 1} is more than the {machine_cores()} CPU"):
        assert check_workers(machine_cores() + 1) == machine_cores() + 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_workers(machine_cores())
    with pytest.raises(ExecutionError, match="--workers is for --executor local"):
        make_executor("ray", workers=2)


def test_workers_zero_is_one_error_line(tiny_recipe, tmp_path):
    r = CliRunner().invoke(cli, ["pool", "build", str(tiny_recipe()), "--out", str(tmp_path / "p"), "--workers", "0"])
    assert r.exit_code == 2 and r.output.strip().splitlines()[-1].startswith("Error: Expected `workers`")
    assert len(r.output.strip().splitlines()) == 1 and not (tmp_path / "p").exists()


@pytest.mark.slow  # 3.9 s wall at load ~1.5; the fast loop keeps the dead-worker and closing tests
def test_tasks_run_in_other_processes_with_the_shared_value(workers):
    assert sorted(workers.map(add, [1, 2, 3], shared=10)) == [(0, 11), (1, 12), (2, 13)]
    big = np.arange(1_000_000, dtype=np.float32)  # 4 MB: through shared memory, once per worker
    got = dict(workers.map(pid_and_view, range(4), shared=big))
    assert {pid for pid, _, _ in got.values()} - {os.getpid()} == {pid for pid, _, _ in got.values()}
    assert not any(w for _, w, _ in got.values())  # zero-copy read-only views, not per-task copies
    assert {i: s for i, (_, _, s) in got.items()} == {i: float(big.sum()) + i for i in range(4)}


@pytest.mark.slow  # about 1-5 s of the fast loop (docs/development.md)
def test_a_task_error_reaches_the_driver_as_itself(workers):
    with pytest.raises(DataError, match="bad task 1"):
        list(workers.map(fail, [1], shared=None))
    assert sorted(workers.map(add, [1], shared=1)) == [(0, 2)]


def test_a_dead_worker_is_an_execution_error_and_the_next_map_gets_new_workers(workers):
    with pytest.raises(ExecutionError, match="^a worker process died"):
        list(workers.map(die, [0, 1]))
    assert sorted(workers.map(add, [1], shared=1)) == [(0, 2)]


@pytest.mark.parametrize("engine", [pytest.param(e, marks=pytest.mark.slow) for e in ("sequential", "ensemble")])
# measured: 8 s wall each, mostly in the workers (the fast loop, docs/development.md); the fast loop still
# compares a build in worker processes with one in this process in the resume test below
def test_process_build_equals_in_process_build(workers, tiny_recipe, tmp_path, engine):
    spec = load_spec(_two_chunks(tiny_recipe(n_models=4, engine=engine, extra=UNLEARN)))
    here = Pool(build_pool(spec, tmp_path / "here"))
    calls = []
    there = Pool(build_pool(spec, tmp_path / "there", executor=workers, progress=lambda d, t: calls.append(d)))
    assert calls == [0, 1, 2, 3, 4] and there.done.all() and np.array_equal(there.keep, here.keep)
    for group in (None, "unlearned/ga", "retrain/ga"):
        assert np.abs(there.logits(group=group) - here.logits(group=group)).max() <= 1e-5


@pytest.mark.slow  # 2.6 s wall at load ~1.5; the fast loop keeps the dead-worker and closing tests
def test_a_driver_stopped_mid_build_resumes_to_the_same_pool(workers, tiny_recipe, tmp_path, monkeypatch):
    spec = load_spec(tiny_recipe(n_models=4))  # sequential: four one-model chunks
    ref = Pool(build_pool(spec, tmp_path / "ref"))
    real, writers = build_module.commit, []

    def crash_on_third(path, rows):
        writers.append(os.getpid())
        if len(writers) == 3:
            raise KeyboardInterrupt
        real(path, rows)

    monkeypatch.setattr(build_module, "commit", crash_on_third)
    with ProcessExecutor(2) as ex, pytest.raises(KeyboardInterrupt):
        build_pool(spec, tmp_path / "p", executor=ex)
    assert Pool(tmp_path / "p").n_done == 2 and set(writers) == {os.getpid()}  # the driver alone commits
    monkeypatch.setattr(build_module, "commit", real)
    again = Pool(build_pool(spec, tmp_path / "p", executor=workers))
    assert np.abs(again.logits() - ref.logits()).max() <= 1e-5


@pytest.mark.slow
def test_poison_seeds_in_worker_processes_equal_seeds_here(workers):
    from muaudit.poisoning import run_protocol
    from muaudit.pool.spec import PoolSpec

    spec = PoolSpec.from_dict({"dataset": {"name": "digits"}, "model": {"arch": "mlp", "hidden": [32]},
                               "train": {"optimizer": "adam", "lr": 3e-3, "epochs": 3, "weight_decay": 0.0}}, name="t")
    kw = dict(methods=["ga"], attack_options={"fraction": 0.05}, seeds=2)
    _, here = run_protocol("gaussian", spec, **kw)
    _, there = run_protocol("gaussian", spec, executor=workers, **kw)
    assert [r.seed for r in there] == [0, 1]
    for a, b in zip(here, there):
        for name in ("original", "ga", "retrained"):
            np.testing.assert_allclose(a.scores[name].values, b.scores[name].values, atol=1e-5)
            assert a.accuracy[name] == b.accuracy[name]


@pytest.mark.slow
def test_cli_build_in_two_worker_processes(tiny_recipe, tmp_path):
    import json

    r = CliRunner().invoke(cli, ["pool", "build", str(tiny_recipe(n_models=4)), "--out", str(tmp_path / "p"),
                                 "--workers", "2", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["n_done"] == 4


def nap(shared, task):
    import time

    time.sleep(task)
    return task


@pytest.mark.slow  # about 1-5 s of the fast loop (docs/development.md)
def test_closing_with_tasks_left_ends_the_workers_at_once(workers):
    """Ctrl-C in the driver: the exception leaves the map's generator suspended (its frame is held
    by the traceback), so close() must not wait for the tasks nobody will read."""
    import time

    tasks = workers.map(nap, [0, 60, 60, 60])
    assert next(tasks) == (0, 0)
    t0 = time.monotonic()
    workers.close()
    assert time.monotonic() - t0 < 20
    assert sorted(workers.map(add, [1], shared=1)) == [(0, 2)]  # new workers on the next map
