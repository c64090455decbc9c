"""Deployed models: a target behind an HTTP inference API speaking the Open Inference Protocol
(v2 REST, as KServe, Triton and MLServer serve it; the client is :mod:`muaudit.targets.v2`).

``--target http://HOST:PORT/v2/models/NAME`` (also ``.../versions/V`` and ``.../infer``) reads the
model's metadata, fits the input adapter's layout to the declared input shape (no probe queries),
then sends the population in batched ``infer`` requests, its rows in an order drawn per audit (a
provider learns nothing from a row's place in a batch). With ``max_queries``, an audit that needs
more rows x views than allowed is refused before the first request. ``results.json`` records the
URL, the metadata, the output read and the rows and requests used (:meth:`EndpointRunner.describe`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from muaudit.errors import EndpointError
from muaudit.targets.adapter import InputAdapter, candidate_layouts
from muaudit.targets.outputs import TensorInfo, choose_output
from muaudit.targets.runner import predict_outputs, to_log_scores
from muaudit.targets.target import AuditTarget
from muaudit.targets.v2 import FLOATS, INTEGERS, EndpointURL, QueryOptions, V2Client, read_metadata, tensor_info


class EndpointRunner:
    """A deployed model as a runner: canonical-adapted batches in, ``[B, C]`` float32 scores out."""

    framework = "v2"

    def __init__(self, url: EndpointURL, options: QueryOptions, *, output: str | None = None):
        self.url, self.options, self.requested = url, options, output
        self.client = V2Client(options)
        self.metadata, self.input, self.declared = read_metadata(self.client, url)
        self.output: TensorInfo | None = None
        self.output_choice: str | None = None
        self.n_classes: int | None = None
        self.rows = 0
        if output is not None and self.declared:
            choose_output(self.declared, requested=output, n_classes=None, source=url)

    @property
    def fixed_batch(self) -> int | None:
        """The batch size the input's shape fixes, if any."""
        return self.input.shape[0]

    def prepare(self, n_classes: int) -> None:
        """Choose the output among the declared ones for ``n_classes`` scores."""
        self.n_classes = n_classes
        if self.declared and self.output is None:
            self.output, self.output_choice = choose_output(self.declared, requested=self.requested,
                                                            n_classes=n_classes, source=self.url)

    def fit_adapter(self, adapter: InputAdapter, X: np.ndarray) -> InputAdapter:
        """The adapter with the first layout whose examples have the declared input shape."""
        dims, tried = self.input.shape[1:], []
        for layout in (adapter.layout,) if adapter.resolved else candidate_layouts(X.shape[1:]):
            shape = adapter.with_layout(layout).apply(X[:1]).shape[1:]
            if len(shape) == len(dims) and all(d is None or d == s for d, s in zip(dims, shape)):
                return adapter.with_layout(layout)
            tried.append(f"{layout} {list(shape)}")
        raise EndpointError(f"{self.url}: input {self.input} fits none of the dataset's example layouts "
                            f"({'; '.join(tried)}); pass --input-layout, or serve a model of this dataset")

    def rows_for(self, n: int) -> int:
        """Rows sent for ``n`` inputs (a fixed batch size pads the last request)."""
        b = self.fixed_batch
        return n if not b else -(-n // b) * b

    def reserve(self, n_calls: int, n: int) -> None:
        """Refuse, before any request, ``n_calls`` passes over ``n`` inputs beyond ``max_queries``."""
        needed, limit = n_calls * self.rows_for(n), self.options.max_queries
        if limit is not None and self.rows + needed > limit:
            used = f", {self.rows} already used" if self.rows else ""
            raise EndpointError(f"the audit needs {needed} queries of {self.url} ({n} rows x {n_calls} view(s)); "
                                f"--max-queries allows {limit}{used}")

    def __call__(self, x: np.ndarray) -> np.ndarray:
        step = self.fixed_batch or self.options.batch_size
        out = [self._infer(x[s:s + step]) for s in range(0, len(x), step)]
        return np.concatenate(out) if out else np.zeros((0, self.n_classes or 0), np.float32)

    def _infer(self, xb: np.ndarray) -> np.ndarray:
        n, b = len(xb), self.fixed_batch
        if b and n < b:
            xb = np.concatenate([xb, np.zeros((b - n,) + xb.shape[1:], xb.dtype)])
        limit = self.options.max_queries
        if limit is not None and self.rows + len(xb) > limit:  # reserve() said yes: only a caller's miscount
            raise EndpointError(f"{self.url}: --max-queries {limit} reached after {self.rows} rows")
        body = {"inputs": [{"name": self.input.name, "shape": list(xb.shape), "datatype": self.input.type,
                            "data": np.asarray(xb, FLOATS[self.input.type]).ravel().tolist()}]}
        if self.output is not None:
            body["outputs"] = [{"name": self.output.name}]
        try:
            answer = self.client.call("POST", self.url.infer_url, body)
        except EndpointError as e:
            raise EndpointError(f"{e}; {self.rows} rows had been answered" if self.rows else str(e)) from None
        self.rows += len(xb)
        return self._scores(answer, len(xb))[:n]

    def _scores(self, answer: dict, n: int) -> np.ndarray:
        outs = answer.get("outputs")
        if not isinstance(outs, list) or not outs or not all(isinstance(o, dict) for o in outs):
            raise EndpointError(f"{self.url}: an infer answer without outputs")
        if self.output is None:  # no outputs declared in the metadata: chosen from the first answer
            infos = [tensor_info(o, "output", self.url) for o in outs]
            self.output, how = choose_output(infos, requested=self.requested, n_classes=self.n_classes,
                                             source=self.url)
            self.output_choice = f"{how}, from the first answer (the metadata declares no outputs)"
        found = [o for o in outs if o.get("name") == self.output.name]
        if not found:
            names = ", ".join(str(o.get("name"))[:40] for o in outs)
            raise EndpointError(f"{self.url}: the answer has no output {self.output.name!r} (it has {names})")
        return self._array(found[0], n)

    def _array(self, o: dict, n: int) -> np.ndarray:
        """Class scores ``[n, C]`` (a float datatype), or labels ``[n]`` or ``[n, 1]`` (an integer datatype: a
        label-only target, turned into one-hot rows by :func:`~muaudit.targets.runner.predict_outputs`)."""
        name, dt, shape, C = self.output.name, o.get("datatype"), o.get("shape"), self.n_classes
        labels = dt in INTEGERS and shape in ([n], [n, 1])
        if dt not in FLOATS and not labels:
            raise EndpointError(f"{self.url}: output {name!r} has datatype {str(dt)[:20]} and shape {str(shape)[:40]}; "
                                f"expected class scores (FP16, FP32 or FP64 [{n}, {C}]) or labels (INT [{n}])")
        if not labels and shape != [n, C]:
            raise EndpointError(f"{self.url}: output {name!r} has shape {str(shape)[:40]} for {n} rows; "
                                f"expected [{n}, {C}]")
        try:
            z = np.asarray(o.get("data"), np.float64)
        except (TypeError, ValueError):
            raise EndpointError(f"{self.url}: output {name!r} holds data that are not numbers") from None
        size = n if labels else n * C
        if z.size != size:
            raise EndpointError(f"{self.url}: output {name!r} holds {z.size} numbers; its shape {shape} needs "
                                f"{size} (binary data is not read: answer in JSON)")
        if not np.isfinite(z).all():
            raise EndpointError(f"{self.url}: output {name!r} has NaN/inf")
        return z.reshape(n).astype(np.float32) if labels else z.reshape(n, C).astype(np.float32)

    def describe(self) -> dict:
        """What ``results.json`` records: the output read and the endpoint (URL, metadata, rows queried)."""
        o = self.options
        return {"output": self.output.name if self.output else None, "output_choice": self.output_choice,
                "endpoint": {"url": str(self.url), "model": self.url.model, "version": self.url.version,
                             "metadata": self.metadata, "batch_size": self.fixed_batch or o.batch_size,
                             "timeout_s": o.timeout, "retries": o.retries, "max_queries": o.max_queries,
                             "rows_queried": self.rows, "requests": self.client.requests,
                             "retried_requests": self.client.retried}}


@dataclass
class EndpointTarget(AuditTarget):
    """A deployed model (``kind="endpoint"``); ``path`` holds the model's name, ``url`` the endpoint."""

    url: str = ""

    def plan_queries(self, n_rows: int, n_calls: int) -> None:
        """Refuse now an audit that will query ``n_rows`` inputs ``n_calls`` times beyond ``max_queries``
        (for callers that query view by view)."""
        self.runner.reserve(n_calls, n_rows)

    def outputs(self, X: np.ndarray, n_classes: int, **views) -> np.ndarray:
        """Log-scores ``[N, V, C]`` (``views`` as for :meth:`AuditTarget.outputs`); the query budget is
        checked before the first request."""
        runner = self.runner
        runner.prepare(n_classes)
        self.adapter = runner.fit_adapter(self.adapter, X)
        runner.reserve(_calls_per_row(self.adapter, X, n_classes, views), len(X))
        order = np.random.default_rng().permutation(len(X))
        z = predict_outputs(runner, self.adapter, X[order], n_classes, batch_size=max(len(X), 1), source=self.url,
                            **views)
        z, self.output_kind = to_log_scores(z[np.argsort(order)])
        return z


def _calls_per_row(adapter: InputAdapter, X: np.ndarray, n_classes: int, views: dict) -> int:
    """How many times :func:`predict_outputs` queries each row under ``views`` (counted on one row)."""
    calls = []

    def count(x):
        calls.append(len(x))
        return np.zeros((len(x), n_classes), np.float32)

    predict_outputs(count, adapter, X[:1], n_classes, **views)
    return len(calls)


def load_endpoint_target(url: str, *, adapter: InputAdapter | None = None, output: str | None = None,
                         query: QueryOptions | None = None) -> EndpointTarget:
    """Connect to a deployed model: parse ``url``, read its metadata (nothing is queried yet)."""
    parsed = EndpointURL.parse(url)
    runner = EndpointRunner(parsed, query or QueryOptions(), output=output)
    return EndpointTarget("endpoint", Path(parsed.model), runner=runner, adapter=adapter or InputAdapter(),
                          device="remote", url=str(parsed))
