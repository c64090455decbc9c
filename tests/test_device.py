"""GPU paths tested on CPU: the clock waits for CUDA work, the ensemble's memory bound is a pure
function, and training caps the ensemble where the bound says so."""

import time

import numpy as np
import pytest
import torch

import muaudit.training.engine as engine_module
from muaudit.models import build_model
from muaudit.training import TrainRecipe, train_models
from muaudit.training.device import (bounded_ensemble_size, device_clock, ensemble_size_for_memory,
                                     model_training_bytes, synchronize)


def test_synchronize_is_a_no_op_on_cpu_and_waits_on_cuda(monkeypatch):
    calls = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda d=None: calls.append(str(d)))
    synchronize("cpu")
    assert calls == []
    synchronize("cuda:0")
    assert calls == ["cuda:0"]


def test_the_clock_is_cpu_time_on_cpu_and_synchronised_wall_time_on_cuda(monkeypatch):
    assert device_clock("cpu") is time.process_time
    calls = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda d=None: calls.append(1))
    clock = device_clock("cuda")
    t0 = clock()
    assert calls == [1] and abs(t0 - time.perf_counter()) < 5.0  # wall time, read after the wait


def test_ensemble_size_for_memory():
    MB, GB = 1 << 20, 1 << 30
    assert ensemble_size_for_memory(64, 100 * MB, 4 * GB) == 32  # 0.8 * 4096 MB / 100 MB = 32.8
    assert ensemble_size_for_memory(16, 100 * MB, 4 * GB) == 16  # the request when it fits
    assert ensemble_size_for_memory(16, 100 * MB, 4 * GB, data_bytes=4 * GB) == 1  # never 0
    assert ensemble_size_for_memory(64, 100 * MB, 4 * GB, headroom=0.5) == 20


def test_model_training_bytes_counts_weights_optimiser_and_activations():
    mlp = build_model("mlp", (64,), 10, random_state=0, hidden=[512])
    n = 64 * 512 + 512 + 512 * 10 + 10
    assert model_training_bytes(mlp, 128, "adam") == 4 * (5 * n + 2 * 128 * (512 + 10))
    assert model_training_bytes(mlp, 128, "sgd") == 4 * (3 * n + 2 * 128 * (512 + 10))


def test_the_bound_applies_on_cuda_only(monkeypatch):
    mlp = build_model("mlp", (64,), 10, random_state=0, hidden=[512])
    assert bounded_ensemble_size(16, mlp, 128, "adam", torch.device("cpu")) == 16
    per = model_training_bytes(mlp, 128, "adam")
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda d=None: (int(5.5 * per / 0.8), 80 << 30))
    assert bounded_ensemble_size(16, mlp, 128, "adam", torch.device("cuda")) == 5


def test_training_uses_the_bounded_ensemble_size_and_the_same_models(monkeypatch):
    X = torch.randn(200, 8)
    y = torch.randint(0, 3, (200,))
    make = lambda s: build_model("mlp", (8,), 3, random_state=s, hidden=[16])  # noqa: E731
    rows = [np.arange(0, 100), np.arange(50, 150), np.arange(100, 200)]
    recipe = TrainRecipe(optimizer="adam", lr=1e-2, epochs=2, batch_size=32)
    full = [m for c in train_models(make, X, y, rows, [1, 2, 3], recipe, engine="ensemble", ensemble_size=3) for m in c]
    monkeypatch.setattr(engine_module, "bounded_ensemble_size", lambda k, *a: 2)  # as if the GPU held 2
    chunks = list(train_models(make, X, y, rows, [1, 2, 3], recipe, engine="ensemble", ensemble_size=3))
    assert [len(c) for c in chunks] == [2, 1]
    for (i, a), (j, b) in zip(full, [m for c in chunks for m in c]):
        assert i == j
        assert (a(X) - b(X)).abs().max() < 1e-5


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU on this machine")
def test_a_build_on_cuda_keeps_its_data_there():  # pragma: no cover - runs where a GPU is
    X = torch.randn(64, 8, device="cuda")
    y = torch.randint(0, 3, (64,), device="cuda")
    make = lambda s: build_model("mlp", (8,), 3, random_state=s, hidden=[16])  # noqa: E731
    for chunk in train_models(make, X, y, [np.arange(64)] * 2, [0, 1], TrainRecipe(epochs=1), engine="ensemble"):
        assert all(next(m.parameters()).is_cuda for _, m in chunk)
