"""Target file formats beyond muaudit's own: ONNX (run with onnxruntime) and safetensors.

Neither is unpickled: an ONNX file is a protobuf graph run by onnxruntime (with its built-in
operators only), a safetensors file a JSON header and raw tensor bytes.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING
from pathlib import Path

import numpy as np

from muaudit.errors import CheckpointError
from muaudit.targets.outputs import OTHER, SCORES, ZIPMAP, TensorInfo, choose_output
from muaudit.targets.runner import ModelCallError, describe_error

if TYPE_CHECKING:
    import torch

ONNX_HINT = "install the optional extra: pip install 'muaudit[onnx]'"


def detect_format(path: Path) -> str:
    """``logits`` (.npy), ``onnx`` (.onnx), ``safetensors`` (by its header) or ``torch``."""
    if path.suffix == ".npy":
        return "logits"
    if path.suffix == ".onnx":
        return "onnx"
    if path.suffix == ".safetensors" or _looks_like_safetensors(path):
        return "safetensors"
    return "torch"


def _looks_like_safetensors(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(9)
    except OSError:
        return False
    if len(head) < 9:
        return False
    (n,) = struct.unpack("<Q", head[:8])
    return 2 <= n <= path.stat().st_size - 8 and head[8:9] == b"{"


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file (a state_dict); never unpickles."""
    try:
        from safetensors.torch import load_file
    except ImportError:  # pragma: no cover - safetensors is a core dependency
        raise CheckpointError("reading safetensors needs the safetensors package: pip install safetensors") from None
    try:
        state = load_file(str(path), device="cpu")
    except Exception as e:  # SafetensorError, OSError, json errors: all mean "not a readable file"
        raise CheckpointError(f"{path} is not a readable safetensors file ({describe_error(e)})") from None
    if not state:
        raise CheckpointError(f"{path} holds no tensors")
    return state


class OnnxRunner:
    """An onnxruntime session with one float input; calls return the class-score output (``output``
    by name, else the only output, else the one of shape ``[N, n_classes]``: see
    :func:`~muaudit.targets.outputs.choose_output`). A ZipMap output (skl2onnx's default: one
    ``{class: probability}`` map per row) is read as ``[N, C]`` when its classes are 0..C-1."""

    framework = "onnx"

    def __init__(self, path: Path, device: torch.device, *, output: str | None = None, n_classes: int | None = None):
        try:
            import onnxruntime as ort
        except ImportError:
            raise CheckpointError(f"{path} is an ONNX model; running it needs onnxruntime: {ONNX_HINT}") from None
        ort.set_default_logger_severity(4)  # fatal only: its errors become our one Error: line
        self.provider = "CPUExecutionProvider"
        if device.type == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
            self.provider = "CUDAExecutionProvider"
        options = ort.SessionOptions()
        import torch

        options.intra_op_num_threads = max(1, torch.get_num_threads())
        options.log_severity_level = 4
        try:
            self.session = ort.InferenceSession(str(path), options, providers=[self.provider])
        except Exception as e:  # onnxruntime raises its own classes for every bad file
            raise CheckpointError(f"{path} is not a loadable ONNX model ({describe_error(e)})") from None
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise CheckpointError(f"{path}: expected an ONNX model with one input, got {len(inputs)} "
                                  f"({', '.join(i.name for i in inputs)})")
        self.input = inputs[0]
        self.dtype = np.float64 if self.input.type == "tensor(double)" else np.float32
        if self.input.type not in ("tensor(float)", "tensor(double)"):
            raise CheckpointError(f"{path}: expected a float input, got {self.input.type} ({self.input.name})")
        self.n_params, self.layer_kinds = _onnx_structure(path)
        self.outputs = [_output_info(o) for o in self.session.get_outputs()]
        self.output, self.output_choice = choose_output(self.outputs, requested=output, n_classes=n_classes,
                                                        source=path)
        if self.output.kind == ZIPMAP and not self.output.type.startswith("seq(map(int64,"):
            raise CheckpointError(f"{path}: output {self.output} maps class labels that are not integers; "
                                  f"re-export it without ZipMap (skl2onnx: options={{id(model): {{'zipmap': False}}}})")
        self.path = path

    def describe(self) -> dict:
        """What ``results.json`` records: the output read, how it was chosen, every output."""
        return {"output": self.output.name, "output_choice": self.output_choice,
                "model_outputs": [o.to_dict() for o in self.outputs]}

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Outputs on ``x``; a graph exported with a fixed batch size gets its batches that size
        (the last one padded with zeros, its outputs dropped)."""
        x = np.asarray(x, self.dtype)
        fixed = self.input.shape[0] if self.input.shape and isinstance(self.input.shape[0], int) else None
        if not fixed or fixed == len(x):
            return self._run(x)
        out = []
        for s in range(0, len(x), fixed):
            xb = x[s:s + fixed]
            pad = np.zeros((fixed - len(xb),) + xb.shape[1:], self.dtype)
            out.append(self._run(np.concatenate([xb, pad]))[:len(xb)])
        return np.concatenate(out)

    def _run(self, x: np.ndarray) -> np.ndarray:
        try:
            out = self.session.run([self.output.name], {self.input.name: x})[0]
        except Exception as e:  # shape or type errors inside the graph
            raise ModelCallError(describe_error(e)) from None
        if self.output.kind == ZIPMAP:
            return _zipmap_scores(out, self.path, self.output.name)
        try:
            return np.asarray(out, np.float32)
        except (TypeError, ValueError):
            raise ModelCallError(f"output {self.output.name!r} is not numeric") from None


def _output_info(o) -> TensorInfo:
    """An onnxruntime output as an :class:`TensorInfo` (symbolic dimensions become None)."""
    if o.type.startswith("seq(map("):
        return TensorInfo(o.name, ZIPMAP, None, o.type)
    kind = SCORES if o.type in ("tensor(float)", "tensor(double)", "tensor(float16)") else OTHER
    shape = None if o.shape is None else tuple(d if isinstance(d, int) and d > 0 else None for d in o.shape)
    return TensorInfo(o.name, kind, shape, o.type)


def _zipmap_scores(rows, path, name) -> np.ndarray:
    """A ZipMap's ``[{class: probability}, ...]`` as ``[N, C]``, columns in class order 0..C-1."""
    keys = sorted(rows[0]) if isinstance(rows, list) and rows and isinstance(rows[0], dict) else []
    if not keys or [int(k) for k in keys] != list(range(len(keys))):
        shown = ", ".join(str(k) for k in keys[:4]) + (", ..." if len(keys) > 4 else "")
        raise CheckpointError(f"{path}: output {name!r} (a ZipMap) maps classes [{shown}], not 0..C-1; re-export "
                              "it without ZipMap (skl2onnx: options={id(model): {'zipmap': False}})")
    try:
        return np.array([[row[k] for k in keys] for row in rows], np.float32)
    except (KeyError, TypeError, ValueError):
        raise ModelCallError(f"output {name!r} (a ZipMap) has rows with other classes") from None


ONNX_KINDS = {"Conv": "conv", "ConvTranspose": "conv", "Gemm": "linear", "MatMul": "linear",
              "BatchNormalization": "norm", "LayerNormalization": "norm", "GroupNormalization": "norm",
              "LSTM": "recurrent", "GRU": "recurrent", "RNN": "recurrent", "Attention": "attention"}


def _onnx_structure(path: Path) -> tuple[int | None, list[str] | None]:
    """Number of weights (initializer elements) and layer kinds, when ``onnx`` is there to read them."""
    try:
        import onnx

        graph = onnx.load(str(path), load_external_data=False).graph
        n = int(sum(int(np.prod(t.dims)) for t in graph.initializer))
        return n, sorted({ONNX_KINDS[node.op_type] for node in graph.node if node.op_type in ONNX_KINDS})
    except Exception:  # noqa: BLE001 - onnx missing or an unusual file: unknown
        return None, None
