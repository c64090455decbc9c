import numpy as np
import pytest


@pytest.fixture
def tiny_recipe(tmp_path):
    """A small digits MLP recipe that builds in about a second per 4 models."""

    def make(n_models=4, engine="sequential", epochs=3, hidden=16, extra=""):
        p = tmp_path / f"tiny-{engine}-{n_models}.toml"
        p.write_text(f"""
[dataset]
name = "digits"
[model]
arch = "mlp"
hidden = [{hidden}]
[train]
optimizer = "adam"
lr = 1e-2
weight_decay = 0.0
epochs = {epochs}
batch_size = 128
[pool]
n_models = {n_models}
seed = 3
engine = "{engine}"
ensemble_size = 4
{extra}
""")
        return p

    return make


@pytest.fixture
def rng():
    return np.random.default_rng(0)


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
