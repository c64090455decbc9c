"""muaudit.targets.open_target: the one loader of every target (files, in-memory objects, the pool's context)."""

from pathlib import Path

import numpy as np
import pytest
import torch

from muaudit.errors import ArchitectureMismatch, CheckpointError
from muaudit.models import build_model, save_checkpoint
from muaudit.targets import AuditTarget, InputAdapter, TargetContext, open_target

SHAPE, N_CLASSES = (1, 8, 8), 10
POOL = TargetContext(input_shape=SHAPE, n_classes=N_CLASSES, fingerprint="cd" * 32, arch="mlp",
                     arch_kwargs={"hidden": [16]})


def mlp(seed=0, hidden=(16,)):
    torch.manual_seed(seed)
    return build_model("mlp", SHAPE, N_CLASSES, hidden=list(hidden))


def meta(**kw):
    return {"arch": "mlp", "arch_kwargs": {"hidden": [16]}, "input_shape": list(SHAPE), "n_classes": N_CLASSES,
            "train_idx": [0, 1], "seed": 0, **kw}


def test_in_memory_targets():
    z = open_target(torch.zeros(4, 3))
    assert (z.kind, z.path, z.logits.shape, z.logits.dtype) == ("logits", Path("<logits array>"), (4, 1, 3), np.float32)
    model = mlp()
    t = open_target(model, adapter=InputAdapter("nchw"))
    assert (t.kind, t.model is model, t.adapter.layout, t.n_params) == ("module", True, "nchw", 64 * 16 + 16 + 170)
    given = AuditTarget("logits", Path("x.npy"), logits=np.zeros((2, 1, 3), np.float32))
    assert open_target(given, POOL, adapter=InputAdapter("flat")) is given
    resolved = AuditTarget("module", Path("<m>"), runner=t.runner, adapter=InputAdapter("flat"))
    assert open_target(resolved, adapter=InputAdapter("nchw")).adapter.layout == "flat"  # its own layout stays


@pytest.mark.parametrize("bad, says", [
    (None, "Expected a target path, an nn.Module or a logits array, got NoneType"),
    (object(), "Expected a target path, an nn.Module or a logits array, got object"),
    (np.zeros(3), r"Expected target logits of shape \[N, C\] or \[N, V, C\], got \(3,\)"),
])
def test_in_memory_refusals(bad, says):
    with pytest.raises(CheckpointError, match=says):
        open_target(bad)


def test_a_checkpoint_of_other_data_is_refused(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", mlp(), meta(dataset_fingerprint="ab" * 32))
    with pytest.raises(CheckpointError) as err:
        open_target(path, POOL)
    assert str(err.value) == (f"target {path} was trained on other data (fingerprint abababababab != pool's "
                              "cdcdcdcdcdcd); audit it with a pool built on its dataset")
    same = save_checkpoint(tmp_path / "same.pt", mlp(), meta(dataset_fingerprint="cd" * 32))
    assert open_target(same, POOL).kind == "checkpoint"
    assert open_target(path).kind == "checkpoint"  # no context: nothing to compare with


def test_a_state_dict_is_built_as_the_pools_architecture(tmp_path):
    model = mlp(seed=3)
    torch.save(model.state_dict(), tmp_path / "raw.pt")
    t = open_target(tmp_path / "raw.pt", POOL)
    x = torch.randn(5, *SHAPE)
    assert t.kind == "state_dict" and torch.equal(t.model(x), model(x))
    other = TargetContext(input_shape=SHAPE, n_classes=N_CLASSES, arch="mlp", arch_kwargs={"hidden": [8]})
    with pytest.raises(ArchitectureMismatch, match="it was built as the pool's architecture 'mlp': pass --arch"):
        open_target(tmp_path / "raw.pt", other)


def test_arch_other_than_the_checkpoints_is_a_state_dict(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", mlp(), meta())
    with pytest.raises(CheckpointError, match=r"m.pt is a raw state_dict: building 'cnn' needs the dataset's input "
                                              r"shape and n_classes$"):
        open_target(path, arch="cnn")
    with pytest.raises(ArchitectureMismatch, match="does not fit the architecture"):
        open_target(path, POOL, arch="cnn")
