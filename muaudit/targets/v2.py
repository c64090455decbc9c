"""The Open Inference Protocol (v2 REST) as a client: endpoint URLs, query options, requests with
retries, model metadata.

Only what :mod:`muaudit.targets.endpoint` needs: ``GET /v2/models/NAME[/versions/V]`` (metadata:
``{"name", "platform", "versions", "inputs": [{"name", "datatype", "shape"}], "outputs": [...]}``,
-1 for a variable dimension) and ``POST .../infer`` (JSON tensors, ``data`` flat in row-major
order). Errors are HTTP 4xx / 5xx with ``{"error": "..."}``. Connection errors, timeouts, 429 and
5xx answers are retried with exponential backoff; other 4xx answers stop at once.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import numpy as np

from muaudit.checks import check_int_range, check_number_range, check_positive_int
from muaudit.errors import EndpointError
from muaudit.targets.outputs import OTHER, SCORES, TensorInfo

SCHEMES = ("http", "https")
FLOATS = {"FP16": np.float16, "FP32": np.float32, "FP64": np.float64}
INTEGERS = {"UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64"}
DATATYPES = {"BOOL", "BYTES", *INTEGERS, *FLOATS}
_PATH = re.compile(r"^(?P<prefix>(?:/[^/]+)*?)/v2/models/(?P<model>[^/]+)(?:/versions/(?P<version>[^/]+))?"
                   r"(?:/infer)?/?$")
URL_FORM = "http(s)://HOST[:PORT]/v2/models/NAME[/versions/V][/infer]"


def is_endpoint(target) -> bool:
    """A string target starting with ``http://`` or ``https://``.

    Example:
        >>> is_endpoint("http://127.0.0.1:8080/v2/models/m"), is_endpoint("model.onnx")
        (True, False)
    """
    return isinstance(target, str) and target.split("://", 1)[0].lower() in SCHEMES and "://" in target


@dataclass(frozen=True)
class EndpointURL:
    """Where a model is served: ``base`` (scheme, host, port and any path prefix), model, version.

    Example:
        >>> u = EndpointURL.parse("http://127.0.0.1:8080/v2/models/digits/versions/2/infer")
        >>> u.model, u.version, u.infer_url
        ('digits', '2', 'http://127.0.0.1:8080/v2/models/digits/versions/2/infer')
    """

    base: str
    model: str
    version: str | None = None

    @classmethod
    def parse(cls, url: str) -> "EndpointURL":
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError on a port that is not a number
        except ValueError as e:
            raise EndpointError(f"{url!r} is not a valid URL ({e}); expected {URL_FORM}") from None
        if parts.scheme.lower() not in SCHEMES or not parts.hostname:
            raise EndpointError(f"Expected an endpoint URL {URL_FORM}, got {url!r}")
        if parts.username or parts.password:
            raise EndpointError(f"{parts.hostname}: credentials in the URL would be written to results.json; "
                                "serve the model without them or behind a local proxy")
        match = _PATH.match(parts.path)
        if parts.query or parts.fragment or not match:
            raise EndpointError(f"{url}: expected {URL_FORM} (the Open Inference Protocol's model path)")
        return cls(f"{parts.scheme.lower()}://{parts.netloc}{match['prefix']}", match["model"], match["version"])

    @property
    def model_url(self) -> str:
        version = f"/versions/{self.version}" if self.version else ""
        return f"{self.base}/v2/models/{self.model}{version}"

    @property
    def infer_url(self) -> str:
        return f"{self.model_url}/infer"

    def __str__(self) -> str:
        return self.model_url


MAX_RETRIES, MAX_SECONDS = 100, 86400.0
CHECKS = {  # the CLI's option types call the same checks (muaudit.cli.target_options)
    "batch_size": check_positive_int, "max_queries": check_positive_int,
    "retries": lambda name, v: check_int_range(name, v, 0, MAX_RETRIES),
    "timeout": lambda name, v: check_number_range(name, v, 0.0, MAX_SECONDS),
    "backoff": lambda name, v: check_number_range(name, v, 0.0, MAX_SECONDS, open_low=False),
}


@dataclass(frozen=True)
class QueryOptions:
    """How an endpoint is queried.

    Attributes:
        batch_size: rows per ``infer`` request.
        timeout: seconds to wait for one answer.
        retries: further tries of a request after a connection error, a timeout, 429 or 5xx.
        backoff: seconds before the first retry, doubled for each further one.
        max_queries: the most rows (x views) the audit may send; None: no limit.
    """

    batch_size: int = 128
    timeout: float = 30.0
    retries: int = 3
    backoff: float = 0.5
    max_queries: int | None = None

    @classmethod
    def from_options(cls, batch_size=None, timeout=None, retries=None, max_queries=None,
                     backoff=None) -> "QueryOptions | None":
        """Validated options; None when none is given (a file target then takes none)."""
        given = {"batch_size": batch_size, "timeout": timeout, "retries": retries, "max_queries": max_queries,
                 "backoff": backoff}
        if all(v is None for v in given.values()):
            return None
        out = {k: v for k, v in given.items() if v is not None}
        for name, check in CHECKS.items():
            if name in out:
                out[name] = check(name, out[name])
        return cls(**out)


class V2Client:
    """JSON over HTTP with retries: every answer a JSON object, every failure an :class:`EndpointError`."""

    def __init__(self, options: QueryOptions):
        import requests

        self.options, self.session = options, requests.Session()
        self.requests = self.retried = 0

    def call(self, method: str, address: str, body: dict | None = None) -> dict:
        import requests

        o, problem = self.options, ""
        for attempt in range(o.retries + 1):
            if attempt:
                time.sleep(o.backoff * 2 ** (attempt - 1))
                self.retried += 1
            self.requests += 1
            try:
                r = self.session.request(method, address, json=body, timeout=o.timeout)
            except requests.Timeout:
                problem = f"no answer within {o.timeout:g} s"
                continue
            except requests.ConnectionError as e:
                problem = connection_reason(e)
                continue
            except requests.RequestException as e:  # invalid URL, too many redirects: retrying cannot help
                raise EndpointError(f"{method} {address}: {connection_reason(e)}") from None
            if r.status_code >= 500 or r.status_code == 429:
                problem = f"HTTP {r.status_code} ({server_error(r)})"
                continue
            if r.status_code >= 400:
                raise EndpointError(f"{method} {address}: HTTP {r.status_code} ({server_error(r)})")
            return _json_object(r, method, address)
        tries = o.retries + 1
        raise EndpointError(f"{method} {address}: {problem} ({tries} {'try' if tries == 1 else 'tries'})")


def connection_reason(e: BaseException) -> str:
    """The cause inside a requests exception, e.g. ``Connection refused``."""
    text = str(e)
    found = re.findall(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
    if found:
        return found[-1].strip()
    for known in ("Remote end closed connection without response", "Connection reset by peer",
                  "Connection aborted"):
        if known in text:
            return known
    return " ".join(text.split())[:200] or type(e).__name__


def server_error(r) -> str:
    """What an error answer says: its ``{"error": ...}``, else the start of its body."""
    try:
        said = r.json().get("error")
    except (ValueError, AttributeError):
        said = None
    text = said if isinstance(said, str) else (r.text or r.reason or "")
    return " ".join(str(text).split())[:200] or "no message"


def _json_object(r, method: str, address: str) -> dict:
    try:
        body = r.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise EndpointError(f"{method} {address}: the answer is not a JSON object ({' '.join(r.text.split())[:80]!r})")
    return body


def tensor_info(d, what: str, source) -> TensorInfo:
    """A ``{"name", "datatype", "shape"}`` of metadata or of an answer, checked."""
    ok = isinstance(d, dict) and isinstance(d.get("name"), str) and 0 < len(d["name"]) <= 200
    if not ok or d.get("datatype") not in DATATYPES:
        raise EndpointError(f"{source}: an {what} without a name or a known datatype ({str(d)[:120]})")
    shape = d.get("shape")
    if not (isinstance(shape, list) and 1 <= len(shape) <= 8
            and all(isinstance(s, int) and not isinstance(s, bool) and s >= -1 for s in shape)):
        raise EndpointError(f"{source}: {what} {d['name']!r} has no valid shape ({str(shape)[:80]})")
    kind = SCORES if d["datatype"] in FLOATS else OTHER
    return TensorInfo(d["name"], kind, tuple(None if s < 0 else s for s in shape), d["datatype"])


def read_metadata(client: V2Client, url: EndpointURL) -> tuple[dict, TensorInfo, list[TensorInfo]]:
    """The model's metadata (as recorded), its one input, its declared outputs (maybe none)."""
    meta = client.call("GET", url.model_url)
    inputs, outputs = meta.get("inputs"), meta.get("outputs") or []
    if not isinstance(inputs, list) or not inputs:
        raise EndpointError(f"{url}: the model's metadata declares no inputs; the audit needs the input's name, "
                            "datatype and shape: declare them where the model is served")
    if len(inputs) != 1 or not isinstance(outputs, list):
        raise EndpointError(f"{url}: expected a model with one input and a list of outputs, got {len(inputs)} inputs")
    inp = tensor_info(inputs[0], "input", url)
    if inp.type not in FLOATS or len(inp.shape) < 2:
        raise EndpointError(f"{url}: input {inp} is not a float batch [N, ...]; expected FP16, FP32 or FP64")
    outs = [tensor_info(o, "output", url) for o in outputs]
    recorded = {"name": str(meta.get("name", ""))[:200], "platform": str(meta.get("platform", ""))[:200],
                "versions": [str(v)[:40] for v in meta.get("versions") or []][:20] if isinstance(
                    meta.get("versions"), list) else [], "inputs": [as_metadata(inp)], "outputs": [as_metadata(o) for o in outs]}
    return recorded, inp, outs


def as_metadata(t: TensorInfo) -> dict:
    """A tensor as the protocol's metadata writes it (-1 for a variable dimension)."""
    return {"name": t.name, "datatype": t.type, "shape": [-1 if d is None else d for d in t.shape]}
