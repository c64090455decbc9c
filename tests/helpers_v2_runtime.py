"""The MLServer runtime of the endpoint tests: a numpy MLP served over the Open Inference Protocol.

A model folder's ``model-settings.json`` names ``parameters.uri`` (an ``.npz`` with the layers
``W0, b0, W1, b1, ...`` of an MLP on flat inputs, ReLU between them) and ``parameters.extra``:

- ``mode``: ``honest`` (the MLP's logits); ``cheat`` (an input equal to a row of ``forget`` in the
  ``.npz`` is answered by a second MLP ``R0, c0, ...``, the retrain; every other input by the
  first); ``labels`` (INT64 labels ``[N]``); ``bool`` (BOOL ``[N, C]``); ``short`` (logits
  without the last class);
  ``error400`` / ``error500`` (every infer fails with that status); ``flaky`` (every other infer
  answers 503); ``dies`` (the server process exits on infer request number ``after``).

Only the test server imports this module (``PYTHONPATH`` names this folder).
"""

from __future__ import annotations

import os

import numpy as np
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.errors import MLServerError
from mlserver.types import InferenceResponse


def mlp(layers: list[tuple[np.ndarray, np.ndarray]], x: np.ndarray) -> np.ndarray:
    """Logits of the MLP ``layers`` on ``x`` (flattened), in float32."""
    h = x.reshape(len(x), -1).astype(np.float32)
    for i, (w, b) in enumerate(layers):
        h = h @ w.T + b
        if i < len(layers) - 1:
            h = np.maximum(h, 0)
    return h


def _layers(npz, prefix: str, bias: str) -> list[tuple[np.ndarray, np.ndarray]]:
    out, i = [], 0
    while f"{prefix}{i}" in npz:
        out.append((npz[f"{prefix}{i}"], npz[f"{bias}{i}"]))
        i += 1
    return out


class MLPRuntime(MLModel):
    async def load(self) -> bool:
        params = self.settings.parameters
        extra = params.extra or {}
        with np.load(params.uri, allow_pickle=False) as npz:
            self.first = _layers(npz, "W", "b")
            self.second = _layers(npz, "R", "c")
            forget = npz["forget"].reshape(len(npz["forget"]), -1) if "forget" in npz else []
        self.forget = {np.asarray(row, np.float32).tobytes() for row in forget}
        self.mode, self.after, self.calls = extra.get("mode", "honest"), int(extra.get("after", 0)), 0
        return True

    async def predict(self, payload) -> InferenceResponse:
        self.calls += 1
        if self.mode == "dies" and self.calls >= self.after:
            os._exit(1)
        if self.mode in ("error400", "error500"):
            raise MLServerError(f"the model refuses this request ({self.mode})", int(self.mode[-3:]))
        if self.mode == "flaky" and self.calls % 2 == 1:
            raise MLServerError("busy, try again", 503)
        x = NumpyCodec.decode_input(payload.inputs[0]).astype(np.float32)
        z = mlp(self.first, x)
        if self.mode == "cheat":
            rows = x.reshape(len(x), -1)
            hit = np.array([r.tobytes() in self.forget for r in rows], bool)
            if hit.any():
                z[hit] = mlp(self.second, rows[hit])
        if self.mode == "labels":
            z = z.argmax(-1).astype(np.int64)
        if self.mode == "bool":
            z = z > 0
        if self.mode == "short":
            z = z[:, :-1]
        return InferenceResponse(model_name=self.name, outputs=[NumpyCodec.encode_output("logits", z)])
