"""muaudit.audit_checkpoint: paths and in-memory objects give the same audit; nothing written without out=."""

import numpy as np
import pytest

import muaudit
from muaudit.errors import CheckpointError, DataError
from muaudit.models import load_checkpoint
from muaudit.pool import load_spec
from muaudit.training import predict_logits

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def files(tiny_audit_files):
    return tiny_audit_files


@pytest.mark.slow  # measured: 7 s CPU (the fast loop, docs/development.md)
def test_module_logits_and_path_targets_give_the_same_audit(files, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    forget = np.load(files["forget_file"])
    by_path = muaudit.audit_checkpoint(files["checkpoint"], files["forget_file"], files["pool_dir"])
    model, meta = load_checkpoint(files["checkpoint"])
    by_module = muaudit.audit_checkpoint(model, forget, files["pool_dir"], train_idx=np.array(meta["train_idx"]))
    X = load_spec(files["recipe"]).load_dataset().X
    by_logits = muaudit.audit_checkpoint(predict_logits(model, X)[:, 0], forget, files["pool_dir"],
                                         train_idx=meta["train_idx"])
    for res in (by_module, by_logits):
        assert res["verdict"] == by_path["verdict"]
        assert res["p_value"] == pytest.approx(by_path["p_value"])
        assert res["auc"] == pytest.approx(by_path["auc"], abs=1e-6)
    assert by_module["inputs"]["target"] == "<MLP>" and by_module["inputs"]["target_sha256"] is None
    assert by_logits["inputs"]["target_kind"] == "logits"
    assert "folder" not in by_path and not (tmp_path / "results").exists()  # nothing written without out=


def test_out_writes_a_results_folder(files, tmp_path):
    res = muaudit.audit_checkpoint(files["checkpoint"], files["forget_file"], files["pool_dir"], out=tmp_path / "a")
    assert res["folder"] == str(tmp_path / "a") and (tmp_path / "a" / "results.json").is_file()


@pytest.mark.parametrize("target, forget, error, message", [
    ("model", [5000], DataError, "forget: entry 5000 at position 0 is >= n_train = 1347"),
    ("model", [1, 1], DataError, "forget: entry 1 at position 1 is a duplicate"),
    ({"weights": 1}, [1], CheckpointError, "Expected a target path, an nn.Module or a logits array, got dict"),
    (np.zeros(5), [1], CheckpointError, "Expected target logits of shape [N, C] or [N, V, C], got (5,)"),
])
def test_bad_inputs_are_one_line_errors(files, target, forget, error, message):
    target = load_checkpoint(files["checkpoint"])[0] if isinstance(target, str) else target
    with pytest.raises(error) as e:
        muaudit.audit_checkpoint(target, np.array(forget), files["pool_dir"])
    assert str(e.value) == message
