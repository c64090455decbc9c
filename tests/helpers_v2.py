"""A real inference server for the endpoint tests: MLServer on 127.0.0.1, serving numpy MLPs
(:mod:`helpers_v2_runtime`) over the Open Inference Protocol (v2 REST)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import requests
from torch import nn

HERE = Path(__file__).resolve().parent
FLAT = [{"name": "x", "datatype": "FP32", "shape": [-1, 64]}]
LOGITS = [{"name": "logits", "datatype": "FP32", "shape": [-1, 10]}]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mlp_arrays(model: nn.Module, prefix: str = "W", bias: str = "b") -> dict:
    """The Linear layers of ``model`` as ``{prefix}i`` / ``{bias}i`` arrays (for :mod:`helpers_v2_runtime`)."""
    linear = [m for m in model.modules() if isinstance(m, nn.Linear)]
    out = {}
    for i, m in enumerate(linear):
        out[f"{prefix}{i}"] = m.weight.detach().cpu().numpy().astype(np.float32)
        out[f"{bias}{i}"] = m.bias.detach().cpu().numpy().astype(np.float32)
    return out


def add_model(repo: Path, name: str, arrays: dict, *, mode: str = "honest", inputs=FLAT, outputs=LOGITS,
              **extra) -> None:
    """A model folder ``repo/name`` served by :class:`helpers_v2_runtime.MLPRuntime`."""
    d = repo / name
    d.mkdir(parents=True)
    np.savez(d / "model.npz", **arrays)
    settings = {"name": name, "implementation": "helpers_v2_runtime.MLPRuntime",
                "parameters": {"uri": str(d / "model.npz"), "extra": {"mode": mode, **extra}}}
    if inputs is not None:
        settings["inputs"] = inputs
    if outputs is not None:
        settings["outputs"] = outputs
    (d / "model-settings.json").write_text(json.dumps(settings))


@contextmanager
def mlserver(repo: Path, *, start_timeout: float = 90.0):
    """Serve the model folders under ``repo``; yields ``http://127.0.0.1:PORT``; stopped on exit."""
    http, grpc, metrics = free_port(), free_port(), free_port()
    (repo / "settings.json").write_text(json.dumps({
        "host": "127.0.0.1", "http_port": http, "grpc_port": grpc, "metrics_port": metrics,
        "metrics_endpoint": None, "parallel_workers": 0, "debug": False, "load_models_at_startup": True,
        "environments_dir": str(repo / ".envs"), "metrics_dir": str(repo / ".metrics")}))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    log = open(repo / "server.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "mlserver.cli.main", "start", str(repo)], cwd=repo, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{http}"
    try:
        names = [f.parent.name for f in repo.glob("*/model-settings.json")]
        _wait_ready(proc, [f"{base}/v2/models/{n}/ready" for n in names], start_timeout, repo / "server.log")
        yield base
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


def _wait_ready(proc, addresses: list[str], timeout: float, log: Path) -> None:
    """Until every model answers ready (a model that fails to load stops the server: an error here)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"MLServer exited ({proc.returncode}):\n{log.read_text()[-2000:]}")
        try:
            if all(requests.get(a, timeout=1).status_code == 200 for a in addresses):
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"MLServer not ready after {timeout} s:\n{log.read_text()[-2000:]}")
