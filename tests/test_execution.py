"""Executors: the local one, and Ray on a 2-CPU local instance (a build equal to a local one,
retried tasks, resumed builds, one `Error:` line per unusable cluster)."""

import os
import sys

import numpy as np
import pytest

from muaudit.cli.main import cli
from muaudit.errors import MuauditError
from muaudit.execution import LocalExecutor, make_executor
from muaudit.pool import Pool, build_pool, load_spec
from tests.kit import interrupt_pool_commits

UNLEARN = '\n[[unlearn]]\nmethod = "ga"\nretrain = true\n'


def add(shared, task):
    return shared + task


def test_local_executor_runs_tasks_in_order_with_the_shared_value():
    assert list(LocalExecutor().map(add, [1, 2, 3], shared=10)) == [(0, 11), (1, 12), (2, 13)]


def test_unknown_executor_is_refused():
    with pytest.raises(MuauditError, match="unknown executor 'dask'; valid: local, ray"):
        make_executor("dask")


def test_progress_is_reported_per_model_not_per_chunk(tiny_recipe, tmp_path):
    calls = []
    build_pool(load_spec(tiny_recipe(n_models=4, engine="ensemble")), tmp_path / "p",
               progress=lambda d, t: calls.append((d, t)))  # ensemble_size 4: one chunk of 4 models
    assert calls == [(0, 4), (1, 4), (2, 4), (3, 4), (4, 4)]


def test_missing_ray_is_one_error_line(tiny_recipe, tmp_path, monkeypatch):
    from click.testing import CliRunner

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    r = CliRunner().invoke(cli, ["pool", "build", str(tiny_recipe()), "--out", str(tmp_path / "p"), "--executor", "ray"])
    assert r.exit_code == 2 and r.output.strip() == "Error: --executor ray needs Ray: pip install 'muaudit[ray]'"
    assert not (tmp_path / "p").exists()


def test_an_address_that_does_not_answer_is_one_error_line(tiny_recipe, tmp_path):
    from click.testing import CliRunner

    pytest.importorskip("ray")
    r = CliRunner().invoke(cli, ["pool", "build", str(tiny_recipe()), "--out", str(tmp_path / "p"), "--executor", "ray",
                                 "--address", "127.0.0.1:1"])
    assert r.exit_code == 2 and r.output.startswith("Error: no Ray cluster answers at '127.0.0.1:1'")
    assert len(r.output.strip().splitlines()) == 1


# --- on a local Ray instance (2 CPUs), shared by the tests below -------------------------------------------
@pytest.fixture(scope="module")
def ray_cluster():  # about 10 s to start on 2 cores; the Ray tests are marked slow (CI runs them)
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests/
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_a_cluster_without_the_requested_gpus_is_one_error_line(ray_cluster, tiny_recipe, tmp_path):
    from click.testing import CliRunner

    r = CliRunner().invoke(cli, ["pool", "build", str(tiny_recipe()), "--out", str(tmp_path / "p"), "--executor", "ray",
                                 "--gpus-per-model", "0.5"])
    assert r.exit_code == 2
    assert r.output.strip() == "Error: the local Ray instance has 0 GPUs; --gpus-per-model 0.5 asks for more"
    assert ray_cluster.is_initialized()  # an instance this process did not start is left running


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["sequential", "ensemble"])
def test_ray_build_equals_local_build(ray_cluster, tiny_recipe, tmp_path, engine):
    spec = load_spec(_write(tiny_recipe(n_models=4, engine=engine, extra=UNLEARN)))
    local = Pool(build_pool(spec, tmp_path / "local"))
    calls = []
    with make_executor("ray", cpus_per_task=1) as ex:
        remote = Pool(build_pool(spec, tmp_path / "ray", executor=ex, progress=lambda d, t: calls.append(d)))
    assert calls == [0, 1, 2, 3, 4]
    assert remote.done.all() and np.array_equal(remote.keep, local.keep)
    for group in (None, "unlearned/ga", "retrain/ga"):
        assert np.abs(remote.logits(group=group) - local.logits(group=group)).max() <= 1e-5
    assert sorted(p.name for p in (tmp_path / "ray" / "weights").glob("*.pt")) == [f"m{m:05d}.pt" for m in range(4)]


def _write(path):
    path.write_text(path.read_text().replace("ensemble_size = 4", "ensemble_size = 2"))  # two chunks run at once
    return path


@pytest.mark.slow
def test_a_driver_stopped_mid_build_resumes_to_the_same_pool(ray_cluster, tiny_recipe, tmp_path, monkeypatch):
    spec = load_spec(tiny_recipe(n_models=4))
    ref = Pool(build_pool(spec, tmp_path / "ref"))
    restore = interrupt_pool_commits(monkeypatch, at=3)
    with make_executor("ray") as ex, pytest.raises(KeyboardInterrupt):
        build_pool(spec, tmp_path / "p", executor=ex)
    restore()
    assert Pool(tmp_path / "p").n_done == 2  # only what the driver committed
    with make_executor("ray") as ex:
        again = Pool(build_pool(spec, tmp_path / "p", executor=ex))
    assert np.abs(again.logits() - ref.logits()).max() <= 1e-5


def die_once(marker, task):
    """Kills its worker process the first time it runs (a crashed machine), then succeeds."""
    if not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(1)
    return task * 2


@pytest.mark.slow
def test_a_task_whose_worker_dies_is_retried(ray_cluster, tmp_path):
    with make_executor("ray", max_retries=2) as ex:
        assert dict(ex.map(die_once, [1, 2], shared=str(tmp_path / "died"))) == {0: 2, 1: 4}
    with make_executor("ray", max_retries=0) as ex, pytest.raises(Exception, match="(?i)worker|died|crash"):
        dict(ex.map(die_once, [1], shared=str(tmp_path / "died-again")))


@pytest.mark.slow
def test_shared_arrays_reach_every_task_once_through_the_object_store(ray_cluster):
    big = np.arange(1_000_000, dtype=np.float32)
    with make_executor("ray") as ex:
        sums = dict(ex.map(_sum_plus, [0, 1, 2], shared=big))
    assert sums == {i: float(big.sum()) + i for i in range(3)}


def _sum_plus(shared, task):
    assert not shared.flags.writeable  # a zero-copy view of the object store, not a per-task copy
    return float(shared.sum()) + task


@pytest.mark.slow
def test_poison_seeds_through_ray_equal_local_seeds(ray_cluster):
    from muaudit.poisoning import run_protocol
    from muaudit.pool.spec import PoolSpec

    spec = PoolSpec.from_dict({"dataset": {"name": "digits"}, "model": {"arch": "mlp", "hidden": [32]},
                               "train": {"optimizer": "adam", "lr": 3e-3, "epochs": 3, "weight_decay": 0.0}}, name="t")
    kw = dict(methods=["ga"], attack_options={"fraction": 0.05}, seeds=2)
    _, local = run_protocol("gaussian", spec, **kw)
    with make_executor("ray") as ex:
        _, remote = run_protocol("gaussian", spec, executor=ex, **kw)
    assert [r.seed for r in remote] == [0, 1]  # in seed order, whichever finished first
    for a, b in zip(local, remote):
        for name in ("original", "ga", "retrained"):
            np.testing.assert_allclose(a.scores[name].values, b.scores[name].values, atol=1e-5)
            assert a.accuracy[name] == b.accuracy[name]
