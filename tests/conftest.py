import numpy as np
import pytest

from tests.kit import TINY_RECIPE, ULIRA_ENTRY, ok, tiny_digits_recipe


@pytest.fixture
def tiny_recipe(tmp_path):
    """A small digits MLP recipe that builds in about a second per 4 models."""

    def make(n_models=4, engine="sequential", epochs=3, hidden=16, extra=""):
        p = tmp_path / f"tiny-{engine}-{n_models}.toml"
        p.write_text(tiny_digits_recipe(hidden=hidden, epochs=epochs, batch_size=128, n_models=n_models, engine=engine,
                                        extra=f"ensemble_size = 4\n{extra}\n"))
        return p

    return make


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session", autouse=True)
def _one_thread_per_test_process():
    """Every test runs with one torch thread and one BLAS / OpenMP thread, as muaudit's commands
    do by default (``muaudit.threads``: one thread per process unless ``MUAUDIT_THREADS`` or
    ``OMP_NUM_THREADS`` says otherwise). Tiny models and arrays gain nothing from a second thread,
    and spinning threads make them crawl when other processes share the cores (measured: 10-15%
    less CPU for the fast loop, docs/development.md). A test that needs more threads sets them."""
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a module of tiny models: they gain nothing from 2 threads, and OpenMP
    spin-waits make them crawl when other processes share the cores (measured: a 4-model pool with
    a GA entry 9 s vs 48 s at load average ~7). Modules opt in with
    ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def default_pool(tmp_path_factory):
    """The pool of the packaged default recipe (``digits-mlp``: 64 shadows, a few minutes), built
    once per session into a temporary folder: no test writes into the working folder's
    ``shadow_models/`` (only slow tests use it)."""
    from muaudit.jobs.demo import DEFAULT_RECIPE
    from muaudit.pool import build_pool, load_spec

    out = tmp_path_factory.mktemp("default-pool") / "digits-mlp"
    build_pool(load_spec(DEFAULT_RECIPE), out)
    return out


TINY_AUDIT_RECIPE = ("[dataset]\nname='digits'\n[model]\narch='mlp'\nhidden=[16]\n"
                     "[train]\noptimizer='adam'\nlr=1e-2\nweight_decay=0.0\nepochs=3\n[pool]\nn_models=4\n"
                     "engine='sequential'\n")


@pytest.fixture(scope="session")
def tiny_audit_base(tmp_path_factory):
    """Built once per session: ``tiny.toml`` (4 digits MLP shadows), its ``pool/``, ``orig.pt`` (a
    checkpoint of the recipe, seed 7, on the whole training split) and ``forget.npy`` (every 20th
    training position). Modules copy it with ``tests.helpers_audit.tiny_audit_kit``;
    never write into it."""
    import torch

    from muaudit.models import save_checkpoint
    from muaudit.pool import build_pool, load_spec
    from muaudit.training.single import train_target

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        d = tmp_path_factory.mktemp("tiny-audit-base")
        (d / "tiny.toml").write_text(TINY_AUDIT_RECIPE)
        spec = load_spec(d / "tiny.toml")
        build_pool(spec, d / "pool")
        model, meta = train_target(spec, spec.load_dataset(), random_state=7)
        save_checkpoint(d / "orig.pt", model, meta)
        np.save(d / "forget.npy", np.arange(0, 1347, 20))
    finally:
        torch.set_num_threads(before)
    return d



@pytest.fixture(scope="session")
def cli_kit_base(tmp_path_factory):
    """Built once per session with the CLI, for the tests of careless and hostile input:
    ``tiny.toml`` (``tests.kit.TINY_RECIPE``: 2 digits MLPs, 1 epoch), ``pool.toml`` (the same with
    one U-LiRA entry), ``forget.npy`` (training positions 0..19), ``model.pt`` (trained on the whole
    training split), ``pool/`` (built from ``pool.toml``) and ``results/`` (``muaudit mia``). Modules
    copy it with ``tests.kit.copy_kit``; never write into it."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        d = tmp_path_factory.mktemp("cli-kit-base")
        (d / "tiny.toml").write_text(TINY_RECIPE)
        (d / "pool.toml").write_text(TINY_RECIPE + ULIRA_ENTRY)
        np.save(d / "forget.npy", np.arange(20))
        ok("train", d / "tiny.toml", "--out", d / "model.pt")
        ok("pool", "build", d / "pool.toml", "--out", d / "pool")
        ok("mia", "--target", d / "model.pt", "--forget", d / "forget.npy", "--out", d / "results")
    finally:
        torch.set_num_threads(before)
    return d
