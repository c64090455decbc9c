"""Pool-build training throughput: muaudit's engines against a plain PyTorch loop, in one run.

Usage:
    python benchmarks/bench_training.py [--threads 2,1] [--repeats 5] [--budget 150] [--quick]
                                        [--out docs/benchmarks.md | --no-write]

For each workload (a digits MLP pool and a small conv-net pool) it times three ways of training
the same models on the same rows with the same recipe:

(a) ``plain``: one model at a time, ``nn.Module`` + ``torch.optim`` + index batching (written here);
(b) ``sequential``: muaudit's sequential engine;
(c) ``ensemble``: muaudit's batched-ensemble engine (``baddbmm`` stack for MLPs, ``vmap`` otherwise).

Throughput is **sample-gradients per second** (samples through forward + backward, summed over
models). Every measurement runs in a forked child process after a 1-step warm-up, so each gets its
own peak RSS (``ru_maxrss``, also reported as growth over the child's starting RSS). The ways are
interleaved round by round, so load from other processes hits them alike; the table reports the
median over rounds (and min - max). The machine's sgemm rate (``torch.mm``, 2048x2048 float32) is
measured in every round at the same thread count; achieved FLOP rates count 6 x MACs per
sample-gradient (forward + backward of the conv and linear layers).

Unless ``OMP_WAIT_POLICY`` is already set, the script restarts itself with
``OMP_WAIT_POLICY=PASSIVE``: on a shared machine, OpenMP threads that spin-wait for a descheduled
partner make 2-thread timings of small ops 10x slower and meaningless. Set
``OMP_WAIT_POLICY=ACTIVE`` to measure the spinning default on an idle machine.
"""

from __future__ import annotations

import argparse
import math
import os
import pickle
import platform
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from muaudit.data import load_dataset
from muaudit.models import build_model
from muaudit.training import TrainRecipe, train_models

ENGINES = ("plain", "sequential", "ensemble")


@dataclass
class Workload:
    name: str
    arch: str
    arch_kwargs: dict
    X: np.ndarray
    y: np.ndarray
    rows: list
    recipe: TrainRecipe
    ensemble_size: int
    results: dict = field(default_factory=dict)  # (threads, engine) -> [measurement]

    @property
    def sample_gradients(self) -> int:
        return sum(len(r) for r in self.rows) * self.recipe.epochs

    def make(self, seed: int):
        return build_model(self.arch, self.X.shape[1:], int(self.y.max()) + 1, random_state=seed, **self.arch_kwargs)


# --- the three ways ---------------------------------------------------------------------------------

def train_plain(w: Workload, X: torch.Tensor, y: torch.Tensor, all_rows: list) -> None:
    """(a) One model at a time: nn.Module, torch.optim, a fresh permutation per epoch, index batching."""
    r = w.recipe
    for m, rows in enumerate(all_rows):
        model = w.make(m).train()
        if r.optimizer == "sgd":
            opt = torch.optim.SGD(model.parameters(), lr=r.lr, momentum=r.momentum, weight_decay=r.weight_decay)
        else:
            opt = torch.optim.Adam(model.parameters(), lr=r.lr, weight_decay=r.weight_decay)
        rows_t = torch.as_tensor(rows)
        gen = torch.Generator().manual_seed(m)
        for _ in range(r.epochs):
            perm = rows_t[torch.randperm(len(rows_t), generator=gen)]
            for s in range(0, len(perm), r.batch_size):
                idx = perm[s:s + r.batch_size]
                loss = F.cross_entropy(model(X[idx]), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()


def train_engine(w: Workload, X: torch.Tensor, y: torch.Tensor, all_rows: list, engine: str) -> None:
    """(b) / (c) muaudit's engines, exactly as a pool build calls them."""
    seeds = list(range(len(all_rows)))
    for _ in train_models(w.make, X, y, all_rows, seeds, w.recipe, engine=engine, ensemble_size=w.ensemble_size):
        pass


def run_once(w: Workload, engine: str) -> dict:
    """Warm up (one step of every model, same shapes), then time one full pool training."""
    base_rss = _current_rss_mb()
    X, y = torch.from_numpy(w.X), torch.from_numpy(w.y)
    if engine == "plain":
        train = lambda rows: train_plain(w, X, y, rows)  # noqa: E731
    else:
        train = lambda rows: train_engine(w, X, y, rows, engine)  # noqa: E731
    train([r[:w.recipe.batch_size] for r in w.rows])
    t0, cpu0 = time.perf_counter(), _cpu_seconds()
    train(w.rows)
    seconds, cpu = time.perf_counter() - t0, _cpu_seconds() - cpu0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "rate": w.sample_gradients / seconds, "cpu_rate": w.sample_gradients / cpu,
            "peak_mb": peak, "extra_mb": peak - base_rss}


def _cpu_seconds() -> float:
    """CPU time of this process, all threads (user + system)."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def sgemm_gflops(n: int = 2048, reps: int = 3) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - t0)
    return 2 * n ** 3 / statistics.median(times) / 1e9


# --- process isolation -----------------------------------------------------------------------------

def in_child(threads: int, fn, *args):
    """Run ``fn(*args)`` with ``threads`` threads in a forked child (fresh peak-RSS counter).

    The parent never runs a parallel torch op, so no OpenMP pool exists at fork time.
    """
    r, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(r)
        try:
            torch.set_num_threads(threads)
            payload = ("ok", fn(*args))
        except BaseException as e:  # noqa: BLE001 - report anything to the parent
            payload = ("error", f"{type(e).__name__}: {e}")
        with os.fdopen(wfd, "wb") as f:
            f.write(pickle.dumps(payload))
        os._exit(0)
    os.close(wfd)
    with os.fdopen(r, "rb") as f:
        status, value = pickle.loads(f.read())
    os.waitpid(pid, 0)
    if status != "ok":
        raise RuntimeError(value)
    return value


def preload_imports() -> None:
    """Import what ``torch.optim`` loads lazily (about 70 MB) before forking, so that it does not
    count as one way's memory. Single-element ops run inline: no OpenMP pool is started."""
    p = torch.nn.Parameter(torch.zeros(1))
    p.grad = torch.zeros(1)
    for opt in (torch.optim.SGD([p], lr=0.1, momentum=0.9), torch.optim.Adam([p])):
        opt.step()


def _current_rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def macs_per_sample(w: Workload) -> int:
    """Multiply-accumulates of one forward pass (conv and linear layers), counted with hooks."""
    model, total = w.make(0), [0]

    def hook(mod, inp, out):
        if isinstance(mod, torch.nn.Conv2d):
            total[0] += out[0].numel() * mod.in_channels // mod.groups * math.prod(mod.kernel_size)
        elif isinstance(mod, torch.nn.Linear):
            total[0] += mod.in_features * mod.out_features

    for mod in model.modules():
        mod.register_forward_hook(hook)
    with torch.no_grad():
        model(torch.from_numpy(w.X[:1]))
    return total[0]


# --- workloads and rounds ---------------------------------------------------------------------------

def halves(n_models: int, population: np.ndarray, seed: int) -> list:
    """Balanced random halves, as in a pool's keep matrix: each example IN for half the models."""
    u = np.random.default_rng(seed).random((n_models, len(population)))
    keep = np.argsort(u, axis=0) < n_models // 2
    return [population[k] for k in keep]


def workloads(quick: bool) -> list:
    digits = load_dataset("digits")
    mlp_recipe = TrainRecipe(optimizer="adam", lr=1e-3, weight_decay=0.0, epochs=1 if quick else 20, batch_size=128)
    syn = load_dataset("synthetic", n_samples=256 if quick else 512, shape=[3, 32, 32], seed=0)
    cnn_recipe = TrainRecipe(optimizer="sgd", lr=0.05, momentum=0.9, weight_decay=5e-4, epochs=1, batch_size=128)
    return [
        Workload("digits MLP [512], 16 models", "mlp", {"hidden": [512]}, digits.X, digits.y,
                 halves(16, np.arange(len(digits.y)), 0), mlp_recipe, 16),
        Workload("cnn [32, 64] on 32x32x3, 4 models", "cnn", {"channels": [32, 64], "hidden": 128}, syn.X, syn.y,
                 halves(4, np.arange(len(syn.y)), 1), cnn_recipe, 4),
    ]


def measure(ws: list, threads: list, repeats: int, budget_s: float) -> dict:
    """Interleaved rounds (per thread count: sgemm, then every workload x way). Stops after
    ``repeats`` rounds, or earlier (but after 3) when another round would overrun ``budget_s``.
    Returns the sgemm GFLOP/s measurements per thread count."""
    sgemm, t0 = {t: [] for t in threads}, time.perf_counter()
    for r in range(repeats):
        t_round = time.perf_counter()
        for t in threads:
            sgemm[t].append(in_child(t, sgemm_gflops))
            for w in ws:
                for engine in ENGINES:
                    res = in_child(t, run_once, w, engine)
                    w.results.setdefault((t, engine), []).append(res)
                    print(f"round {r + 1}/{repeats} {t} thr  {w.name:<34} {engine:<10} "
                          f"{res['rate']:>10,.0f} sample-grad/s", flush=True)
        spent, last = time.perf_counter() - t0, time.perf_counter() - t_round
        if r + 1 >= 3 and spent + last > budget_s:
            print(f"stopping after {r + 1} rounds: time budget of {budget_s:.0f} s", flush=True)
            break
    return sgemm


# --- report -----------------------------------------------------------------------------------------

def machine() -> dict:
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model = next((ln.split(":", 1)[1].strip() for ln in lscpu.splitlines() if ln.startswith("Model name")), "?")
    return {"cpu": model, "cores": os.cpu_count(), "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version(), "omp": os.environ.get("OMP_WAIT_POLICY", "unset (default)")}


def table(ws: list, sgemm: dict) -> str:
    lines = ["| workload | threads | way | sample-grad/s: median (min - max) | vs plain: median (best) "
             "| GFLOP/s | of sgemm | per CPU-second | peak RSS MB (+ growth) |", "|---|---|---|---|---|---|---|---|---|"]
    for w in ws:
        flops = 6 * macs_per_sample(w)
        for t in sgemm:
            plain = [r["rate"] for r in w.results[(t, "plain")]]
            for engine in ENGINES:
                rs = w.results[(t, engine)]
                rates = [r["rate"] for r in rs]
                med, gf = statistics.median(rates), statistics.median(rates) * flops / 1e9
                lines.append(
                    f"| {w.name} | {t} | {engine} | {med:,.0f} ({min(rates):,.0f} - {max(rates):,.0f}) "
                    f"| {med / statistics.median(plain):.2f}x ({max(rates) / max(plain):.2f}x) | {gf:.1f} "
                    f"| {gf / max(sgemm[t]):.0%} | {statistics.median(r['cpu_rate'] for r in rs):,.0f} "
                    f"| {max(r['peak_mb'] for r in rs):.0f} "
                    f"(+{max(r['extra_mb'] for r in rs):.0f}) |")
    return "\n".join(lines)


START, END = "<!-- bench-training:start -->", "<!-- bench-training:end -->"
HEADING = "## Training throughput of shadow-model pools"


def write_doc(path: Path, md: str, ws: list, sgemm: dict, seconds: float, load: tuple) -> None:
    """Replace the block between this benchmark's markers in ``path`` (other sections are kept);
    without markers, append the section."""
    details = "\n".join(
        f"- **{w.name}**: `{w.arch}` {w.arch_kwargs}, {len(w.rows)} models on balanced random halves "
        f"({sum(len(r) for r in w.rows) // len(w.rows)} rows each), recipe {w.recipe.to_dict()}, "
        f"ensemble_size {w.ensemble_size}; {w.sample_gradients:,} sample-gradients per run, "
        f"{6 * macs_per_sample(w):,} FLOPs per sample-gradient." for w in ws)
    gemm = "; ".join(f"{t} thread{'s' * (t > 1)}: **{max(v):.0f} GFLOP/s** "
                     f"(rounds: {', '.join(f'{g:.0f}' for g in v)})" for t, v in sgemm.items())
    rounds = min(len(v) for v in sgemm.values())
    where = (f"load average {load[0]:.1f} when it started, {load[1]:.1f} when it ended")
    noise = (f"The machine was quiet during this run ({where}); these 2-core machines are shared, and a busier "
             "one gives lower and noisier figures." if max(load) < 2 else
             f"These 2-core machines are shared: other work ran on the same cores during this run ({where}), "
             "so every way got only part of the machine.")
    block = DOC.format(table=md, details=details, rounds=rounds, seconds=seconds, gemm=gemm, noise=noise,
                       **machine()).strip()
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if START in text and END in text:
        before, rest = text.split(START, 1)
        text = f"{before}{START}\n{block}\n{END}{rest.split(END, 1)[1]}"
    else:
        text = f"{text.rstrip()}\n\n{HEADING}\n\n{START}\n{block}\n{END}\n"
    path.write_text(text)


DOC = """
Produced by `python benchmarks/bench_training.py` in one run of {seconds:.0f} s on {cpu}, {cores} cores;
torch {torch}, numpy {numpy}, Python {python}; `OMP_WAIT_POLICY` {omp}.
sgemm (`torch.mm`, 2048x2048 float32) measured in every round of the same run, best round (the
machine's rate when least disturbed; "of sgemm" divides by it): {gemm}.

Throughput is sample-gradients per second (samples through forward and backward, summed over the
pool's models) for the same models, rows and recipe trained three ways: **plain** = a
one-model-at-a-time PyTorch loop written in the benchmark (`nn.Module`, `torch.optim`, index
batching); **sequential** = muaudit's sequential engine (`channels_last` for conv nets on CPU);
**ensemble** = muaudit's batched-ensemble engine (a `baddbmm` stack for MLPs, `torch.func.vmap`
otherwise). Each figure is the **median of {rounds} rounds**; every measurement ran in its own forked
process after a 1-step warm-up, and the three ways were interleaved round by round. "vs plain" is
the ratio of medians, and in brackets the ratio of the best runs. "per CPU-second" divides by the
CPU time the process used (all its threads): with 1 thread it is the rate the code would reach on
a core of its own, whatever else ran on the machine.

{table}

{details}

**Noise: read before quoting a number.** {noise} The figures are medians of interleaved rounds,
not peak rates; the spread is in brackets. With OpenMP's default
spin-waiting, a 2-thread run whose partner thread is descheduled slows down 10x or more (the plain
MLP loop, with the smallest ops, suffers most), which would flatter muaudit's ratios; the run
therefore used `OMP_WAIT_POLICY=PASSIVE`, which lets waiting threads sleep. The 1-thread rows only
time-share a core and are the steadier comparison; their "per CPU-second" column is close to what
each way reaches on a core of its own. Rerun on an idle machine before relying on absolute
figures.

**Memory.** Peak RSS is `ru_maxrss` of the measuring process, which includes the interpreter,
torch and the dataset; the growth over the process's RSS at the start of the measurement is in
brackets. The vmap ensemble of conv nets keeps K models' activations at once, which is why it is
both the largest and (on CPU) the slowest; `engine = "auto"` measures and picks the sequential
engine for conv nets here.
"""


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", default=f"{os.cpu_count()},1", help="comma-separated thread counts")
    p.add_argument("--repeats", type=int, default=5, help="rounds (at least 3 are run)")
    p.add_argument("--budget", type=float, default=150.0, help="seconds after which no new round starts")
    p.add_argument("--quick", action="store_true", help="smaller workloads (a smoke test)")
    p.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"))
    p.add_argument("--no-write", action="store_true")
    a = p.parse_args(argv)
    t0, load0 = time.perf_counter(), os.getloadavg()[0]
    ws = workloads(a.quick)
    preload_imports()
    sgemm = measure(ws, [int(t) for t in a.threads.split(",")], a.repeats, a.budget)
    md = table(ws, sgemm)
    print(f"\nsgemm GFLOP/s (best round): { {t: round(max(v)) for t, v in sgemm.items()} }\n{md}")
    if not a.no_write:
        write_doc(Path(a.out), md, ws, sgemm, time.perf_counter() - t0, (load0, os.getloadavg()[0]))
        print(f"wrote {a.out}")


if __name__ == "__main__":
    if "OMP_WAIT_POLICY" not in os.environ:  # see the module docstring; set it yourself to override
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
        os.execv(sys.executable, [sys.executable, *sys.argv])
    main()
