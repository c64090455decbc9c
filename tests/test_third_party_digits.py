"""The issue's case end to end on the default pool: a TorchScript MLP written as a plain
``nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10))`` (flat ``[N, 64]`` inputs),
which crashed ``muaudit lira`` before the input adapter, gets the right verdicts."""

import numpy as np
import pytest
import torch
from torch import nn

from muaudit.jobs import run_lira
from muaudit.jobs.demo import DEFAULT_RECIPE
from muaudit.pool import load_spec

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]


def _flat_mlp(X, y):
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    X, y = torch.as_tensor(X.reshape(len(X), -1)), torch.as_tensor(y)
    g = torch.Generator().manual_seed(1)
    for _ in range(100):
        perm = torch.randperm(len(X), generator=g)
        for s in range(0, len(X), 128):
            b = perm[s:s + 128]
            opt.zero_grad()
            nn.functional.cross_entropy(model(X[b]), y[b]).backward()
            opt.step()
    return torch.jit.script(model.eval())


@pytest.fixture(scope="module")
def audits(tmp_path_factory, default_pool):
    d = tmp_path_factory.mktemp("flat")
    pool = default_pool  # built once per session in a temporary folder (tests/conftest.py)
    ds = load_spec(DEFAULT_RECIPE).load_dataset()
    # a 30% forget set: on digits the smallest whose audit can rule out a 50% residual (docs/power.md)
    forget = np.sort(np.random.default_rng(0).choice(1347, 404, replace=False))
    np.save(d / "forget.npy", forget)
    out = {}
    for name, pos in (("orig", np.arange(1347)), ("retrain", np.setdiff1d(np.arange(1347), forget))):
        _flat_mlp(ds.X[ds.train_idx[pos]], ds.y[ds.train_idx[pos]]).save(str(d / f"{name}.pt"))
        np.save(d / f"train-{name}.npy", pos)
        out[name], _ = run_lira(target=d / f"{name}.pt", forget=d / "forget.npy", pool=pool,
                                train_idx=d / f"train-{name}.npy", out=d / f"r-{name}")
    return out


def test_flat_torchscript_original_is_caught(audits):
    r = audits["orig"]
    # measured: p = 1e-4 (the smallest the 10,000-permutation test gives), AUC 0.585
    assert r["verdict"] == "not unlearned" and r["p_value"] < 0.01
    assert r["inputs"]["target_details"]["input_adapter"]["layout"] == "flat"
    assert r["compatibility"]["status"] == "ok", r["compatibility"]["reasons"]


def test_flat_torchscript_retrain_is_consistent(audits):
    r = audits["retrain"]
    # measured (30% forget set): consistent with retraining, power 1.00, compatibility ok
    assert r["verdict"] == "consistent with retraining", r["inconclusive_reasons"]
    assert r["power_control"]["power"] >= 0.95
    assert r["compatibility"]["status"] == "ok", r["compatibility"]["reasons"]
