"""`muaudit lira / mia / unlearn` on third-party targets: formats, input conventions, the
compatibility block, provenance, --device, and every bad input's exact Error line."""

import json

import numpy as np
import pytest
import torch
from torch import nn

from tests.helpers_audit import tiny_audit_kit
from muaudit.models import build_model, save_checkpoint
from muaudit.training import predict_logits
from tests.kit import error_line, run

pytestmark = pytest.mark.usefixtures("one_thread")
MEAN, STD = 0.3, 0.05  # the normalisation the "normalised" target expects (far from digits' own scaling)


class Denormalise(nn.Module):
    """Undoes (x - MEAN) / STD: the wrapped model expects normalised inputs."""

    def __init__(self):
        super().__init__()
        self.mean, self.std = MEAN, STD

    def forward(self, x):
        return x * self.std + self.mean


class ChannelsLast(nn.Module):
    def forward(self, x):
        return x.permute(0, 3, 1, 2)


class Raises(nn.Module):
    def forward(self, x):
        raise ValueError("refusing every input")


@pytest.fixture(scope="module")
def setup(tmp_path_factory, tiny_audit_base):
    d = tmp_path_factory.mktemp("targets")
    _, ds, model = tiny_audit_kit(tiny_audit_base, d)
    np.save(d / "train.npy", np.arange(1347))
    _third_party(d, model, ds)
    return d, model, ds


def _third_party(d, model, ds):
    from safetensors.torch import save_file

    script = lambda m, name: torch.jit.script(m.eval()).save(str(d / name))  # noqa: E731
    flat = nn.Sequential(*list(model)[1:])  # the same weights without the Flatten: takes [N, 64]
    script(flat, "flat.pt")
    script(nn.Sequential(model, nn.Softmax(-1)), "softmax.pt")
    script(nn.Sequential(Denormalise(), model), "normalised.pt")
    script(nn.Sequential(ChannelsLast(), model), "nhwc.pt")
    script(nn.Sequential(model, nn.Linear(10, 3)), "three.pt")
    script(Raises(), "raises.pt")
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, d / "w.safetensors")
    factory = build_model("tests.helpers_factory:make", ds.input_shape, ds.n_classes, random_state=0, width=4)
    save_file(factory.state_dict(), d / "factory.safetensors")
    logits = predict_logits(model, ds.X)[:, 0]
    np.save(d / "probs.npy", np.exp(logits) / np.exp(logits).sum(-1, keepdims=True))
    (d / "junk.onnx").write_bytes(b"not a protobuf graph at all" * 20)
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(flat.eval(), (torch.zeros(2, 64),), str(d / "model.onnx"), dynamo=False,
                              input_names=["x"], dynamic_axes={"x": {0: "n"}})
    except ImportError:  # onnx not installed: the ONNX test is skipped
        pass


def lira(d, target, name, *extra):
    r = run("lira", "--target", d / target, "--forget", d / "forget.npy", "--pool", d / "pool",
            "--train-idx", d / "train.npy", "--out", d / name, "--json", *extra)
    assert r.exit_code == 0, r.output
    return json.loads(r.output), np.load(d / name / "scores.npz")["scores"]


@pytest.fixture(scope="module")
def reference(setup):
    d, _, _ = setup
    return lira(d, "orig.pt", "r-orig")


@pytest.mark.parametrize("target, extra, layout, outputs", [
    ("flat.pt", (), "flat", "logits"),
    ("softmax.pt", (), "nchw", "probabilities (converted to log-probabilities)"),
    ("normalised.pt", ("--input-mean", MEAN, "--input-std", STD), "nchw", "logits"),
    ("nhwc.pt", ("--input-layout", "nhwc"), "nhwc", "logits"),
    ("w.safetensors", (), None, "logits"),
    ("probs.npy", (), None, "probabilities (converted to log-probabilities)"),
])
@pytest.mark.slow  # measured: 6 cases, 14 s CPU (the fast loop, docs/development.md)
def test_third_party_forms_of_one_model_give_its_scores(setup, reference, target, extra, layout, outputs):
    d, _, _ = setup
    want_res, want = reference
    res, scores = lira(d, target, f"r-{target}", *extra)
    np.testing.assert_allclose(scores, want, atol=2e-3)
    assert res["verdict"] == want_res["verdict"]
    details = res["inputs"]["target_details"]
    assert details["outputs"] == outputs
    if layout:
        assert details["input_adapter"]["layout"] == layout
    if extra[:1] == ("--input-mean",):
        assert details["input_adapter"] == {"layout": "nchw", "mean": [MEAN], "std": [STD]}


@pytest.mark.slow  # measured: 3.6 s CPU (the fast loop, docs/development.md)
def test_onnx_target(setup, reference):
    pytest.importorskip("onnxruntime")
    d, _, _ = setup
    if not (d / "model.onnx").exists():
        pytest.skip("onnx is not installed")
    res, scores = lira(d, "model.onnx", "r-onnx")
    np.testing.assert_allclose(scores, reference[1], atol=2e-3)
    assert res["inputs"]["target_details"]["kind"] == "onnx"
    assert res["inputs"]["target_details"]["input_adapter"]["layout"] == "flat"


@pytest.mark.slow  # measured: 2.0 s CPU (the fast loop, docs/development.md)
def test_normalised_target_fed_raw_inputs_fails_compatibility(setup):
    d, _, _ = setup
    res, _ = lira(d, "normalised.pt", "r-raw")
    c = res["compatibility"]
    assert c["status"] == "fail" and "--input-mean/--input-std" in c["advice"], c
    assert c["accuracy"]["nonmembers"]["target"] < 0.5
    assert res["verdict"] != "consistent with retraining"
    r = run("report", d / "r-raw")
    assert "Compatibility: FAIL" in r.output and "--input-mean" in r.output


def test_results_record_provenance_and_compatibility(setup, reference):
    d, _, _ = setup
    from muaudit.jobs.inputs import file_sha256

    res, _ = reference
    inputs = res["inputs"]
    assert inputs["target_sha256"] == file_sha256(d / "orig.pt")
    from muaudit.pool import Pool

    assert inputs["pool_digest"] == Pool(d / "pool").digest() and len(inputs["recipe_hash"]) == 64
    c = res["compatibility"]
    assert c["status"] in ("ok", "warn") and c["recipe"]["differences"] == []
    assert c["n_params"]["target"] == c["n_params"]["pool"] == 64 * 16 + 16 + 16 * 10 + 10


@pytest.mark.slow  # measured: 1.2 s CPU (the fast loop, docs/development.md)
def test_user_factory_state_dict_with_arch(setup):
    d, _, _ = setup
    res, scores = lira(d, "factory.safetensors", "r-factory", "--arch", "tests.helpers_factory:make")
    assert res["inputs"]["target_kind"] == "safetensors" and np.isfinite(scores).all()
    r = run("lira", "--target", d / "factory.safetensors", "--forget", d / "forget.npy", "--pool", d / "pool",
            "--out", d / "r-factory-noarch")
    assert "does not fit the architecture" in error_line(r) and not (d / "r-factory-noarch").exists()


@pytest.mark.slow  # about 1-5 s of the fast loop (docs/development.md)
def test_mia_and_unlearn_take_arch_and_input_options(setup, tmp_path):
    d, model, ds = setup
    factory = build_model("tests.helpers_factory:make", ds.input_shape, ds.n_classes, random_state=0, width=4)
    meta = json.loads(json.dumps(torch.load(d / "orig.pt", weights_only=True)["meta"]))
    meta.update(arch="tests.helpers_factory:make", arch_kwargs={"width": 4})
    save_checkpoint(tmp_path / "user.pt", factory, meta)
    r = run("mia", "--target", tmp_path / "user.pt", "--forget", d / "forget.npy", "--out", tmp_path / "m")
    assert "pass --arch tests.helpers_factory:make" in error_line(r)
    r = run("mia", "--target", tmp_path / "user.pt", "--forget", d / "forget.npy", "--out", tmp_path / "m",
            "--arch", "tests.helpers_factory:make", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["compatibility"]["status"] in ("ok", "warn", "fail")
    r = run("unlearn", "--method", "ft", "--model", tmp_path / "user.pt", "--forget", d / "forget.npy",
            "--out", tmp_path / "u.pt", "--arch", "tests.helpers_factory:make", "--set", "epochs=1")
    assert r.exit_code == 0, r.output
    saved = torch.load(tmp_path / "u.pt", weights_only=True)["meta"]
    assert saved["input_adapter"]["layout"] == "nchw"


def test_unlearn_refuses_a_raw_state_dict_with_a_reason(setup, tmp_path):
    d, model, _ = setup
    torch.save(model.state_dict(), tmp_path / "raw.pt")
    r = run("unlearn", "--method", "ft", "--model", tmp_path / "raw.pt", "--forget", d / "forget.npy",
            "--out", tmp_path / "u.pt")
    assert "is a raw state_dict: muaudit unlearn needs a muaudit checkpoint" in error_line(r)
    assert not (tmp_path / "u.pt").exists()


@pytest.mark.slow  # measured: 2.6 s CPU (the fast loop, docs/development.md)
def test_unlearn_trains_through_the_normalisation(setup, tmp_path):
    d, model, ds = setup
    wrapped = nn.Sequential(Denormalise(), model)
    meta = torch.load(d / "orig.pt", weights_only=True)["meta"]
    r = run("unlearn", "--method", "ft", "--model", d / "orig.pt", "--forget", d / "forget.npy", "--out",
            tmp_path / "u.pt", "--input-mean", MEAN, "--input-std", STD, "--set", "epochs=1")
    assert r.exit_code == 0, r.output
    saved = torch.load(tmp_path / "u.pt", weights_only=True)
    assert saved["meta"]["input_adapter"] == {"layout": "nchw", "mean": [MEAN], "std": [STD]}
    assert set(saved["state_dict"]) == set(model.state_dict())  # the adapter is not saved as a layer
    assert wrapped is not None and meta["arch"] == "mlp"
    r = run("lira", "--target", tmp_path / "u.pt", "--forget", d / "forget.npy", "--pool", d / "pool", "--out",
            tmp_path / "audit", "--json")  # audited through the adapter its meta records
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["inputs"]["target_details"]["input_adapter"]["mean"] == [MEAN]


@pytest.mark.parametrize("command, target, extra, message", [
    ("lira", "flat.pt", ("--input-layout", "nchw"),
     "accepts none of the input layouts tried (nchw [16, 1, 8, 8]: RuntimeError: mat1 and mat2 shapes cannot be multiplied"),
    ("lira", "orig.pt", ("--input-mean", "0.1,0.2,0.3", "--input-std", "1"),
     "Expected `input_mean` with 1 value (one per channel of inputs [1, 8, 8]), got 3"),
    ("lira", "orig.pt", ("--input-mean", "0.1", "--input-std", "-1"), "Expected every `input_std` > 0, got -1"),
    ("lira", "orig.pt", ("--input-mean", "x", "--input-std", "1"), "Expected `input_mean` as numbers separated by commas"),
    ("lira", "junk.onnx", (), "junk.onnx is not a loadable ONNX model"),
    ("lira", "three.pt", (), "output [16, 3], expected [16, 10]"),
    ("lira", "raises.pt", (), "ValueError: refusing every input"),
    ("lira", "orig.pt", ("--device", "bogus"), "unknown torch device 'bogus'"),
    ("lira", "probs.npy", ("--input-mean", "0.5", "--input-std", "1"), "--input-mean/--input-std apply to models only"),
    ("mia", "three.pt", (), "output [16, 3], expected [16, 10]"),
    ("mia", "flat.pt", ("--input-layout", "nhwc"), "accepts none of the input layouts tried (nhwc [16, 8, 8, 1]"),
    ("mia", "orig.pt", ("--device", "bogus"), "unknown torch device 'bogus'"),
])
def test_bad_targets_get_one_error_line_and_nothing_written(setup, tmp_path, command, target, extra, message):
    if target.endswith(".onnx"):
        pytest.importorskip("onnxruntime")
    d, _, _ = setup
    r = run(command, "--target", d / target, "--forget", d / "forget.npy", "--pool", d / "pool",
            "--out", tmp_path / "out", *extra)
    assert message in error_line(r)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args", [
    ("unlearn", "--method", "ft", "--model", "{d}/orig.pt", "--forget", "{d}/forget.npy", "--out", "{t}/out",
     "--device", "bogus"),
    ("unlearn", "--method", "ft", "--model", "{d}/orig.pt", "--forget", "{d}/forget.npy", "--out", "{t}/out",
     "--input-std", "0,1"),
    ("unlearn", "--method", "ft", "--model", "{d}/w.safetensors", "--forget", "{d}/forget.npy", "--out", "{t}/out"),
    ("unlearn", "--method", "ft", "--model", "{d}/flat.pt", "--forget", "{d}/forget.npy", "--out", "{t}/out"),
    ("train", "{d}/tiny.toml", "--out", "{t}/out", "--device", "bogus"),
    ("pool", "build", "{d}/tiny.toml", "--out", "{t}/out", "--device", "bogus"),
    ("poison", "gaussian", "--recipe", "{d}/tiny.toml", "--method", "ft", "--out", "{t}/out", "--device", "bogus"),
])
def test_other_commands_check_device_and_inputs_first(setup, tmp_path, args):
    d, _, _ = setup
    r = run(*[a.format(d=d, t=tmp_path) for a in args])
    assert error_line(r).startswith("Error: ")
    assert not (tmp_path / "out").exists()
