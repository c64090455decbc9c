"""ONNX models with several outputs: the issue's skl2onnx export of an MLPClassifier (``label`` [N]
then ``probabilities`` [N, 10], or with skl2onnx's default ZipMap a sequence of class maps) is read
from its class scores; ``--output NAME`` chooses; the choice is recorded in results."""

import json
import warnings

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
skl2onnx = pytest.importorskip("skl2onnx")

import onnx  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402

from muaudit.errors import CheckpointError  # noqa: E402
from muaudit.targets import TargetContext, open_target  # noqa: E402
from tests.helpers_audit import tiny_audit_kit  # noqa: E402
from tests.kit import error_line, run  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def _export(clf, X, path, *, zipmap: bool):
    options = None if zipmap else {id(clf): {"zipmap": False}}
    path.write_bytes(skl2onnx.to_onnx(clf, X[:1], options=options, target_opset=17).SerializeToString())


def _two_scores(path, rng):
    """A linear model with two float outputs [N, 10]: ``logits`` and ``probs`` (their softmax)."""
    w = numpy_helper.from_array(rng.normal(size=(64, 10)).astype(np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["logits"]), helper.make_node("Softmax", ["logits"], ["probs"], axis=1)],
        "two", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 64])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", 10]) for n in ("logits", "probs")], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


@pytest.fixture(scope="module")
def kit(tmp_path_factory, tiny_audit_base):
    d = tmp_path_factory.mktemp("onnx-outputs")
    _, ds, _ = tiny_audit_kit(tiny_audit_base, d)
    X = ds.X.reshape(len(ds.X), -1).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: 60 iterations are enough here
        clf = MLPClassifier((16,), max_iter=60, random_state=0).fit(X[ds.train_idx], ds.y[ds.train_idx])
        named = MLPClassifier((16,), max_iter=5, random_state=0).fit(X[:200], ds.y[:200].astype(str))
    _export(clf, X, d / "mlp.onnx", zipmap=False)
    _export(clf, X, d / "zipmap.onnx", zipmap=True)
    _export(named, X, d / "names.onnx", zipmap=True)
    _two_scores(d / "two.onnx", np.random.default_rng(0))
    np.save(d / "train.npy", np.arange(1347))
    return {"d": d, "ds": ds, "X": X, "proba": clf.predict_proba(X)}


@pytest.mark.parametrize("name, output, choice", [
    ("mlp.onnx", "probabilities", "the one of shape [N, n_classes]"),
    ("zipmap.onnx", "output_probability", "the one sequence of class maps"),
])
def test_skl2onnx_scores_are_read(kit, name, output, choice):
    t = open_target(kit["d"] / name, TargetContext(n_classes=10))
    z = t.outputs(kit["ds"].X, 10)[:, 0]
    assert np.abs(np.exp(z) - kit["proba"]).max() < 1e-5
    details = t.describe()
    assert (details["output"], details["output_choice"]) == (output, choice)
    assert details["outputs"] == "probabilities (converted to log-probabilities)"
    assert details["input_adapter"]["layout"] == "flat"
    assert [o["name"] for o in details["model_outputs"]][0] in ("label", "output_label")


def test_lira_records_the_output(kit, tmp_path):
    d = kit["d"]
    result = run("lira", "--target", d / "mlp.onnx", "--forget", d / "forget.npy", "--pool", d / "pool",
                 "--train-idx", d / "train.npy", "--output", "probabilities", "--out", tmp_path / "r")
    assert result.exit_code == 0, result.output
    details = json.loads((tmp_path / "r" / "results.json").read_text())["inputs"]["target_details"]
    assert (details["output"], details["output_choice"]) == ("probabilities", "named (--output)")


def test_two_float_outputs_need_a_name(kit):
    d = kit["d"]
    with pytest.raises(CheckpointError, match=r"several outputs that can be class scores .*; pass --output NAME"):
        open_target(d / "two.onnx", TargetContext(n_classes=10))
    t = open_target(d / "two.onnx", TargetContext(n_classes=10), output="logits")
    z = t.outputs(kit["ds"].X, 10)
    assert t.output_kind == "logits" and z.shape == (1797, 1, 10)


@pytest.mark.parametrize("name, extra, says", [
    ("mlp.onnx", ["--output", "label"], "output label tensor(int64) [N] is not class scores"),
    ("mlp.onnx", ["--output", "nope"],
     "has no output 'nope' (outputs: label tensor(int64) [N]; probabilities tensor(float) [N, 10])"),
    ("names.onnx", [], "maps class labels that are not integers; re-export it without ZipMap"),
])
def test_bad_outputs_are_one_error_line(kit, tmp_path, name, extra, says):
    d = kit["d"]
    line = error_line(run("lira", "--target", d / name, "--forget", d / "forget.npy", "--pool", d / "pool",
                          "--out", tmp_path / "r", *extra))
    assert says in line, line
    assert not (tmp_path / "r").exists()
