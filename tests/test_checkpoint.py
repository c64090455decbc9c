"""Checkpoint I/O: muaudit checkpoints, raw state_dicts, TorchScript, logits .npy, and refusals."""

from pathlib import Path

import numpy as np
import pytest
import torch

from muaudit.errors import CheckpointError, MuauditError
from muaudit.models import build_model, load_checkpoint, read_checkpoint, save_checkpoint
from muaudit.targets import TargetContext, open_target

SHAPE, N_CLASSES = (1, 8, 8), 10
POOL = TargetContext(input_shape=SHAPE, n_classes=N_CLASSES, arch="mlp", arch_kwargs={"hidden": [16]})
ROOT = str(Path(__file__).resolve().parents[1])


def make_mlp(seed=0, **kw):
    return build_model("mlp", SHAPE, N_CLASSES, random_state=seed, **({"hidden": [16]} | kw))


def meta_for(arch="mlp", **kw):
    return {"arch": arch, "arch_kwargs": kw or {"hidden": [16]}, "input_shape": list(SHAPE), "n_classes": N_CLASSES,
            "dataset_fingerprint": "ab" * 32, "train_idx": [0, 2, 5], "seed": 3}


def same_weights(a, b):
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_roundtrip_keeps_weights_meta_and_eval_mode(tmp_path):
    model = make_mlp().train()
    meta = meta_for() | {"forget": np.array([1, 2]), "score": np.float32(0.5), "shape": (1, 2)}
    path = save_checkpoint(tmp_path / "sub" / "m.pt", model, meta)
    loaded, got = load_checkpoint(path)
    assert same_weights(model, loaded) and not loaded.training
    assert got == meta_for() | {"forget": [1, 2], "score": 0.5, "shape": [1, 2]}
    assert not list(path.parent.glob(".*tmp"))
    target = open_target(path)
    assert target.kind == "checkpoint" and target.meta["seed"] == 3 and same_weights(model, target.model)


def test_meta_with_objects_is_refused_at_save(tmp_path):
    with pytest.raises(CheckpointError, match=r"meta\['cfg'\]\['fn'\] is a function; checkpoint meta holds only plain values"):
        save_checkpoint(tmp_path / "m.pt", make_mlp(), meta_for() | {"cfg": {"fn": make_mlp}})


def test_raw_state_dict_needs_arch(tmp_path):
    model = make_mlp(seed=1)
    path = tmp_path / "raw.pt"
    torch.save(model.state_dict(), path)
    with pytest.raises(CheckpointError, match="raw.pt is a raw state_dict; pass --arch"):
        open_target(path)
    with pytest.raises(CheckpointError, match="raw.pt is a raw state_dict without muaudit meta; pass --arch"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="needs the dataset's input shape and n_classes"):
        open_target(path, TargetContext(arch="mlp", arch_kwargs={"hidden": [16]}), arch="mlp")
    target = open_target(path, POOL, arch="mlp")
    assert target.kind == "state_dict" and same_weights(model, target.model) and not target.model.training


def test_module_prefix_is_stripped(tmp_path):
    model = make_mlp(seed=2)
    path = tmp_path / "ddp.pt"
    torch.save({f"module.{k}": v for k, v in model.state_dict().items()}, path)
    target = open_target(path, POOL, arch="mlp")
    assert same_weights(model, target.model)


def test_torchscript_loads(tmp_path):
    model = make_mlp(seed=4).eval()
    path = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.script(model), str(path))
    target = open_target(path)
    assert target.kind == "torchscript" and not target.model.training
    x = torch.randn(5, *SHAPE)
    torch.testing.assert_close(target.model(x), model(x))


def test_torchscript_with_nan_weights_is_refused(tmp_path):
    model = make_mlp()
    with torch.no_grad():
        model[1].bias[0] = float("inf")
    path = tmp_path / "bad_script.pt"
    torch.jit.save(torch.jit.script(model), str(path))
    with pytest.raises(CheckpointError, match="weight '1.bias' contains NaN or inf"):
        open_target(path)


def test_logits_files(tmp_path):
    two = np.random.default_rng(0).normal(size=(6, 3)).astype(np.float32)
    np.save(tmp_path / "two.npy", two)
    t = open_target(tmp_path / "two.npy")
    assert t.kind == "logits" and t.logits.shape == (6, 1, 3) and t.logits.dtype == np.float32
    np.testing.assert_array_equal(t.logits[:, 0], two)
    three = np.zeros((6, 2, 3), np.float64)
    np.save(tmp_path / "three.npy", three)
    assert open_target(tmp_path / "three.npy").logits.shape == (6, 2, 3)


@pytest.mark.parametrize("arr, message", [
    (np.array([[1.0, np.nan]]), "contains NaN or inf"),
    (np.array([[1.0, -np.inf]]), "contains NaN or inf"),
    (np.array([[1, 2]]), r"must be float \[N, C\] or \[N, V, C\], got int64 \(1, 2\)"),
    (np.zeros(4), r"must be float \[N, C\] or \[N, V, C\], got float64 \(4,\)"),
    (np.array([[0.1, "x"]], dtype=object), "holds pickled objects"),
])
def test_bad_logits_are_refused(tmp_path, arr, message):
    path = tmp_path / "logits.npy"
    np.save(path, arr, allow_pickle=True)
    with pytest.raises(CheckpointError, match=f"logits file {path} {message}"):
        open_target(path)


class Payload:
    """An arbitrary class: torch.load(weights_only=True) must refuse to rebuild it."""

    ran = False

    def __reduce__(self):
        return (setattr, (Payload, "ran", True))


@pytest.mark.parametrize("obj", [
    {"state_dict": {"w": torch.zeros(1)}, "meta": {"x": Payload()}},
    {"w": Payload()},
])
def test_pickled_objects_are_refused(tmp_path, obj):
    path = tmp_path / "evil.pt"
    torch.save(obj, path)
    with pytest.raises(CheckpointError, match=f"{path} holds pickled objects other than tensors \\(setattr\\); refusing to unpickle it"):
        open_target(path)
    assert Payload.ran is False


def test_whole_module_pickle_is_refused(tmp_path):
    path = tmp_path / "module.pt"
    torch.save(make_mlp(), path)
    with pytest.raises(CheckpointError, match="refusing to unpickle"):
        read_checkpoint(path)


def test_nan_weights_refused(tmp_path):
    model = make_mlp()
    with torch.no_grad():
        model[3].weight[0, 0] = float("nan")
    with pytest.raises(CheckpointError, match="refusing to write .*nan.pt: weight '3.weight' holds NaN or inf"):
        save_checkpoint(tmp_path / "nan.pt", model, meta_for())
    assert not list(tmp_path.iterdir())  # nothing written, no temporary file
    path = tmp_path / "nan.pt"
    torch.save({"state_dict": model.state_dict(), "meta": meta_for()}, path)  # written by another tool
    with pytest.raises(CheckpointError, match=f"{path}: weight '3.weight' contains NaN or inf"):
        load_checkpoint(path)


def test_keys_that_do_not_fit_are_named(tmp_path):
    state = make_mlp().state_dict()
    state.pop("1.bias")
    state["extra.weight"] = torch.zeros(2)
    state["3.weight"] = torch.zeros(10, 99)
    path = tmp_path / "bad.pt"
    torch.save({"state_dict": state, "meta": meta_for()}, path)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    assert str(err.value) == (f"{path} does not fit the architecture (missing keys: 1.bias; unexpected keys: extra.weight; "
                              "mis-shaped keys: 3.weight (10, 99) != (10, 16))")


def test_unreadable_and_missing(tmp_path):
    with pytest.raises(CheckpointError, match="target .*nope.pt does not exist"):
        open_target(tmp_path / "nope.pt")
    with pytest.raises(CheckpointError, match="checkpoint .*nope.pt does not exist"):
        load_checkpoint(tmp_path / "nope.pt")
    (tmp_path / "junk.pt").write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match="junk.pt is not a PyTorch file \\(expected what torch.save writes\\)"):
        open_target(tmp_path / "junk.pt")
    torch.jit.save(torch.jit.script(make_mlp()), str(tmp_path / "script.pt"))
    raw = (tmp_path / "script.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(raw[:200] + raw[-100:])  # keeps the zip's end record only
    with pytest.raises(CheckpointError, match="cut.pt is not a readable PyTorch file"):
        open_target(tmp_path / "cut.pt")
    torch.save({"weights": [1, 2]}, tmp_path / "list.pt")
    with pytest.raises(CheckpointError, match="list.pt is neither a muaudit checkpoint nor a state_dict of tensors"):
        open_target(tmp_path / "list.pt")


def test_meta_never_imports_code(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(ROOT)
    model = build_model("tests.helpers_factory:make", SHAPE, N_CLASSES, random_state=0, width=5)
    path = save_checkpoint(tmp_path / "user.pt", model, meta_for("tests.helpers_factory:make", width=5))
    with pytest.raises(MuauditError, match="names the model factory 'tests.helpers_factory:make'; .*pass --arch"):
        open_target(path)
    evil = save_checkpoint(tmp_path / "evil.pt", model, meta_for("os:system", command="echo pwned"))
    with pytest.raises(MuauditError, match="names the model factory 'os:system'"):
        load_checkpoint(evil)
    loaded, _ = load_checkpoint(path, arch="tests.helpers_factory:make")
    assert same_weights(model, loaded)
    assert open_target(path, arch="tests.helpers_factory:make").kind == "checkpoint"
