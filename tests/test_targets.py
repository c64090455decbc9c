"""Third-party targets as arrays and modules: the input adapter, layout probing, model failures,
probability outputs, ONNX and safetensors loading, the compatibility rules and --device."""

import numpy as np
import pytest
import torch
from torch import nn

from muaudit.errors import CheckpointError, ConfigError
from muaudit.targets import InputAdapter, TargetContext, compat, open_target
from muaudit.targets.runner import TorchRunner, is_probabilities, predict_outputs, resolve_adapter, to_log_scores
from muaudit.training.device import select_device

pytestmark = pytest.mark.usefixtures("one_thread")
X = np.random.default_rng(0).random((20, 3, 4, 4)).astype(np.float32)
CPU = torch.device("cpu")


class ChannelsLast(nn.Module):
    """Takes [N, H, W, C] only (a conv net written for channels-last inputs)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 3)
        self.head = nn.Linear(2 * 2 * 2, 5)

    def forward(self, x):
        return self.head(self.conv(x.permute(0, 3, 1, 2)).flatten(1))


class Raises(nn.Module):
    def forward(self, x):
        raise ValueError("the model refuses every input")


def test_adapter_layouts_and_normalisation():
    mean, std = (0.1, 0.2, 0.3), (0.5, 0.25, 2.0)
    a = InputAdapter.from_options("nhwc", "0.1,0.2,0.3", "0.5,0.25,2", input_shape=(3, 4, 4))
    want = ((X - np.reshape(mean, (1, 3, 1, 1))) / np.reshape(std, (1, 3, 1, 1))).transpose(0, 2, 3, 1)
    np.testing.assert_allclose(a.apply(X), want, rtol=1e-6, atol=1e-6)
    assert InputAdapter("flat").apply(X).shape == (20, 48)
    np.testing.assert_array_equal(InputAdapter("nchw").apply(X), X)
    assert a.to_dict() == {"layout": "nhwc", "mean": list(mean), "std": list(std)}
    assert InputAdapter.from_options("auto", "0.5", None).std == (1.0,)


@pytest.mark.parametrize("options, message", [
    (("sideways", None, None), "Expected `input_layout` in"),
    (("auto", "0.1,0.2", "1,1"), "Expected `input_mean` with 1 or 3 values"),
    (("auto", "0.1", "1,0,1"), "Expected every `input_std` > 0, got 1,0,1"),
    (("auto", "a,b", "1"), "Expected `input_mean` as numbers separated by commas, got 'a,b'"),
    (("auto", "nan", "1"), "as finite numbers"),
])
def test_adapter_options_are_checked(options, message):
    with pytest.raises(ConfigError, match=message):
        InputAdapter.from_options(*options, input_shape=(3, 4, 4))


def test_image_layout_on_flat_data_is_an_error():
    with pytest.raises(ConfigError, match="--input-layout nhwc needs image data"):
        InputAdapter.from_options("nhwc", input_shape=(64,))


@pytest.mark.parametrize("model, layout", [
    (nn.Sequential(nn.Flatten(), nn.Linear(48, 5)), "nchw"),   # native first, though flat works too
    (nn.Sequential(nn.Linear(48, 5)), "flat"),
    (ChannelsLast(), "nhwc"),
])
def test_auto_layout_takes_the_first_that_works(model, layout):
    got = resolve_adapter(TorchRunner(model, CPU), X, 5, InputAdapter(), source="m")
    assert got.layout == layout


def test_no_layout_fits_names_every_shape_and_what_the_model_said():
    with pytest.raises(CheckpointError) as e:
        resolve_adapter(TorchRunner(nn.Linear(7, 5), CPU), X, 5, InputAdapter(), source="m.pt")
    msg = str(e.value)
    for shown in ("nchw [16, 3, 4, 4]", "flat [16, 48]", "nhwc [16, 4, 4, 3]", "mat1 and mat2 shapes"):
        assert shown in msg, msg


def test_wrong_number_of_outputs_and_raising_forward_are_checkpoint_errors():
    with pytest.raises(CheckpointError, match=r"output \[16, 3\], expected \[16, 5\]"):
        resolve_adapter(TorchRunner(nn.Sequential(nn.Flatten(), nn.Linear(48, 3)), CPU), X, 5, InputAdapter(), source="m")
    scripted = torch.jit.script(Raises())
    with pytest.raises(CheckpointError, match="the model refuses every input"):
        resolve_adapter(TorchRunner(scripted, CPU), X, 5, InputAdapter("nchw"), source="m")


def test_probabilities_become_log_probabilities():
    logits = np.random.default_rng(1).normal(size=(30, 4)).astype(np.float32)
    p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    z, kind = to_log_scores(p)
    assert is_probabilities(p) and not is_probabilities(logits) and kind.startswith("probabilities")
    np.testing.assert_allclose(z - z.max(-1, keepdims=True), logits - logits.max(-1, keepdims=True), atol=1e-4)
    assert to_log_scores(logits)[1] == "logits"


def test_predict_outputs_views_flip_before_adapting():
    model = nn.Sequential(nn.Linear(48, 5))
    z = predict_outputs(TorchRunner(model, CPU), InputAdapter("flat"), X, 5, n_views=2)
    with torch.no_grad():
        want = model(torch.as_tensor(X[..., ::-1].copy()).reshape(20, -1)).numpy()
    np.testing.assert_allclose(z[:, 1], want, atol=1e-6)


def _export_onnx(model, path, example):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), (example,), str(path), dynamo=False, input_names=["x"],
                          dynamic_axes={"x": {0: "n"}})


def test_onnx_target_matches_torch(tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    model = nn.Sequential(nn.Linear(48, 16), nn.ReLU(), nn.Linear(16, 5))
    _export_onnx(model, tmp_path / "m.onnx", torch.zeros(2, 48))
    t = open_target(tmp_path / "m.onnx")
    z = t.outputs(X, 5)
    with torch.no_grad():
        np.testing.assert_allclose(z[:, 0], model(torch.as_tensor(X).reshape(20, -1)).numpy(), atol=1e-5)
    assert t.kind == "onnx" and t.adapter.layout == "flat" and t.n_params == 48 * 16 + 16 + 16 * 5 + 5


def test_onnx_with_a_fixed_batch_size(tmp_path):
    """torch.onnx.export without dynamic axes fixes the batch size: batches are cut to it."""
    pytest.importorskip("onnxruntime")
    model = nn.Sequential(nn.Flatten(), nn.Linear(48, 5))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), (torch.zeros(3, 3, 4, 4),), str(tmp_path / "b3.onnx"), dynamo=False)
    z = open_target(tmp_path / "b3.onnx").outputs(X, 5)
    with torch.no_grad():
        np.testing.assert_allclose(z[:, 0], model(torch.as_tensor(X)).numpy(), atol=1e-5)


def test_dict_outputs_with_logits_are_read():
    class HF(nn.Module):
        def forward(self, x):
            return {"logits": x.flatten(1)[:, :5]}

    z = predict_outputs(TorchRunner(HF(), CPU), InputAdapter("nchw"), X, 5)
    np.testing.assert_allclose(z[:, 0], X.reshape(20, -1)[:, :5])


def test_onnx_file_that_is_not_a_model(tmp_path):
    pytest.importorskip("onnxruntime")
    (tmp_path / "junk.onnx").write_bytes(b"this is not a protobuf graph" * 10)
    with pytest.raises(CheckpointError, match="junk.onnx is not a loadable ONNX model"):
        open_target(tmp_path / "junk.onnx")


def test_safetensors_state_dict_loads_without_pickle(tmp_path):
    from safetensors.torch import save_file

    from muaudit.models import build_model

    model = build_model("mlp", (3, 4, 4), 5, random_state=0, hidden=[8])
    save_file(model.state_dict(), tmp_path / "w.safetensors")
    (tmp_path / "w.bin").write_bytes((tmp_path / "w.safetensors").read_bytes())  # found by its header
    for name in ("w.safetensors", "w.bin"):
        t = open_target(tmp_path / name, TargetContext(input_shape=(3, 4, 4), n_classes=5, arch="mlp",
                                                       arch_kwargs={"hidden": [8]}))
        assert t.kind == "safetensors"
        with torch.no_grad():
            np.testing.assert_allclose(t.outputs(X, 5)[:, 0], model(torch.as_tensor(X)).numpy(), atol=1e-6)
    with pytest.raises(CheckpointError, match="does not fit the architecture"):
        open_target(tmp_path / "w.safetensors", TargetContext(input_shape=(3, 4, 4), n_classes=5), arch="mlp")
    (tmp_path / "cut.safetensors").write_bytes((tmp_path / "w.safetensors").read_bytes()[:100])
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        open_target(tmp_path / "cut.safetensors", TargetContext(input_shape=(3, 4, 4), n_classes=5), arch="mlp")


@pytest.mark.parametrize("device, message", [
    ("bogus", "unknown torch device 'bogus'"),
    ("meta", "unsupported torch device 'meta'"),
])
def test_bogus_device_is_a_config_error(device, message):
    with pytest.raises(ConfigError, match=message):
        select_device(device)
    assert select_device("cpu") == CPU


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the answer on a machine without CUDA")
@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_a_config_error():
    with pytest.raises(ConfigError, match=r"CUDA is not available in this torch build|has 0 visible CUDA device"):
        select_device("cuda")


def _shadows(rng, M=16, N=2000, acc=0.95):
    keep = np.zeros((M, N), bool)
    for m in range(M):
        keep[m, rng.permutation(N)[:N // 2]] = True
    correct = np.where(keep, True, rng.random((M, N)) < acc)
    return correct, keep


@pytest.mark.parametrize("target_acc, status", [(0.95, "ok"), (0.90, "warn"), (0.85, "fail"), (0.40, "fail")])
def test_accuracy_rule(target_acc, status):
    """Shadows 0.95 on OUT rows (per-model sd about 0.01 on 500 rows): 0.90 is a significant drop;
    0.85 has 3x the shadows' error rate, 0.40 lost more than a quarter of the accuracy above chance."""
    rng = np.random.default_rng(0)
    correct, keep = _shadows(rng)
    target = np.arange(2000) % 20 < round(20 * target_acc)  # exactly target_acc on the non-members
    _, found = compat.accuracy_findings(target, correct, keep, forget=np.arange(10), nonmembers=np.arange(1000, 2000),
                                        members=np.zeros(0, np.int64), n_classes=10)
    found = [f for f in found if "non-members" in f[1]]
    assert compat.summarize_findings(found)["status"] == status


def test_structure_rule_points_to_a_conv_recipe(tmp_path):
    from muaudit.pool import PoolSpec

    spec = PoolSpec.from_dict({"dataset": {"name": "digits"}, "model": {"arch": "mlp", "hidden": [512]}})
    (tmp_path / "cnn.toml").write_text("[dataset]\nname='digits'\n[model]\narch='cnn'\nchannels=[4]\nhidden=8\n")
    found = compat.structure_findings(["conv", "linear"], ["linear"], spec, recipes_dir=tmp_path)
    assert found[0][0] == "warn" and "in conv" in found[0][1]
    assert found[0][2] == f"build a pool with the target's kind of architecture: muaudit pool build {tmp_path / 'cnn.toml'}"
    assert compat.structure_findings(["linear"], ["linear"], spec, recipes_dir=tmp_path) == []
    assert compat.structure_findings(None, ["linear"], spec, recipes_dir=tmp_path) == []


def test_recipe_and_size_rules(tmp_path):
    from muaudit.pool import PoolSpec

    spec = PoolSpec.from_dict({"dataset": {"name": "digits"}, "model": {"arch": "mlp", "hidden": [512]},
                               "train": {"optimizer": "adam", "lr": 1e-3}})
    (tmp_path / "cnn.toml").write_text("[dataset]\nname='digits'\n[model]\narch='cnn'\n")
    same = {"arch": "mlp", "arch_kwargs": {"hidden": [512]}, "recipe": spec.train.to_dict()}
    assert recipe_status(same, spec, tmp_path) == ("ok", "none needed")
    sgd = {**same, "recipe": {**spec.train.to_dict(), "optimizer": "sgd"}}
    status, _ = recipe_status(sgd, spec, tmp_path)
    block = compat.summarize_findings(compat.recipe_findings(sgd, spec, recipes_dir=tmp_path)[1])
    assert status == "warn" and "train.optimizer: 'sgd' (target) vs 'adam' (pool)" in block["reasons"][0]
    cnn = {"arch": "cnn", "arch_kwargs": {}, "recipe": spec.train.to_dict()}
    advice = f"build a pool with the target's architecture: muaudit pool build {tmp_path / 'cnn.toml'}"
    assert recipe_status(cnn, spec, tmp_path) == ("warn", advice)
    assert recipe_status({}, spec, tmp_path) == ("ok", "none needed")  # no meta: nothing to compare
    assert compat.size_findings(1000, 2000) == [] and compat.size_findings(100, 2000)[0][0] == "warn"


def recipe_status(meta, spec, recipes_dir):
    block = compat.summarize_findings(compat.recipe_findings(meta, spec, recipes_dir=recipes_dir)[1])
    return block["status"], block["advice"]


def test_fail_never_passes_and_keeps_not_unlearned():
    from muaudit.audit.decision import Evidence, decide

    block = {"status": "fail", "reasons": ["fail: accuracy on non-members 0.1"], "advice": "pass --input-mean"}
    strong = dict(p_value_lower=0.5, alpha=0.01, residual=0.2, power=1.0, power_lower=1.0)
    d = decide(Evidence(p_value=0.5, blockers=tuple(compat.compat_blockers(block)), **strong))
    assert d["verdict"] == "inconclusive" and "failed the compatibility check" in d["reasons"][0]
    assert decide(Evidence(p_value=0.001, blockers=tuple(compat.compat_blockers(block)), **strong))["verdict"] == \
        "not unlearned"
    assert compat.compat_blockers({**block, "status": "warn"}) == []
    assert decide(Evidence(p_value=0.5, **strong))["verdict"] == "consistent with retraining"


def test_without_a_pool_only_near_chance_fails():
    assert compat.chance_findings(np.arange(100) % 10 < 9, 10) == []  # 0.9
    found = compat.chance_findings(np.arange(100) % 10 < 2, 10)  # 0.2 = twice chance
    assert found[0][0] == "fail" and "near chance" in found[0][1]
