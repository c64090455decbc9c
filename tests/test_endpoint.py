"""Deployed models: `--target http://.../v2/models/NAME` against a real MLServer on 127.0.0.1 serving
the tiny kit's MLP honestly, cheating (forget-set inputs answered by a retrain), and failing in
every way the issue lists; each failure one Error line, exit 2, nothing written."""

import importlib.util
import json

import numpy as np
import pytest

if importlib.util.find_spec("mlserver") is None:  # found, not imported: only the server process imports it
    pytest.skip("the endpoint tests need MLServer: pip install -e '.[dev]'", allow_module_level=True)

from tests.helpers_v2 import FLAT, LOGITS, add_model, free_port, mlp_arrays, mlserver  # noqa: E402
from muaudit import audit_checkpoint  # noqa: E402
from muaudit.errors import ConfigError, EndpointError  # noqa: E402
from muaudit.jobs import run_lira  # noqa: E402
from muaudit.jobs.mia import run_mia  # noqa: E402
from muaudit.pool import build_pool, load_spec  # noqa: E402
from muaudit.targets import open_target  # noqa: E402
from muaudit.targets.v2 import EndpointURL, QueryOptions, is_endpoint  # noqa: E402
from muaudit.training import predict_logits  # noqa: E402
from muaudit.training.single import train_target  # noqa: E402
from tests.helpers_audit import tiny_audit_kit  # noqa: E402
from tests.kit import error_line, run  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")
FAST = QueryOptions(retries=2, backoff=0.01, timeout=10)


@pytest.fixture(scope="module")
def kit(tmp_path_factory, tiny_audit_base):
    """The tiny kit, a retrain without the forget set, and one server with every model."""
    d = tmp_path_factory.mktemp("endpoint")
    spec, ds, model = tiny_audit_kit(tiny_audit_base, d)
    forget = np.load(d / "forget.npy")
    retrain, _ = train_target(spec, ds, exclude=forget, random_state=8)
    np.save(d / "train.npy", np.arange(1347))
    orig = mlp_arrays(model)
    cheat = {**orig, **mlp_arrays(retrain, "R", "c"), "forget": ds.X[ds.train_idx[forget]]}
    repo = d / "models"
    add_model(repo, "honest", orig)
    add_model(repo, "cheat", cheat, mode="cheat")
    add_model(repo, "images", orig, inputs=[{"name": "img", "datatype": "FP32", "shape": [-1, 1, 8, 8]}],
              outputs=None)
    add_model(repo, "cifar", orig, inputs=[{"name": "x", "datatype": "FP32", "shape": [-1, 3, 32, 32]}])
    add_model(repo, "fixed", orig, inputs=[{"name": "x", "datatype": "FP64", "shape": [300, 64]}])
    add_model(repo, "labels", orig, mode="labels", outputs=None)
    add_model(repo, "bool", orig, mode="bool", outputs=None)
    add_model(repo, "short", orig, mode="short", outputs=None)
    add_model(repo, "refuses", orig, mode="error400")
    add_model(repo, "broken", orig, mode="error500")
    add_model(repo, "flaky", orig, mode="flaky")
    add_model(repo, "nometa", orig, inputs=None, outputs=None)
    with mlserver(repo) as base:
        yield {"d": d, "ds": ds, "model": model, "retrain": retrain, "forget": forget, "base": base}


@pytest.fixture(scope="module")
def wpool(kit):
    """The kit's pool again, with the shadows' weights (for --secret-views)."""
    d = kit["d"]
    (d / "weights.toml").write_text((d / "tiny.toml").read_text() + "save_weights = true\n")
    build_pool(load_spec(d / "weights.toml"), d / "wpool")
    return d / "wpool"


def url(kit, name, tail=""):
    return f"{kit['base']}/v2/models/{name}{tail}"


def lira(kit, target, **kw):
    d = kit["d"]
    return run_lira(target=target, forget=d / "forget.npy", pool=d / "pool", train_idx=d / "train.npy",
                    write=False, **kw)[0]


# --- URLs and options (no server) ---

@pytest.mark.parametrize("text, base, model, version", [
    ("http://127.0.0.1:8080/v2/models/m", "http://127.0.0.1:8080", "m", None),
    ("https://h.example/v2/models/m/infer", "https://h.example", "m", None),
    ("http://h:1/serving/v2/models/digits/versions/3/infer/", "http://h:1/serving", "digits", "3"),
])
def test_endpoint_urls(text, base, model, version):
    u = EndpointURL.parse(text)
    assert (u.base, u.model, u.version) == (base, model, version) and is_endpoint(text)


@pytest.mark.parametrize("text, says", [
    ("http://127.0.0.1:8080/models/m", "expected http(s)://HOST[:PORT]/v2/models/NAME"),
    ("http://user:pw@h/v2/models/m", "credentials in the URL would be written to results.json"),
    ("http://h:99999999/v2/models/m", "is not a valid URL"),
    ("http://h/v2/models/m?x=1", "expected http(s)://HOST[:PORT]/v2/models/NAME"),
])
def test_bad_urls(text, says):
    with pytest.raises(EndpointError, match=None) as e:
        EndpointURL.parse(text)
    assert says in str(e.value)


@pytest.mark.parametrize("kw, says", [({"batch_size": 0}, "batch_size"), ({"timeout": 0.0}, "timeout"),
                                      ({"retries": -1}, "retries"), ({"max_queries": 0}, "max_queries"),
                                      ({"timeout": float("nan")}, "timeout"), ({"retries": 101}, "retries"),
                                      ({"timeout": 1e9}, "timeout"), ({"batch_size": 2.5}, "batch_size")])
def test_bad_query_options(kw, says):
    with pytest.raises(ConfigError, match=says):
        QueryOptions.from_options(**kw)


def test_query_options_on_a_file_are_refused(tmp_path):
    (tmp_path / "m.pt").write_bytes(b"x")
    with pytest.raises(ConfigError, match="apply to endpoints"):
        open_target(tmp_path / "m.pt", query=QueryOptions.from_options(max_queries=5))
    with pytest.raises(ConfigError, match="--output names an output of an ONNX model or an endpoint"):
        open_target(tmp_path / "m.pt", output="probabilities")


def test_connection_refused_is_one_error_line(tmp_path):
    target = f"http://127.0.0.1:{free_port()}/v2/models/m"
    with pytest.raises(EndpointError, match=r"GET .*/v2/models/m: Connection refused \(3 tries\)"):
        open_target(target, query=FAST)


def test_a_server_that_never_answers_times_out():
    """A socket that accepts connections and never answers: each try waits --timeout seconds."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        target = f"http://127.0.0.1:{s.getsockname()[1]}/v2/models/m"
        with pytest.raises(EndpointError, match=r"GET .*/v2/models/m: no answer within 0.2 s \(2 tries\)"):
            open_target(target, query=QueryOptions(timeout=0.2, retries=1, backoff=0.01))


def test_an_answer_that_is_not_json():
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Text(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"<html>a login page</html>")

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Text)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(EndpointError, match=r"the answer is not a JSON object \('<html>a login page</html>'\)"):
            open_target(f"http://127.0.0.1:{server.server_port}/v2/models/m", query=FAST)
    finally:
        server.shutdown()
        server.server_close()


# --- the real server ---

def test_honest_endpoint_gives_the_file_audit(kit):
    d = kit["d"]
    by_file = lira(kit, d / "orig.pt")
    by_url = lira(kit, url(kit, "honest", "/infer"), batch_size=100)
    for key in ("verdict", "p_value", "auc"):
        assert by_url[key] == pytest.approx(by_file[key], abs=1e-6), key
    details = by_url["inputs"]["target_details"]
    ep = details["endpoint"]
    assert by_url["inputs"]["target"] == url(kit, "honest", "/infer") and by_url["inputs"]["target_kind"] == "endpoint"
    assert ep["rows_queried"] == 1797 and ep["requests"] == 1 + 18 and ep["retried_requests"] == 0
    assert ep["metadata"]["inputs"] == FLAT and ep["metadata"]["outputs"] == LOGITS and ep["batch_size"] == 100
    assert details["output"] == "logits" and details["input_adapter"]["layout"] == "flat"


def test_endpoint_outputs_equal_the_model(kit):
    ds, model = kit["ds"], kit["model"]
    z = open_target(url(kit, "images"), query=FAST).outputs(ds.X, 10)
    assert np.abs(z - predict_logits(model, ds.X)).max() < 1e-4


@pytest.mark.slow  # measured: 2.5 s CPU (the fast loop, docs/development.md)
def test_cheating_endpoint_answers_forget_inputs_from_the_retrain(kit):
    ds, forget = kit["ds"], kit["forget"]
    t = open_target(url(kit, "cheat"), query=FAST)
    z = t.outputs(ds.X, 10)[:, 0]
    rows = ds.train_idx[forget]
    others = np.setdiff1d(np.arange(len(ds.X)), rows)
    assert np.abs(z[rows] - predict_logits(kit["retrain"], ds.X[rows])[:, 0]).max() < 1e-4
    assert np.abs(z[others] - predict_logits(kit["model"], ds.X[others])[:, 0]).max() < 1e-4
    honest, cheat = lira(kit, url(kit, "honest")), lira(kit, url(kit, "cheat"))
    # measured on the tiny pool: the cheat hides its forget set (AUC 0.565 -> 0.457, p 0.046 -> 0.91); only
    # queries it cannot match to the forget set (the secret views) can catch it
    assert cheat["auc"] < honest["auc"] - 0.05, (honest["auc"], cheat["auc"])


def test_fixed_batch_and_fp64_input(kit):
    """Input declared FP64 [300, 64]: requests of exactly 300 rows (the last padded; padding counts)."""
    ds = kit["ds"]
    with pytest.raises(EndpointError, match=r"needs 1800 queries .* --max-queries allows 1799"):
        open_target(url(kit, "fixed"), query=QueryOptions(max_queries=1799)).outputs(ds.X, 10)
    t = open_target(url(kit, "fixed"), query=QueryOptions(max_queries=1800))
    z = t.outputs(ds.X, 10)
    assert np.abs(z - predict_logits(kit["model"], ds.X)).max() < 1e-4
    ep = t.describe()["endpoint"]
    assert (ep["rows_queried"], ep["requests"], ep["batch_size"]) == (1800, 1 + 6, 300)


def test_labels_endpoint_answers_labels(kit):
    """INT64 labels [N]: a label-only target (predict_outputs makes them one-hot rows)."""
    ds = kit["ds"]
    t = open_target(url(kit, "labels"), query=FAST)
    t.runner.prepare(10)
    x = ds.X[:300].reshape(300, -1)
    assert np.array_equal(t.runner(x), predict_logits(kit["model"], ds.X[:300])[:, 0].argmax(-1))


def test_layout_and_output_from_the_server(kit):
    """Input declared [-1, 1, 8, 8] (nchw, no probe), outputs not declared: read from the first answer."""
    r = lira(kit, url(kit, "images"))
    details = r["inputs"]["target_details"]
    assert details["input_adapter"]["layout"] == "nchw" and details["output"] == "logits"
    assert "from the first answer" in details["output_choice"]


def test_connection_refused_cli(kit, tmp_path):
    d = kit["d"]
    line = error_line(run("lira", "--target", f"http://127.0.0.1:{free_port()}/v2/models/m/infer", "--forget",
                          d / "forget.npy", "--pool", d / "pool", "--retries", 0, "--out", tmp_path / "out"))
    assert line.endswith("/v2/models/m: Connection refused (1 try)") and not (tmp_path / "out").exists()


def test_max_queries_refused_before_any_query(kit, tmp_path):
    d = kit["d"]
    t = open_target(url(kit, "honest"), query=QueryOptions(max_queries=1796))
    with pytest.raises(EndpointError, match=r"needs 1797 queries .* \(1797 rows x 1 view\(s\)\); --max-queries allows 1796"):
        t.outputs(kit["ds"].X, 10)
    assert t.runner.client.requests == 1 and t.runner.rows == 0  # the metadata only
    line = error_line(run("lira", "--target", url(kit, "honest"), "--forget", d / "forget.npy", "--pool", d / "pool",
                          "--max-queries", 1000, "--out", tmp_path / "out"))
    assert "--max-queries allows 1000" in line and not (tmp_path / "out").exists()
    assert lira(kit, url(kit, "honest"), max_queries=1797)["inputs"]["target_details"]["endpoint"]["rows_queried"] == 1797


@pytest.mark.parametrize("name, tail, says", [
    ("nope", "", "HTTP 404 (Model nope not found)"),
    ("nometa", "", "the model's metadata declares no inputs"),
    ("refuses", "", "HTTP 400 (the model refuses this request (error400))"),
    ("broken", "--retries 1", "HTTP 500 (the model refuses this request (error500)) (2 tries)"),
    ("bool", "", "output 'logits' has datatype BOOL and shape [128, 10]; expected class scores (FP16, FP32 or "
                 "FP64 [128, 10]) or labels (INT [128])"),
    ("short", "", "output 'logits' has shape [128, 9] for 128 rows; expected [128, 10]"),
    ("cifar", "", "input x FP32 [N, 3, 32, 32] fits none of the dataset's example layouts (nchw [1, 8, 8]; flat [64]; nhwc [8, 8, 1])"),
    ("honest", "--output probabilities", "has no output 'probabilities' (outputs: logits FP32 [N, 10])"),
])
def test_failures_are_one_error_line(kit, tmp_path, name, tail, says):
    d = kit["d"]
    extra = tail.split() if tail else []
    result = run("lira", "--target", url(kit, name), "--forget", d / "forget.npy", "--pool", d / "pool",
                 "--out", tmp_path / "out", *extra)
    line = error_line(result)
    assert says in line, line
    assert not (tmp_path / "out").exists()


@pytest.mark.slow  # measured: 3.2 s CPU (the fast loop, docs/development.md)
def test_retries_ride_out_a_flaky_server(kit):
    r = lira(kit, url(kit, "flaky"), batch_size=500, retries=1)
    ep = r["inputs"]["target_details"]["endpoint"]
    assert ep["rows_queried"] == 1797 and ep["retried_requests"] == 4 and ep["requests"] == 1 + 8


@pytest.mark.slow  # measured: 2.2 s CPU (the fast loop, docs/development.md)
def test_audit_checkpoint_and_mia_take_an_endpoint(kit, tmp_path):
    d = kit["d"]
    r = audit_checkpoint(url(kit, "honest"), np.load(d / "forget.npy"), d / "pool", train_idx=np.arange(1347))
    assert r["inputs"]["target_details"]["endpoint"]["model"] == "honest"
    m, folder = run_mia(target=url(kit, "honest"), forget=d / "forget.npy", pool=d / "pool", out=tmp_path / "mia")
    saved = json.loads((folder / "results.json").read_text())
    assert saved["inputs"]["target_details"]["endpoint"]["rows_queried"] == 1797
    assert m["title"] == "Population MIAs on honest"


@pytest.mark.slow  # measured: 2.1 s CPU and a pool build (the fast loop, docs/development.md)
def test_secret_views_through_an_endpoint(kit, wpool):
    """Every view's queries are counted before the first one is sent (the model that refuses every
    infer request is never asked); the cheat is then queried on views it cannot match."""
    d, target = kit["d"], url(kit, "refuses")
    with pytest.raises(EndpointError, match=r"needs 7188 queries .* \(1797 rows x 4 view\(s\)\); --max-queries allows 7187"):
        run_lira(target=target, forget=d / "forget.npy", pool=wpool, secret_views=4, max_queries=7187,
                 write=False)
    r, _ = run_lira(target=url(kit, "cheat"), forget=d / "forget.npy", pool=wpool, train_idx=d / "train.npy",
                    secret_views=4, max_queries=7188, write=False)
    assert r["queries"]["kind"] == "secret" and r["inputs"]["target_details"]["endpoint"]["rows_queried"] == 7188


@pytest.mark.slow  # measured: 2.1 s CPU (the fast loop, docs/development.md)
def test_cli_summary_and_report_name_the_endpoint(kit, tmp_path):
    from muaudit.report.view import overview_row

    d = kit["d"]
    result = run("lira", "--target", url(kit, "honest", "/infer"), "--forget", d / "forget.npy", "--pool", d / "pool",
                 "--train-idx", d / "train.npy", "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert f"Endpoint {url(kit, 'honest')}: 1797 rows queried in 16 requests; output logits." in result.output
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert overview_row(tmp_path / "out", saved)["target"] == "honest (endpoint)"
    assert saved["inputs"]["target_sha256"] is None and saved["title"] == "LiRA audit of honest"


@pytest.mark.slow  # measured: 5.5 s CPU, a second server (the fast loop, docs/development.md)
def test_server_that_stops_mid_audit(kit, tmp_path):
    repo = tmp_path / "dying"
    add_model(repo, "dies", mlp_arrays(kit["model"]), mode="dies", after=3)
    d = kit["d"]
    with mlserver(repo) as base:
        result = run("lira", "--target", f"{base}/v2/models/dies", "--forget", d / "forget.npy", "--pool", d / "pool",
                     "--batch-size", 200, "--retries", 1, "--out", tmp_path / "out")
    line = error_line(result)
    assert "POST " in line and "; 400 rows had been answered" in line, line
    assert not (tmp_path / "out").exists()

