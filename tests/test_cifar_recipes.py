"""The packaged CIFAR-10 recipes, their architectures (wrn, fastnet), the device options of a
training recipe (precision, channels_last, compile, nesterov, label smoothing, warm-up), the
CIFAR folder errors, and pools of a CIFAR-shaped net: on CPU, with tiny synthetic images."""

import json
import os
import pickle
import warnings

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import muaudit.pool.build as build_module
from muaudit.cli.main import cli
from muaudit.data import load_dataset
from muaudit.errors import ConfigError, DataError
from muaudit.execution.processes import ProcessExecutor
from muaudit.models import build_model
from muaudit.pool import Pool, build_pool, load_spec
from muaudit.pool.info import format_summary, pool_summary
from muaudit.pool.recipes import packaged_recipes, resolve_recipe
from muaudit.pool.spec import PoolSpec
from muaudit.training import accel
from muaudit.training.batches import augment_images, augment_rng
from muaudit.training.ensemble import _cross_entropy_grad
from muaudit.training.optim import FunctionalOptimizer
from muaudit.training.recipe import TrainRecipe
from muaudit.training.sequential import train_sequential

pytestmark = pytest.mark.usefixtures("one_thread")
CIFAR = ["cifar10-fast", "cifar10-resnet18", "cifar10-wrn16-4"]
PARAMS = {"cifar10-fast": 1_972_792, "cifar10-resnet18": 11_181_642, "cifar10-wrn16-4": 2_748_890}
TINY = {"dataset": {"name": "synthetic", "n_samples": 48, "n_classes": 3, "shape": [3, 8, 8], "seed": 1},
        "model": {"arch": "fastnet", "widths": [4, 8, 8], "mean": [0.0] * 3, "std": [2.0] * 3},
        "train": {"optimizer": "sgd", "lr": 0.2, "momentum": 0.85, "nesterov": True, "weight_decay": 1e-3,
                  "epochs": 2, "batch_size": 16, "schedule": "linear", "warmup": 0.25, "label_smoothing": 0.2,
                  "augment": True, "precision": "bf16", "channels_last": True},
        "pool": {"n_models": 4, "seed": 0, "engine": "sequential"}}


@pytest.mark.parametrize("name", CIFAR)
def test_each_cifar_recipe_parses_and_builds_its_model(name):
    assert name in packaged_recipes()
    spec = load_spec(resolve_recipe(name))
    assert spec.dataset == {"name": "cifar10", "path": "data/cifar10"} and spec.train.augment
    stored = json.loads(spec.to_json())["train"]
    assert stored["precision"] == "bf16" and stored["channels_last"] is True  # in the spec, so in the digest
    model = spec.make_model(0, (3, 32, 32), 10)
    assert sum(p.numel() for p in model.parameters()) == PARAMS[name]
    with torch.no_grad():
        out = model.eval()(torch.rand(2, 3, 32, 32))
    assert out.shape == (2, 10) and torch.isfinite(out).all()


def test_recipes_without_the_new_keys_keep_their_stored_spec():
    spec = load_spec(resolve_recipe("digits-mlp"))
    assert set(json.loads(spec.to_json())["train"]) == {"optimizer", "lr", "momentum", "weight_decay", "epochs",
                                                        "batch_size", "schedule", "augment"}
    assert TrainRecipe.from_dict(spec.train.to_dict()) == spec.train


def test_fast_recipe_records_every_choice():
    train = json.loads(load_spec(resolve_recipe("cifar10-fast")).to_json())["train"]
    assert {k: train[k] for k in ("nesterov", "label_smoothing", "warmup", "schedule", "compile", "batch_size")} == \
        {"nesterov": True, "label_smoothing": 0.2, "warmup": 0.23, "schedule": "linear", "compile": True,
         "batch_size": 1024}


@pytest.mark.parametrize("key, value, expected", [
    ("precision", "fp8", "Expected `precision` in ('fp32', 'bf16', 'fp16'), got 'fp8'"),
    ("channels_last", 1, "Expected `channels_last` 'auto', true or false, got 1"),
    ("compile", "tensorrt", "Expected `compile` in (False, True, 'inductor', 'aot_eager', 'eager'), got 'tensorrt'"),
    ("warmup", 1.0, "Expected `warmup` in [0, 1), got 1.0"),
    ("label_smoothing", -0.1, "Expected `label_smoothing` in [0, 1), got -0.1"),
    ("nesterov", "yes", "Expected `nesterov` true or false, got 'yes'"),
])
def test_bad_device_options_are_one_line_errors(key, value, expected):
    with pytest.raises(ConfigError) as err:
        TrainRecipe(**{key: value})
    assert str(err.value) == expected


@pytest.mark.parametrize("arch, options, message", [
    ("wrn", {"depth": 15}, "Expected `depth` an integer 6n + 4 in [10, 1000] (e.g. 16, 28), got 15"),
    ("wrn", {"width": 0}, "Expected `width` an integer in [1, 64], got 0"),
    ("fastnet", {"widths": []}, "Expected `widths` a list of integers in [1, 65536], got []"),
    ("fastnet", {"mean": [0.5], "std": [1.0]}, "Expected `mean` a list of 3 numbers, got [0.5]"),
    ("resnet18", {"mean": [0.5] * 3}, "give both `mean` and `std`, or neither"),
    ("wrn", {"mean": [0.5] * 3, "std": [0.0] * 3}, "Expected `std` a list of 3 numbers > 0, got [0.0, 0.0, 0.0]"),
])
def test_bad_architecture_options(arch, options, message):
    with pytest.raises(ConfigError) as err:
        build_model(arch, (3, 32, 32), 10, **options)
    assert str(err.value) == message


def test_normalisation_is_inside_the_model_and_outside_its_state():
    plain = build_model("resnet18", (3, 16, 16), 4, random_state=0, stem="imagenet")
    norm = build_model("resnet18", (3, 16, 16), 4, random_state=0, stem="imagenet", mean=[0.5] * 3, std=[0.25] * 3)
    assert plain.state_dict().keys() == norm.state_dict().keys()
    x = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        assert torch.allclose(norm.eval()(x), plain.eval()((x - 0.5) / 0.25), atol=1e-5)


def test_augmentation_is_seeded_and_a_padded_shift_or_flip():
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8)
    a, b = augment_images(x, augment_rng(3)), augment_images(x, augment_rng(3))
    assert torch.equal(a, b) and not torch.equal(a, augment_images(x, augment_rng(4)))
    rng = augment_rng(3)
    oy, ox = rng.integers(0, 3, size=(2, 2))
    flip = rng.random(2) < 0.5
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1))
    for i in range(2):
        want = padded[i, :, oy[i]:oy[i] + 8, ox[i]:ox[i] + 8]
        assert torch.equal(a[i], want.flip(-1) if flip[i] else want)


def _tiny_data():
    ds = load_dataset("synthetic", **{k: v for k, v in TINY["dataset"].items() if k != "name"})
    return torch.as_tensor(ds.X[ds.train_idx]), torch.as_tensor(ds.y[ds.train_idx])


def _train(seed=5, **train):
    X, y = _tiny_data()
    recipe = TrainRecipe.from_dict({**TINY["train"], **train})
    model = build_model("fastnet", (3, 8, 8), 3, random_state=seed, **{k: v for k, v in TINY["model"].items() if k != "arch"})
    return train_sequential(model, X, y, recipe, random_state=seed)


def _same(a, b, atol=0.0) -> bool:
    return all(torch.allclose(p, q, atol=atol, rtol=0) for p, q in zip(a.state_dict().values(), b.state_dict().values()))


def test_training_is_deterministic_and_cpu_ignores_mixed_precision():
    a, b = _train(), _train()
    assert _same(a, b)
    assert _same(a, _train(precision="fp32"))  # bf16 on CPU: fp32, bit for bit
    assert not _same(a, _train(label_smoothing=0.0), atol=1e-6)
    assert _same(a, _train(channels_last=False), atol=1e-4)  # a memory layout, not another model
    assert accel.effective(TrainRecipe(precision="fp16"), "cpu", conv=True)["precision"] == "fp32"
    assert accel.effective(TrainRecipe(precision="fp16"), "cuda", conv=True)["precision"] == "fp16"


@pytest.mark.slow
def test_compiled_training_gives_the_same_models_from_one_compiled_template():
    accel._COMPILED.clear()
    first, second = _train(compile="aot_eager"), _train(seed=6, compile="aot_eager")
    assert len(accel._COMPILED) == 1  # the second model reused the first one's compiled template
    assert _same(first, _train(), atol=1e-5) and _same(second, _train(seed=6), atol=1e-5)
    assert not _same(first, second, atol=1e-3)


def test_nesterov_matches_torch_sgd():
    torch.manual_seed(0)
    p0, grads = torch.randn(5), [torch.randn(5) for _ in range(4)]
    mine, ref = p0.clone(), p0.clone().requires_grad_(True)
    opt = FunctionalOptimizer([mine], TrainRecipe(lr=0.1, momentum=0.85, nesterov=True, weight_decay=1e-3))
    torch_opt = torch.optim.SGD([ref], lr=0.1, momentum=0.85, nesterov=True, weight_decay=1e-3)
    for g in grads:
        mine.grad, ref.grad = g.clone(), g.clone()
        opt.step(0.1)
        torch_opt.step()
    assert torch.allclose(mine, ref.detach(), atol=1e-6)


def test_smoothed_cross_entropy_gradient_of_the_ensemble_matches_autograd():
    z, y, w = torch.randn(2, 4, 5, requires_grad=True), torch.randint(0, 4, (2, 5)), torch.rand(2, 5)
    (w * torch.nn.functional.cross_entropy(z, y, reduction="none", label_smoothing=0.2)).sum().backward()
    assert torch.allclose(_cross_entropy_grad(z.detach(), y, w, 0.2), z.grad, atol=1e-6)


def test_fp16_loss_scaler_skips_overflowing_steps():
    s = accel.LossScaler(True, init_scale=8.0, growth_interval=2)
    p = torch.zeros(2, requires_grad=True)
    p.grad = torch.tensor([8.0, 16.0])
    assert s.unscale([p]) and torch.equal(p.grad, torch.tensor([1.0, 2.0]))
    p.grad = torch.tensor([1.0, 1.0])
    assert s.unscale([p]) and s.value == 16.0  # two clean steps: the scale doubles
    p.grad = torch.tensor([float("nan"), 1.0])
    assert not s.unscale([p]) and s.value == 8.0


@pytest.fixture(scope="module")
def workers():
    with ProcessExecutor(2) as ex:
        yield ex


@pytest.mark.slow  # measured: 6.4 s wall, mostly in two worker processes (the fast loop, docs/development.md)
def test_cifar_shaped_pool_same_with_workers_resume_and_records_its_settings(workers, tmp_path, monkeypatch):
    spec = PoolSpec.from_dict(TINY, name="tiny-fast")
    with pytest.warns(UserWarning, match="precision 'bf16' applies on CUDA only"):
        here = Pool(build_pool(spec, tmp_path / "here"))
    assert json.loads(here.attrs["train_settings"]) == {
        "precision": "fp32", "channels_last": True, "compile": False, "device_type": "cpu",
        "notes": ["precision 'bf16' applies on CUDA only: the models train in fp32 on cpu"]}
    assert json.loads(here.attrs["spec"])["train"]["precision"] == "bf16"
    assert format_summary(pool_summary(here)).splitlines()[6:8] == [
        "  training      cpu, fp32, channels_last True, compile False",
        "  note          precision 'bf16' applies on CUDA only: the models train in fp32 on cpu"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        there = Pool(build_pool(spec, tmp_path / "there", executor=workers))
        assert np.abs(there.logits() - here.logits()).max() <= 1e-5
        real, commits = build_module.commit, []

        def stop_after_two(path, rows):
            commits.append(1)
            if len(commits) == 3:
                raise KeyboardInterrupt
            real(path, rows)

        monkeypatch.setattr(build_module, "commit", stop_after_two)
        with pytest.raises(KeyboardInterrupt):
            build_pool(spec, tmp_path / "resumed")
        assert Pool(tmp_path / "resumed").n_done == 2
        monkeypatch.setattr(build_module, "commit", real)
        again = Pool(build_pool(spec, tmp_path / "resumed"))
    assert np.abs(again.logits() - here.logits()).max() <= 1e-5


def _batch(path, n, seed):
    rng = np.random.default_rng(seed)
    d = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"labels": rng.integers(0, 10, n).tolist()}
    path.write_bytes(pickle.dumps(d, protocol=2))


def test_cifar_folder_loads_and_a_missing_batch_is_one_error_line(tmp_path):
    folder = tmp_path / "data" / "cifar10" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for i, name in enumerate([f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]):
        _batch(folder / name, 4, i)
    ds = load_dataset("cifar10", path=str(tmp_path / "data" / "cifar10"))
    assert ds.X.shape == (24, 3, 32, 32) and len(ds.train_idx) == 20 and ds.X.max() <= 1.0
    os.remove(folder / "data_batch_3")
    with pytest.raises(DataError, match="missing CIFAR batch file data_batch_3 "):
        load_dataset("cifar10", path=str(folder))
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path)
        res = CliRunner().invoke(cli, ["pool", "build", "cifar10-fast", "--out", str(tmp_path / "p")])
        assert res.exit_code == 2 and res.output.strip().splitlines() == [
            "Error: data/cifar10/cifar-10-batches-py: missing CIFAR batch file data_batch_3 (cifar10 needs data_batch_1, data_batch_2, "
            "data_batch_3, data_batch_4, data_batch_5, test_batch)"]
        os.chdir(tmp_path / "data")
        res = CliRunner().invoke(cli, ["pool", "build", "cifar10-resnet18", "--out", str(tmp_path / "p")])
        assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1
        assert res.output.startswith("Error: cifar10: dataset folder data/cifar10 does not exist; set [dataset] path")
    finally:
        os.chdir(cwd)
    assert not (tmp_path / "p").exists()


def test_unknown_recipe_lists_the_packaged_ones():
    res = CliRunner().invoke(cli, ["pool", "build", "cifar10-vgg"])
    assert res.exit_code == 2 and all(n in res.output for n in CIFAR) and len(res.output.strip().splitlines()) == 1


def test_the_ensemble_engine_records_that_it_ignores_compile():
    model = build_model("cnn", (3, 8, 8), 3, channels=[4], hidden=8)
    got = accel.recorded(TrainRecipe(compile="aot_eager", channels_last=True), model, "cpu", engine="ensemble")
    assert got == {"precision": "fp32", "channels_last": False, "compile": False, "device_type": "cpu",
                   "notes": ["the ensemble engine ignores the recipe's compile: its models train in fp32, uncompiled "
                             "(engine = \"sequential\" applies them)"]}
    assert accel.recorded(TrainRecipe(compile="aot_eager"), model, "cpu")["compile"] == "aot_eager"


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_the_autocast_path_trains_close_to_fp32(monkeypatch, precision):
    """CUDA's path, run under CPU autocast (the device check stood in for): the loss-scaled
    mixed-precision loop trains a model near the fp32 one (10x nearer than another seed's)."""
    ref, other = _train(precision="fp32"), _train(seed=6, precision="fp32")
    real = accel.effective
    monkeypatch.setattr(accel, "effective", lambda r, d, conv: {**real(r, d, conv=conv), "precision": r.precision})
    mixed = _train(precision=precision)
    X, _ = _tiny_data()
    with torch.no_grad():
        a, b, c = ref(X), mixed(X), other(X)
    assert torch.isfinite(b).all() and not torch.equal(a, b)
    assert (a - b).norm() < 0.1 * (a - c).norm()  # measured: bf16 0.015, fp16 0.0005, another seed 0.81


def test_the_retrain_method_config_takes_the_new_keys_and_keeps_old_stored_configs():
    from muaudit.unlearning.base import get_method, make_config

    cfg = make_config(get_method("retrain"), {"compile": False, "channels_last": "auto", "precision": "bf16"})
    assert cfg.to_dict() == {**TrainRecipe().to_dict(), "precision": "bf16"}
    assert make_config(get_method("retrain"), {}).to_dict() == TrainRecipe().to_dict()
