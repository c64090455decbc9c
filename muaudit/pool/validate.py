"""Validation of everything a pool file says before it is used (pool files are untrusted: they
are shared between people). Every failure is a one-line :class:`PoolError` naming the file."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import h5py
import numpy as np

from muaudit.errors import PoolError
from muaudit.pool.layout import CHECKSUM_BYTES, CONTENT_ATTR, READABLE_VERSIONS
from muaudit.training.views import MAX_VIEWS

REBUILD = "the file is damaged or was edited; rebuild it with `muaudit pool build RECIPE --out {dir}`"
_KINDS = {"b": "bool", "i": "integer", "u": "integer", "f": "float"}


def damaged(path, what: str) -> PoolError:
    return PoolError(f"pool {path}: {what}; {rebuild_advice(path)}")


def rebuild_advice(path) -> str:
    return REBUILD.format(dir=Path(path).parent)


def plain_attrs(obj) -> dict:
    return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in obj.attrs.items()}


def check_version(path, attrs: dict) -> int:
    version = attrs.get("schema_version")
    if version is None:
        raise PoolError(f"pool {path} has no schema_version attribute: it is not a muaudit pool, or it was "
                        f"edited; rebuild it with `muaudit pool build RECIPE --out {Path(path).parent}`")
    if not isinstance(version, (int, np.integer)) or isinstance(version, bool):
        raise damaged(path, f"schema_version is {type(version).__name__} {version!r}, expected an integer")
    if version not in READABLE_VERSIONS:
        raise PoolError(f"pool {path} has schema version {version}, this muaudit reads versions "
                        f"{', '.join(map(str, READABLE_VERSIONS))}; rebuild it with `muaudit pool build RECIPE "
                        f"--out {Path(path).parent}`")
    return int(version)


def check_layout(path, f, claimed: int, kinds: tuple[str, ...]) -> int:
    """The version the file's layout shows (decided by its contents, not by its attribute):
    no row checksums anywhere = 1; row checksums = 2; row checksums and content checksums
    (``content_sha256``) = 3; and per-example signals (``signal_checksums``, :mod:`muaudit.pool.signals`)
    = 4. It must be the version the file claims: an attribute edited to an
    older version never switches checks off."""
    holders = [f] + [g for kind in kinds for g in _subgroups(path, f, kind)]
    sums = ["checksums" in h for h in holders]
    if any(sums) and not all(sums):
        raise damaged(path, "some of its model groups have row checksums and others not")
    signals = ["signal_checksums" in h for h in holders]
    if any(signals) and not all(signals):
        raise damaged(path, "some of its model groups have per-example signals and others not")
    layout = 1 if not any(sums) else 2 if CONTENT_ATTR not in f.attrs else 4 if all(signals) else 3
    if layout != claimed:
        what = {1: "no row checksums", 2: "row checksums but no content checksums",
                3: "row and content checksums", 4: "row and content checksums and per-example signals"}[layout]
        raise damaged(path, f"it says schema version {claimed} but its layout ({what}) is version {layout}'s")
    return layout


def _subgroups(path, f, kind: str) -> list:
    parent = group(path, f, kind)
    return [parent[name] for name in parent if isinstance(parent.get(name, getlink=True), h5py.HardLink)
            and isinstance(parent[name], h5py.Group)]

def check_header(path, attrs: dict) -> tuple[dict, str]:
    """The ``spec`` (a JSON object with a ``pool`` table holding an integer ``seed`` and
    ``n_models``) and the ``dataset_fingerprint`` (64 hex digits)."""
    raw = attrs.get("spec")
    if raw is None:
        raise damaged(path, "the `spec` attribute (its recipe) is missing")
    try:
        spec = json.loads(raw)
    except (TypeError, ValueError):
        raise damaged(path, "the `spec` attribute is not JSON") from None
    pool = spec.get("pool") if isinstance(spec, dict) else None
    if not isinstance(pool, dict) or not all(_is_int(pool.get(k)) for k in ("seed", "n_models")) or \
            not isinstance(spec.get("model"), dict) or not isinstance(spec.get("dataset"), dict):
        raise damaged(path, "the `spec` attribute is not a muaudit recipe")
    check_recipe(path, spec)
    fp = attrs.get("dataset_fingerprint")
    if not isinstance(fp, str) or not re.fullmatch(r"[0-9a-f]{64}", fp):
        raise damaged(path, "the `dataset_fingerprint` attribute is missing or not a sha256 hex digest")
    return spec, fp


def check_recipe(path, spec: dict) -> None:
    """The stored recipe must be one this muaudit reads (no unknown section or key): a recipe it
    cannot read would be read differently by an audit than it was by the build."""
    from muaudit.errors import MuauditError
    from muaudit.pool.spec import LIST_SECTIONS, SECTIONS, PoolSpec

    unknown = sorted(set(spec) - set(SECTIONS) - set(LIST_SECTIONS) - {"name"})
    if unknown:
        raise damaged(path, f"its stored recipe has an unknown section [{unknown[0]}] (valid: {', '.join(SECTIONS)})")
    try:
        PoolSpec.from_dict(spec)
    except (MuauditError, TypeError, ValueError, AttributeError) as e:
        raise damaged(path, f"its stored recipe is not a valid recipe ({first_line(e)})") from None


def first_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return lines[0] if lines else type(e).__name__


def dataset(path, parent, name: str, kind: str, shape: tuple, *, prefix: str = ""):
    """``parent[name]`` if it is a dataset of ``kind`` ("bool", "integer", "float", "float32",
    "uint8") and ``shape`` (``None`` entries match any length); raises :class:`PoolError` otherwise."""
    where = f"{prefix}{name}"
    obj = _member(path, parent, name, where)
    if obj is None:
        raise damaged(path, f"`{where}` is missing")
    if not isinstance(obj, h5py.Dataset):
        raise damaged(path, f"`{where}` is a {type(obj).__name__.lower()}, expected a dataset")
    if obj.is_virtual or obj.external:
        raise damaged(path, f"`{where}` reads its data from other files")
    dt = obj.dtype
    got = "float32" if dt == np.float32 else "uint8" if dt == np.uint8 else _KINDS.get(dt.kind, str(dt))
    ok = got == kind or (kind == "float" and dt.kind == "f") or (kind == "integer" and dt.kind in "iu")
    if not ok or len(obj.shape) != len(shape) or any(s is not None and s != g for s, g in zip(shape, obj.shape)):
        want = "[" + ", ".join("*" if s is None else str(s) for s in shape) + "]"
        raise damaged(path, f"`{where}` is {dt} {list(obj.shape)}, expected {kind} {want}")
    return obj


def group(path, parent, name: str):
    """``parent[name]`` if it is a group (an empty dict when absent)."""
    obj = _member(path, parent, name, name)
    if obj is None:
        return {}
    if not isinstance(obj, h5py.Group):
        raise damaged(path, f"`{name}` is a {type(obj).__name__.lower()}, expected a group")
    return obj


def _member(path, parent, name: str, where: str):
    """``parent[name]`` or None; links to other files are refused."""
    link = parent.get(name, getlink=True)
    if link is None:
        return None
    if not isinstance(link, (h5py.HardLink, h5py.SoftLink)):
        raise damaged(path, f"`{where}` links to another file")
    try:
        return parent[name]
    except KeyError:  # a dangling soft link
        return None


def check_memory(path, shape: tuple, itemsize: int) -> None:
    """Refuse arrays the machine could not hold (a header can claim any size)."""
    need = int(np.prod(shape, dtype=np.float64) * itemsize)
    try:
        have = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return
    if need > have:
        raise damaged(path, f"it claims an array of shape {list(shape)} ({need / 2**30:.1f} GiB), more than this "
                            f"machine's memory ({have / 2**30:.1f} GiB)")


def root_arrays(path, f, version: int) -> tuple[dict, tuple]:
    """The design arrays and the shape ``(M, N, V, C)`` of the rows, validated."""
    keep = dataset(path, f, "keep", "bool", (None, None))
    M, N = keep.shape
    if M < 1 or N < 1:
        raise damaged(path, f"`keep` is empty ({M} x {N})")
    check_memory(path, keep.shape, 1)
    logits = dataset(path, f, "logits", "float32", (M, N, None, None))
    V, C = logits.shape[2:]
    if not 1 <= V <= MAX_VIEWS or C < 2:
        raise damaged(path, f"`logits` has {V} views and {C} classes, expected 1 to {MAX_VIEWS} views and >= 2 classes")
    out = {"keep": keep[()]}
    for name, kind, shape in (("seeds", "integer", (M,)), ("done", "bool", (M,)), ("seconds", "float", (M,)),
                              ("population", "integer", (N,)), ("labels", "integer", (N,)), ("split", "integer", (N,))):
        out[name] = dataset(path, f, name, kind, shape)[()]
    out["forget"] = dataset(path, f, "forget", "bool", (N,))[()] if "forget" in f else None
    out["checksums"] = dataset(path, f, "checksums", "uint8", (M, CHECKSUM_BYTES))[()] if version >= 2 else None
    out["signal_checksums"] = signal_arrays(path, f, (M, N, V), version)
    if not np.isfinite(out["seconds"]).all() or (out["labels"] < 0).any() or (out["labels"] >= C).any():
        raise damaged(path, "`seconds` or `labels` hold values out of range")
    return out, (M, N, V, C)


def signal_arrays(path, parent, shape: tuple, version: int, *, prefix: str = ""):
    """Version 4: check ``phi`` and ``correct`` ``[M, N, V]``; return ``signal_checksums`` (else None)."""
    if version < 4:
        return None
    dataset(path, parent, "phi", "float32", shape, prefix=prefix)
    dataset(path, parent, "correct", "bool", shape, prefix=prefix)
    return dataset(path, parent, "signal_checksums", "uint8", (shape[0], CHECKSUM_BYTES), prefix=prefix)[()]


def group_arrays(path, g, where: str, shape: tuple, version: int) -> dict:
    """The arrays of one model group, validated against the root's row shape."""
    M, N = shape[:2]
    prefix = f"{where}/"
    out = {"forget": dataset(path, g, "forget", "bool", (M, N), prefix=prefix)[()]}
    for name, kind, s in (("done", "bool", (M,)), ("seconds", "float", (M,)), ("sample_gradients", "integer", (M,))):
        out[name] = dataset(path, g, name, kind, s, prefix=prefix)[()]
    dataset(path, g, "logits", "float32", shape, prefix=prefix)
    out["checksums"] = (dataset(path, g, "checksums", "uint8", (M, CHECKSUM_BYTES), prefix=prefix)[()]
                        if version >= 2 else None)
    out["signal_checksums"] = signal_arrays(path, g, shape[:3], version, prefix=prefix)
    attrs = plain_attrs(g)
    try:
        entry = json.loads(attrs.get("entry", "{}"))
    except (TypeError, ValueError):
        entry = None
    if not isinstance(entry, dict):
        raise damaged(path, f"the `entry` attribute of `{where}` is not a JSON table")
    return {**out, "attrs": attrs}


def design_problems(path, keep: np.ndarray, seeds: np.ndarray, forget, spec: dict) -> dict[str, str]:
    """``{part: why}``: the keep matrix and seeds must be the ones the stored seed and design give
    (:func:`~muaudit.pool.design.make_keep`, :func:`~muaudit.pool.design.model_seeds`)."""
    from muaudit.pool.design import make_keep, model_seeds

    M, N = keep.shape
    seed, n_models = spec["pool"]["seed"], spec["pool"]["n_models"]
    if n_models != M:
        raise damaged(path, f"its recipe says {n_models} models but `keep` has {M} rows")
    if not 0 <= seed < 2**63:
        raise damaged(path, f"its recipe's seed {seed} is out of range")
    out = {}
    if not np.array_equal(seeds, model_seeds(seed, M)):
        out["seeds"] = f"`seeds` are not the per-model seeds of the recipe's seed {seed}"
    expected = make_keep(M, N, seed, None if forget is None else np.flatnonzero(forget))
    bad = np.flatnonzero((expected != keep).any(1))
    if len(bad):
        out["keep"] = f"its keep matrix does not match its seed and design (models {format_ids(bad)} differ)"
    return out


def group_forget_problems(pool) -> dict[str, str]:
    """``{part: why}``: each group's ``F_m`` must be the one its entry, the keep matrix and the seeds give."""
    from muaudit.pool.entries import UnlearnEntry, forget_matrix

    out = {}
    for path, g in pool.groups.items():
        try:
            entry = UnlearnEntry(**g.entry)
            expected = forget_matrix(entry, pool.keep, pool.seeds, pool.forget)
        except Exception as e:  # noqa: BLE001 - an unusable entry is a damaged file, whatever it raises
            raise damaged(pool.path, f"the `entry` of `{path}` is not a valid [[unlearn]] entry ({e})") from None
        differ = np.flatnonzero((expected != g.forget).any(1))
        if len(differ):
            out[f"{path}/forget"] = (f"the forget matrix of `{path}` does not match its entry and seeds "
                                     f"(models {format_ids(differ)} differ)")
    return out


def format_ids(ms, limit: int = 8) -> str:
    """Model (or row) numbers for a message, the first ``limit`` of them and how many more.

    Example:
        >>> format_ids(range(10), 3)
        '0, 1, 2 and 7 more'
    """
    ms = [int(m) for m in ms]
    return ", ".join(map(str, ms[:limit])) + (f" and {len(ms) - limit} more" if len(ms) > limit else "")


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)
