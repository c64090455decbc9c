"""Training: both engines give the same model, the optimiser matches torch.optim, prediction, engine choice."""

import itertools

import numpy as np
import pytest
import torch
from torch import nn

import muaudit.training.engine as engine_mod
from muaudit.data import load_dataset
from muaudit.errors import ConfigError
from muaudit.models import build_model
from muaudit.training import TrainRecipe, choose_engine, predict_logits, supports_ensemble, train_models
from muaudit.training.batches import augment_images, batch_plan
from muaudit.training.optim import FunctionalOptimizer
from muaudit.training.sequential import train_sequential


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: see tests/conftest.py


@pytest.fixture(scope="module")
def digits():
    ds = load_dataset("digits")
    return ds, torch.as_tensor(ds.X), torch.as_tensor(ds.y)


ARCHS = {"mlp": ("mlp", {"hidden": [24, 16]}), "cnn": ("cnn", {"channels": [4, 6], "hidden": 12})}


def train_all(arch, X, y, rows, seeds, recipe, engine, ensemble_size=8):
    name, kw = ARCHS[arch]
    make = lambda s: build_model(name, tuple(X.shape[1:]), 10, random_state=s, **kw)  # noqa: E731
    chunks = list(train_models(make, X, y, rows, seeds, recipe, engine=engine, ensemble_size=ensemble_size))
    models = [m for chunk in chunks for _, m in sorted(chunk, key=lambda t: t[0])]
    return models, [make(s) for s in seeds]


def logits(models, X):
    with torch.no_grad():
        return torch.stack([m.eval()(X) for m in models])


# --- both engines, same model ----------------------------------------------------------------------

@pytest.mark.parametrize("arch, optimizer, schedule, augment",
                         list(itertools.product(["mlp", "cnn"], ["sgd", "adam"], ["constant", "cosine"], [False, True])))
def test_engines_give_the_same_model(digits, arch, optimizer, schedule, augment):
    ds, X, y = digits
    rng = np.random.default_rng(1)
    # ragged: 3, 2 and 4 steps per epoch in one ensemble chunk
    rows = [np.sort(rng.choice(ds.train_idx, n, replace=False)) for n in (70, 40, 100)]
    seeds = [11, 12, 13]
    recipe = TrainRecipe(optimizer=optimizer, lr=0.1 if optimizer == "sgd" else 0.01, momentum=0.9,
                         weight_decay=1e-3, epochs=2, batch_size=32, schedule=schedule, augment=augment)
    seq, init = train_all(arch, X, y, rows, seeds, recipe, "sequential")
    ens, _ = train_all(arch, X, y, rows, seeds, recipe, "ensemble")
    probe = X[ds.test_idx[:128]]
    out_seq, out_ens, out_init = logits(seq, probe), logits(ens, probe), logits(init, probe)
    assert (out_seq - out_ens).abs().max() < 1e-4
    moved = (out_seq - out_init).abs().amax(dim=(1, 2))
    assert (moved > 0.02).all(), moved  # every model trained, so the equality is not trivial


def test_ensemble_chunks_and_order(digits):
    ds, X, y = digits
    rows = [ds.train_idx[i::5][:60] for i in range(5)]
    seeds = [5, 6, 7, 8, 9]
    recipe = TrainRecipe(optimizer="sgd", lr=0.1, epochs=1, batch_size=32)
    chunked, _ = train_all("mlp", X, y, rows, seeds, recipe, "ensemble", ensemble_size=2)
    single, _ = train_all("mlp", X, y, rows, seeds, recipe, "sequential")
    assert (logits(chunked, X[:64]) - logits(single, X[:64])).abs().max() < 1e-4
    ids = [i for chunk in train_models(lambda s: build_model("mlp", (1, 8, 8), 10, random_state=s), X, y, rows, seeds,
                                       recipe, engine="ensemble", ensemble_size=2) for i, _ in chunk]
    assert ids == [0, 1, 2, 3, 4]


def test_model_with_no_rows_is_left_at_init(digits):
    ds, X, y = digits
    rows = [ds.train_idx[:50], ds.train_idx[:0]]
    recipe = TrainRecipe(optimizer="adam", lr=0.01, epochs=2, batch_size=16)
    ens, init = train_all("mlp", X, y, rows, [1, 2], recipe, "ensemble")
    assert torch.equal(logits(ens[1:], X[:8]), logits(init[1:], X[:8]))
    assert not torch.equal(logits(ens[:1], X[:8]), logits(init[:1], X[:8]))


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_sequential_rows_equal_a_copy_of_the_rows(digits, arch):
    # pool builds pass the whole population and the model's rows (no copy of half a dataset)
    ds, X, y = digits
    rows = np.sort(np.random.default_rng(0).choice(len(y), 150, replace=False))
    recipe = TrainRecipe(epochs=2, batch_size=32, augment=True)
    name, kw = ARCHS[arch]
    a = train_sequential(build_model(name, (1, 8, 8), 10, random_state=4, **kw), X, y, recipe, 4, rows=rows)
    b = train_sequential(build_model(name, (1, 8, 8), 10, random_state=4, **kw), X[rows], y[rows], recipe, 4)
    assert torch.equal(logits([a], X[:64]), logits([b], X[:64]))


def test_sequential_is_deterministic(digits):
    ds, X, y = digits
    recipe = TrainRecipe(epochs=1, batch_size=64, augment=True)
    a, _ = train_all("cnn", X, y, [ds.train_idx[:200]], [3], recipe, "sequential")
    b, _ = train_all("cnn", X, y, [ds.train_idx[:200]], [3], recipe, "sequential")
    assert torch.equal(logits(a, X[:32]), logits(b, X[:32]))
    assert next(a[0].parameters()).is_contiguous() and not a[0].training


@pytest.mark.parametrize("engine", ["sequential", "ensemble"])
def test_digits_mlp_reaches_90_percent(digits, engine):
    ds, X, y = digits
    recipe = TrainRecipe(optimizer="adam", lr=1e-3, weight_decay=0.0, epochs=30, batch_size=128)
    make = lambda s: build_model("mlp", (1, 8, 8), 10, random_state=s, hidden=[128])  # noqa: E731
    ((_, model),) = next(train_models(make, X, y, [ds.train_idx], [0], recipe, engine=engine))
    pred = predict_logits(model, X[ds.test_idx])[:, 0].argmax(-1)
    assert (pred == ds.y[ds.test_idx]).mean() >= 0.9


def test_unknown_engine(digits):
    _, X, y = digits
    with pytest.raises(ConfigError, match=r"Expected `engine` in \('sequential', 'ensemble'\), got 'auto'"):
        list(train_models(lambda s: build_model("mlp", (1, 8, 8), 10), X, y, [np.arange(4)], [0], TrainRecipe(), engine="auto"))


# --- the functional optimiser equals torch.optim ------------------------------------------------------

def _grads(shape, n_steps, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=g) for _ in range(n_steps)]


@pytest.mark.parametrize("recipe, torch_opt", [
    (TrainRecipe(optimizer="sgd", lr=0.1, momentum=0.9, weight_decay=5e-3),
     lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=5e-3)),
    (TrainRecipe(optimizer="sgd", lr=0.1, momentum=0.0, weight_decay=0.0),
     lambda p: torch.optim.SGD(p, lr=0.1)),
    (TrainRecipe(optimizer="adam", lr=0.01, weight_decay=1e-2),
     lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=1e-2)),
    (TrainRecipe(optimizer="adam", lr=0.01, weight_decay=0.0, schedule="cosine"),
     lambda p: torch.optim.Adam(p, lr=0.01)),
])
def test_functional_optimizer_matches_torch(recipe, torch_opt):
    n_steps = 12
    grads = _grads((5, 3), n_steps)
    ours = torch.randn(5, 3, generator=torch.Generator().manual_seed(1))
    ref = nn.Parameter(ours.clone())
    opt = FunctionalOptimizer([ours], recipe)
    topt = torch_opt([ref])
    for t, g in enumerate(grads):
        lr = recipe.lr_at(t, n_steps)
        for group in topt.param_groups:
            group["lr"] = lr
        ref.grad = g.clone()
        topt.step()
        ours.grad = g.clone()
        opt.step(torch.tensor(lr, dtype=torch.float64))
    torch.testing.assert_close(ours, ref.detach(), rtol=0, atol=1e-6)
    assert (ours - torch.randn(5, 3, generator=torch.Generator().manual_seed(1))).abs().max() > 1e-2


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_batched_optimizer_masks_inactive_models(optimizer):
    recipe = TrainRecipe(optimizer=optimizer, lr=0.05, weight_decay=1e-3)
    K, n_steps = 3, 6
    grads = _grads((K, 4), n_steps, seed=2)
    active = [torch.tensor([True, t % 2 == 0, t < 2]) for t in range(n_steps)]
    batched = torch.randn(K, 4, generator=torch.Generator().manual_seed(3))
    singles = [batched[k].clone() for k in range(K)]
    opt = FunctionalOptimizer([batched], recipe, n_models=K)
    single_opts = [FunctionalOptimizer([p], recipe) for p in singles]
    for t in range(n_steps):
        batched.grad = grads[t].clone()
        opt.step(torch.full((K,), 0.05, dtype=torch.float64), active[t])
        for k in range(K):
            if active[t][k]:
                singles[k].grad = grads[t][k].clone()
                single_opts[k].step(torch.tensor(0.05, dtype=torch.float64))
    torch.testing.assert_close(batched, torch.stack(singles), rtol=0, atol=1e-6)


# --- prediction, recipe, batches ------------------------------------------------------------------------

def test_predict_logits_eval_mode_views_and_restore():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2), nn.Dropout(0.5), nn.Flatten(),
                          nn.Linear(2 * 4 * 5, 3))
    X = torch.randn(7, 1, 4, 5)
    model.train()
    out = predict_logits(model, X.numpy(), n_views=2, batch_size=3)
    assert out.shape == (7, 2, 3) and out.dtype == np.float32 and model.training
    model.eval()
    with torch.no_grad():
        np.testing.assert_allclose(out[:, 0], model(X).numpy(), atol=1e-6)
        np.testing.assert_allclose(out[:, 1], model(torch.flip(X, dims=[3])).numpy(), atol=1e-6)
    assert not np.allclose(out[:, 0], out[:, 1])
    predict_logits(model, X)
    assert not model.training


def test_predict_logits_restores_mode_on_error():
    model = nn.Linear(4, 2).train()
    with pytest.raises(RuntimeError):
        predict_logits(model, torch.zeros(3, 5))
    assert model.training


def test_predict_many_gives_each_model_its_own_logits_exactly(monkeypatch):
    import muaudit.training.predict as predict_mod

    monkeypatch.setattr(predict_mod, "CPU_BATCH_BYTES", 3 * 3 * 8 * 8 * 4)  # 3 rows a batch: several batches
    X = torch.randn(10, 3, 8, 8)
    models = [build_model("mlp", (3, 8, 8), 5, random_state=s, hidden=[16]) for s in range(4)]
    models[2].eval()
    alone = [predict_logits(m, X, n_views=2) for m in models]
    for chunk in ([0, 1, 2, 3], [3, 1], [2]):  # any chunk of models: the same logits, bit for bit
        together = predict_mod.predict_many([models[i] for i in chunk], X, n_views=2)
        for i, z in zip(chunk, together):
            np.testing.assert_array_equal(z, alone[i])
    assert [m.training for m in models] == [True, True, False, True]  # each model's own mode back
    with torch.no_grad():
        np.testing.assert_allclose(alone[1][:, 1], models[1].eval()(torch.flip(X, dims=[3])).numpy(), atol=1e-6)
    assert predict_mod.batch_rows(X, 2048, "cpu") == 3 and predict_mod.batch_rows(X, 2, "cpu") == 2
    buf = torch.empty_like(X)  # the reused flip buffer gives torch.flip's values
    assert predict_mod.view(X, 1, buf) is buf and torch.equal(buf, torch.flip(X, dims=[-1]))


def test_predict_logits_flip_needs_images():
    with pytest.raises(ConfigError, match="n_views=2 .* image inputs"):
        predict_logits(nn.Linear(4, 2), torch.zeros(3, 4), n_views=2)


def test_recipe_validation():
    with pytest.raises(ConfigError, match=r"unknown train key 'lr_decay'; valid: optimizer, lr, momentum"):
        TrainRecipe.from_dict({"lr_decay": 0.1})
    with pytest.raises(ConfigError, match=r"Expected `optimizer` in \('sgd', 'adam'\), got 'rmsprop'"):
        TrainRecipe(optimizer="rmsprop")
    with pytest.raises(ConfigError, match=r"Expected `batch_size` an integer in \[1, 1048576\], got 0"):
        TrainRecipe(batch_size=0)
    r = TrainRecipe(lr=0.2, schedule="cosine")
    assert r.lr_at(0, 10) == 0.2 and abs(r.lr_at(5, 10) - 0.1) < 1e-12 and r.lr_at(10, 10) < 1e-12


def test_batch_plan_covers_each_example_once_per_epoch():
    steps = list(batch_plan(10, 4, 2, random_state=0))
    assert [len(s) for s in steps] == [4, 4, 2, 4, 4, 2]
    assert sorted(np.concatenate(steps[:3])) == list(range(10)) == sorted(np.concatenate(steps[3:]))
    assert not np.array_equal(np.concatenate(steps[:3]), np.concatenate(steps[3:]))


def test_augment_is_a_crop_and_flip():
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8) + 1
    out = augment_images(x, np.random.default_rng(0))
    again = augment_images(x, np.random.default_rng(0))
    assert out.shape == x.shape and torch.equal(out, again)
    padded = nn.functional.pad(x, (1, 1, 1, 1))
    for b in range(2):
        crops = [padded[b, :, i:i + 8, j:j + 8] for i in range(3) for j in range(3)]
        assert any(torch.equal(out[b], c) or torch.equal(out[b], c.flip(-1)) for c in crops)


# --- engine choice ---------------------------------------------------------------------------------------

def test_choose_engine_batchnorm_is_sequential_without_measuring(digits, monkeypatch):
    _, X, y = digits

    def boom(*a, **k):
        raise AssertionError("choose_engine measured a model that cannot be batched")

    monkeypatch.setattr(engine_mod, "train_models", boom)
    make = lambda s: build_model("resnet18", (1, 8, 8), 10, random_state=s)  # noqa: E731
    engine, info = choose_engine(make, X, y, TrainRecipe())
    assert engine == "sequential" and "BatchNorm" in info["reason"]


def test_choose_engine_measures_both(digits):
    _, X, y = digits
    make = lambda s: build_model("mlp", (1, 8, 8), 10, random_state=s, hidden=[16])  # noqa: E731
    engine, info = choose_engine(make, X, y, TrainRecipe(batch_size=32), ensemble_size=4, probe_steps=2)
    rates = info["samples_per_cpu_s"]
    assert engine in rates and set(rates) == {"sequential", "ensemble"} and all(v > 0 for v in rates.values())
    assert engine == max(rates, key=rates.get)


def test_supports_ensemble():
    assert supports_ensemble(build_model("mlp", (4,), 2)) and supports_ensemble(build_model("cnn", (1, 8, 8), 2))
    assert not supports_ensemble(build_model("resnet18", (3, 8, 8), 2))
    assert not supports_ensemble(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Dropout2d()))
    assert not supports_ensemble(torch.jit.script(nn.Linear(2, 2)))
