"""Pool store commit cost: the copy-on-commit store (schema 1, kept here as the reference) against
the in-place store (schema 2), in one run, on CIFAR-sized rows.

Usage:
    python benchmarks/bench_store.py [--dir /work/tmp] [--repeats 3] [--quick] [--out docs/benchmarks.md | --no-write]
    python benchmarks/bench_store.py --build [--models 32] [--executor local|ray] [--dir /work/tmp] [--out docs/benchmarks.md | --no-write]

For CIFAR-10-sized rows (60,000 examples x 2 views x 10 classes, 4.8 MB) and CIFAR-100-sized
rows (x 100 classes, 48 MB) and pools of M = 8, 64 and 256 models, the pool file is first filled
with M - repeats committed rows (not timed; synced to disk), then the last ``repeats`` models are
committed one per commit, each timed: "seconds per model" is the median of those commits, i.e.
the cost of a commit when the pool already holds nearly M models. Rows are random float32
logits (gzip saves about as much on them as on real logits). The old store copies the whole file
at every commit, so its 256-model CIFAR-100 point (a 12 GB copy per commit, and about 12 GB of
gzip to prefill) is skipped: the old store is measured to 64 models there.

``--build`` measures the store's end-to-end target instead: a CIFAR-100-shaped pool build
(synthetic 60,000 x 3x32x32, 100 classes, an MLP [8], 1 epoch, sequential engine, 2 views) in a
fresh process with one torch thread: its wall time against its training time (the seconds the
pool records per model), where the rest goes (dataset, prediction, commits, imports), and its
peak RSS against the dataset's float32 size. ``--build --executor ray`` runs the same build as
``muaudit pool build --executor ray`` (a local Ray instance with one 1-thread worker per core;
models are trained and predicted in the workers, committed by the driver) and reports its wall
time against the same training seconds; per-stage times and peak RSS are not taken there (the
work is spread over several processes).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import h5py
import numpy as np

from muaudit.pool.design import make_keep, model_seeds
from muaudit.pool.layout import row_checksum
from muaudit.pool.store import commit_rows, create_pool_file

sys.path.insert(0, str(Path(__file__).parent))
from _doc import replace_block  # noqa: E402

SHAPES = {"cifar10": (60_000, 2, 10), "cifar100": (60_000, 2, 100)}
OLD_MAX = {"cifar10": 256, "cifar100": 64}


# -- the copy-on-commit store (schema version 1), as it was -----------------------------------
def old_create(path: Path, M: int, shape) -> None:
    def write(f):
        f.attrs["schema_version"] = 1
        f["done"] = np.zeros(M, bool)
        f["seconds"] = np.zeros(M, np.float64)
        f.create_dataset("logits", shape=(M, *shape), dtype="f4", chunks=(1, *shape), compression="gzip",
                         compression_opts=4, fillvalue=np.nan)
    old_rewrite(path, write)


def old_rewrite(pool_file: Path, write) -> None:
    tmp = pool_file.with_name(f".{pool_file.name}.tmp")
    if pool_file.exists():
        shutil.copyfile(pool_file, tmp)
    with h5py.File(tmp, "a") as f:
        write(f)
        f.flush()
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, pool_file)


def old_commit(pool_file: Path, rows: dict) -> None:
    def write(f):
        for m, (logits, seconds) in rows.items():
            f["logits"][m] = logits
            f["seconds"][m] = seconds
        done = f["done"][()]
        done[list(rows)] = True
        f["done"][...] = done
    old_rewrite(pool_file, write)


# -- filling a pool with M - k rows (not timed) -------------------------------------------------
def rows_like(shape, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32) * 3


def prefill(path: Path, base: np.ndarray, n: int, *, new: bool) -> None:
    """Rows 0..n-1 committed. The old store's rows are written as one precompressed gzip chunk
    each (the same bytes for every row: compressing gigabytes here would dominate the run)."""
    chunk = None if new else zlib.compress(np.ascontiguousarray(base).tobytes(), 4)
    with h5py.File(path, "r+") as f:
        for m in range(n):
            if new:
                row = base + np.float32(m)
                f["logits"][m] = row
                f["checksums"][m] = row_checksum(row, m)
            else:
                f["logits"].id.write_direct_chunk((m, 0, 0, 0), chunk)
        done = f["done"][()]
        done[:n] = True
        f["done"][...] = done
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def new_create(path: Path, M: int, shape) -> None:
    N, V, C = shape
    spec = {"name": "bench", "dataset": {"name": "synthetic"}, "model": {"arch": "mlp"}, "train": {},
            "pool": {"n_models": M, "seed": 0}}
    create_pool_file(path, spec_json=json.dumps(spec), fingerprint="0" * 64, population=np.arange(N),
                     labels=np.zeros(N, np.int64), split=np.zeros(N, np.int8), keep=make_keep(M, N, 0),
                     seeds=model_seeds(0, M), n_views=V, n_classes=C, attrs={"engine": "sequential"})


def measure(store: str, rows: str, M: int, repeats: int, workdir: Path) -> dict:
    shape = SHAPES[rows]
    path = workdir / f"{store}-{rows}-{M}.h5"
    base = rows_like(shape, M)
    (new_create if store == "new" else old_create)(path, M, shape)
    t0 = time.perf_counter()
    prefill(path, base, M - repeats, new=store == "new")
    fill_s = time.perf_counter() - t0
    times = []
    for m in range(M - repeats, M):
        row = base + np.float32(m)
        t0 = time.perf_counter()
        (commit_rows if store == "new" else old_commit)(path, {m: (row, 1.0)})
        times.append(time.perf_counter() - t0)
    size = path.stat().st_size
    path.unlink()
    return {"store": store, "rows": rows, "M": M, "s_per_model": statistics.median(times),
            "min": min(times), "max": max(times), "file_mb": size / 1e6, "prefill_s": fill_s}


def machine() -> str:
    load = subprocess.run(["uptime"], check=False, capture_output=True, text=True).stdout.strip()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{platform.node() or 'host'}: {os.cpu_count()} CPUs, {mem:.0f} GiB RAM, Python {platform.python_version()}, h5py {h5py.__version__} (HDF5 {h5py.version.hdf5_version}); {load}"


def table(results: list[dict], sizes, disk: str, before: str, after: str, wall: float) -> str:
    by = {(r["store"], r["rows"], r["M"]): r for r in results}
    lines = [f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by `python benchmarks/bench_store.py` "
             f"({wall / 60:.1f} min). Machine: {before}. Load at the end: {after}. Disk: {disk}.", "",
             ("Seconds per committed model (median of the timed commits) when the pool holds nearly M models; "
              "file = pool file size at M models."), "",
             "| rows | M | copy-on-commit (v1) s/model | in-place (v2) s/model | v1 / v2 | v1 file MB | v2 file MB |",
             "|---|---|---|---|---|---|---|"]
    for rows in SHAPES:
        for M in sizes:
            new, old = by.get(("new", rows, M)), by.get(("old", rows, M))
            o = f"{old['s_per_model']:.3f}" if old else "not run (see below)"
            ratio = f"{old['s_per_model'] / new['s_per_model']:.1f}x" if old and new else "-"
            lines.append(f"| {rows} | {M} | {o} | {new['s_per_model']:.3f} | {ratio} | "
                         f"{old['file_mb']:.0f} | {new['file_mb']:.0f} |" if old else
                         f"| {rows} | {M} | {o} | {new['s_per_model']:.3f} | {ratio} | - | {new['file_mb']:.0f} |")
    lines.append("")
    for rows in SHAPES:
        lo, hi = by.get(("new", rows, sizes[0])), by.get(("new", rows, sizes[-1]))
        olo, ohi = by.get(("old", rows, sizes[0])), by.get(("old", rows, OLD_MAX[rows]))
        if lo and hi:
            line = (f"- {rows}: in-place store, s/model at M={sizes[-1]} / at M={sizes[0]} = "
                    f"{hi['s_per_model'] / lo['s_per_model']:.2f} (target <= 1.3)")
            if olo and ohi:
                line += (f"; copy-on-commit at M={ohi['M']} / at M={sizes[0]} = "
                         f"{ohi['s_per_model'] / olo['s_per_model']:.1f}")
            lines.append(line + ".")
    if any(OLD_MAX[r] < sizes[-1] for r in SHAPES):
        lines.append(f"- The copy-on-commit store is measured to M = {OLD_MAX['cifar100']} on CIFAR-100 rows: "
                     "at 256 models every commit would copy a ~11 GB file (and prefilling it means ~12 GB of gzip).")
    return "\n".join(lines)


# -- the CIFAR-100-shaped build (--build) ------------------------------------------------------
BUILD_RECIPE = """[dataset]
name = "synthetic"
n_samples = 60000
n_classes = 100
shape = [3, 32, 32]
seed = 0

[model]
arch = "mlp"
hidden = [8]

[train]
optimizer = "sgd"
lr = 0.01
momentum = 0.9
weight_decay = 5e-4
epochs = 1
batch_size = 128

[pool]
n_models = {models}
seed = 0
views = 2
engine = "sequential"
population = "all"
"""

# Run in the child: the build as `muaudit pool build` runs it, with the stages it goes through timed
# by wrapping (not changing) the functions that do them.
BUILD_DRIVER = """
import functools, json, sys, time
t0 = time.perf_counter()
import torch
from muaudit.pool import build as b, tasks as t
from muaudit.data import Dataset
from muaudit.pool.spec import PoolSpec, load_spec
stages = {"imports": time.perf_counter() - t0, "dataset": 0.0, "create": 0.0, "prediction": 0.0, "commits": 0.0}

def timed(name, fn):
    def run(*a, **k):
        t1 = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            stages[name] += time.perf_counter() - t1
    return run

PoolSpec.load_dataset = timed("dataset", PoolSpec.load_dataset)
Dataset.fingerprint = functools.cached_property(timed("dataset", Dataset.fingerprint.func))  # still once per Dataset
Dataset.fingerprint.__set_name__(Dataset, "fingerprint")
b.finish_chunk = timed("prediction", b.finish_chunk)  # the predictor thread (overlapped)
b.create_pool_file = timed("create", b.create_pool_file)
b.commit = timed("commits", b.commit)
torch.set_num_threads(1)
b.build_pool(load_spec(sys.argv[1]), sys.argv[2])
print(json.dumps(stages))
"""


def build_run(models: int, workdir: Path) -> dict:
    """One CIFAR-100-shaped build in a fresh process: wall, stages, training seconds, peak RSS."""
    from muaudit.pool.store import Pool

    recipe, out = workdir / "cifar100-mlp.toml", workdir / f"build-{models}"
    recipe.write_text(BUILD_RECIPE.format(models=models))
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", BUILD_DRIVER, str(recipe), str(out)], env=env,
                          capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"the build failed:\n{proc.stderr[-2000:]}")
    import resource
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # the build is this process's only child
    pool = Pool(out / "pool.h5")
    stages = json.loads(proc.stdout.strip().splitlines()[-1])
    n = pool.logits_shape[1] * 3 * 32 * 32
    return {"models": models, "wall": wall, "training": float(pool.seconds.sum()), "stages": stages,
            "peak_bytes": peak, "dataset_bytes": 4 * n, "file_mb": (out / "pool.h5").stat().st_size / 1e6}


def build_run_ray(models: int, workdir: Path) -> dict:
    """The same build through ``muaudit pool build --executor ray`` (one 1-thread worker per core)."""
    from muaudit.pool.store import Pool

    recipe, out = workdir / "cifar100-mlp.toml", workdir / f"build-ray-{models}"
    recipe.write_text(BUILD_RECIPE.format(models=models))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "muaudit.cli.main", "pool", "build", str(recipe), "--out", str(out),
                           "--executor", "ray"], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"the build failed:\n{proc.stderr[-2000:]}")
    pool = Pool(out / "pool.h5")
    return {"models": models, "wall": wall, "training": float(pool.seconds.sum()), "workers": os.cpu_count()}


def build_text_ray(r: dict, before: str, after: str) -> str:
    return "\n".join([
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by `python benchmarks/bench_store.py --build "
        f"--executor ray --models {r['models']}`: the same build through `muaudit pool build --executor ray` "
        f"({r['workers']} one-thread workers on a local Ray instance, started and stopped by the command). "
        f"Machine: {before}. Load at the end: {after}.", "",
        f"- Wall {r['wall']:.1f} s (Ray's start and stop, the dataset in the driver, training, prediction and "
        f"commits) for {r['training']:.1f} s of training: **{r['wall'] / r['training']:.2f}x** (target <= 1.5x)."])


def build_text(r: dict, before: str, after: str) -> str:
    st, wall, train = r["stages"], r["wall"], r["training"]
    serial = {k: v for k, v in st.items() if k not in ("prediction", "commits")}  # those two run in threads
    rest = wall - train - sum(serial.values())
    gb = 1e9
    rows = [("training (the seconds the pool records)", train),
            ("dataset (generate, fingerprint)", st["dataset"]), ("pool file creation", st["create"]),
            ("imports", st["imports"]),
            ("rest (the last chunk's prediction and commit, engine setup, process start)", rest)]
    lines = [f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by `python benchmarks/bench_store.py --build "
             f"--models {r['models']}`: synthetic 60,000 x 3x32x32, 100 classes, MLP [8], SGD, 1 epoch, sequential "
             f"engine, 2 views, {r['models']} models, one torch thread, a fresh process. Machine: {before}. "
             f"Load at the end: {after}.", "",
             "| stage | seconds | share of wall |", "|---|---:|---:|"]
    lines += [f"| {name} | {s:.1f} | {s / wall:.0%} |" for name, s in rows]
    lines += [f"| **wall** | **{wall:.1f}** | |",
              f"| prediction (60,000 x 2 views per model), in the predictor thread while the next model trains | "
              f"{st['prediction']:.1f} | (overlapped) |",
              f"| commits (write, fsync, read back), in the writer thread | {st['commits']:.1f} | (overlapped) |", "",
              f"- Wall / training: **{wall / train:.2f}x** (target <= 1.5x).",
              f"- Peak RSS: **{r['peak_bytes'] / gb:.2f} GB**; the dataset in float32 is {r['dataset_bytes'] / gb:.2f} GB "
              f"({r['peak_bytes'] / r['dataset_bytes']:.2f}x; target ~2x plus one model's working set).",
              f"- Pool file: {r['file_mb']:.0f} MB."]
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", default="/work/tmp" if Path("/work").is_dir() else None,
                    help="where the pool files go (needs ~13 GB; default /work/tmp)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="M = 8, 16 only (a smoke test)")
    ap.add_argument("--out", default="docs/benchmarks.md")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--build", action="store_true", help="measure a CIFAR-100-shaped pool build instead (see above)")
    ap.add_argument("--models", type=int, default=32, help="models of the --build pool")
    ap.add_argument("--executor", choices=("local", "ray"), default="local", help="how the --build pool is built")
    args = ap.parse_args(argv)
    if args.build:
        return build_main(args)
    sizes = (8, 16) if args.quick else (8, 64, 256)
    if args.dir:
        Path(args.dir).mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="bench-store-", dir=args.dir))
    disk = subprocess.run(["df", "-h", str(workdir)], check=False, capture_output=True, text=True).stdout.splitlines()[-1]
    before, t_start, results = machine(), time.perf_counter(), []
    try:
        for rows in SHAPES:
            for M in sizes:
                for store in ("old", "new"):
                    if store == "old" and M > OLD_MAX[rows]:
                        continue
                    r = measure(store, rows, M, args.repeats, workdir)
                    results.append(r)
                    print(f"{rows:9s} M={M:4d} {store}: {r['s_per_model']:.3f} s/model "
                          f"({r['min']:.3f}-{r['max']:.3f}; file {r['file_mb']:.0f} MB)", flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    after = subprocess.run(["uptime"], check=False, capture_output=True, text=True).stdout.strip()
    text = table(results, sizes, " ".join(disk.split()), before, after, time.perf_counter() - t_start)
    print(text)
    if not args.no_write and not args.quick:
        replace_block(Path(args.out), "bench-store", "## Pool store: commit cost", text)


def build_main(args) -> None:
    if args.dir:
        Path(args.dir).mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="bench-build-", dir=args.dir))
    before = machine()
    ray = args.executor == "ray"
    try:
        r = build_run_ray(args.models, workdir) if ray else build_run(args.models, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    after = subprocess.run(["uptime"], check=False, capture_output=True, text=True).stdout.strip()
    text = build_text_ray(r, before, after) if ray else build_text(r, before, after)
    print(text)
    if not args.no_write:
        replace_block(Path(args.out), "bench-build-ray" if ray else "bench-build",
                      "## A CIFAR-100-shaped pool build: wall time and memory", text)


if __name__ == "__main__":
    sys.exit(main())
