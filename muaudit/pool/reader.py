"""Read access to a pool file (schema versions 1 and 2, docs/pool-format.md).

Everything is validated when the file is opened (:mod:`muaudit.pool.validate`), and every row
:meth:`Pool.logits` returns is checked against its stored sha256 (version 2).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from muaudit.errors import PoolError
from muaudit.pool import validate as v
from muaudit.pool.fileio import first_line, h5open
from muaudit.pool.layout import row_checksum

POOL_FILE = "pool.h5"
GROUP_KINDS = ("unlearned", "retrain")  # groups ``unlearned/<name>`` and ``retrain/<name>``


def resolve_pool_file(path) -> Path:
    """``DIR`` -> ``DIR/pool.h5``; a file path (or a missing ``*.h5`` path) is returned unchanged."""
    p = Path(path)
    if p.is_dir():
        inner = p / POOL_FILE
        return p if p.suffix == ".h5" and not inner.exists() else inner
    return p if p.is_file() or p.suffix == ".h5" else p / POOL_FILE


@dataclass(frozen=True)
class ShadowGroup:
    """A group of per-shadow models derived from the base shadows (see docs/pool-format.md).

    ``kind`` is ``"unlearned"`` or ``"retrain"``; ``forget`` bool ``[M, N]`` (``F_m``), ``done``,
    ``seconds``, ``sample_gradients`` ``[M]``; ``attrs`` holds ``entry`` (the recipe entry, JSON),
    ``method`` and ``config`` (the resolved method config, JSON).
    """

    path: str
    kind: str
    name: str
    forget: np.ndarray
    done: np.ndarray
    seconds: np.ndarray
    sample_gradients: np.ndarray
    attrs: dict

    @property
    def entry(self) -> dict:
        return json.loads(self.attrs.get("entry", "{}"))


class Pool:
    """Read access to a pool file. Arrays are loaded lazily; ``logits`` only on request.

    Attributes: ``spec`` (dict), ``fingerprint``, ``keep`` bool ``[M, N]``, ``seeds``, ``done``,
    ``population`` (dataset rows ``[N]``), ``labels``, ``split``, ``forget`` (bool ``[N]`` or None),
    ``attrs`` (all root attributes), ``groups`` (``{"unlearned/ga": ShadowGroup, ...}``),
    ``schema_version``. Opening never writes: read-only locations work.
    """

    def __init__(self, path):
        self.path = resolve_pool_file(path)
        if self.path.is_dir():
            raise PoolError(f"{self.path} is a directory, not a pool file; move it away, or pass the directory "
                            "that holds pool.h5")
        if not self.path.is_file():
            raise PoolError(f"no pool at {path}; build one with `muaudit pool build RECIPE --out {path}`")
        try:
            with h5open(self.path) as f:
                self._read(f)
        except PoolError:
            raise
        except (OSError, KeyError, ValueError, TypeError, RuntimeError) as e:
            raise PoolError(f"pool {self.path} is corrupt or not a muaudit pool ({first_line(e)}); rebuild it") from None

    def _read(self, f) -> None:
        self.attrs = v.plain_attrs(f)
        self.schema_version = v.check_version(self.path, self.attrs)
        self.spec, self.fingerprint = v.check_header(self.path, self.attrs)
        arrays, self.logits_shape = v.root_arrays(self.path, f, self.schema_version)
        self._checksums = {"": arrays.pop("checksums")}
        for name, value in arrays.items():
            setattr(self, name, value)
        v.check_design(self.path, self.keep, self.seeds, self.forget, self.spec)
        self.groups = {}
        for kind in GROUP_KINDS:
            for name in v.group(self.path, f, kind):
                where = f"{kind}/{name}"
                a = v.group_arrays(self.path, v.group(self.path, f, where), where, self.logits_shape,
                                   self.schema_version)
                self._checksums[where] = a.pop("checksums")
                self.groups[where] = ShadowGroup(where, kind, name, a["forget"], a["done"], a["seconds"],
                                                 a["sample_gradients"], a["attrs"])
        v.check_group_forgets(self)

    @property
    def n_models(self) -> int:
        return self.keep.shape[0]

    @property
    def n_done(self) -> int:
        return int(self.done.sum())

    def require_complete(self) -> "Pool":
        if not self.done.all():
            raise PoolError(f"pool {self.path} is unfinished ({self.n_done}/{self.n_models} models done); "
                            f"resume with `muaudit pool build RECIPE --out {self.path.parent}`")
        return self

    def check_fingerprint(self, fingerprint: str) -> None:
        if fingerprint != self.fingerprint:
            raise PoolError(f"pool {self.path} was built on other data (fingerprint {self.fingerprint[:12]} "
                            f"!= {fingerprint[:12]}); use a pool built on this dataset")

    @property
    def unlearned(self) -> dict[str, ShadowGroup]:
        """``{name: group}`` of the unlearned-shadow groups."""
        return {g.name: g for g in self.groups.values() if g.kind == "unlearned"}

    @property
    def retrained(self) -> dict[str, ShadowGroup]:
        """``{name: group}`` of the exact-retrain groups."""
        return {g.name: g for g in self.groups.values() if g.kind == "retrain"}

    def done_of(self, group: str | None = None) -> np.ndarray:
        if group and group not in self.groups:
            raise PoolError(f"pool {self.path} has no group {group!r}; it has: {', '.join(self.groups) or 'none'}")
        return self.groups[group].done if group else self.done

    def logits(self, models=None, *, group: str | None = None, verify: bool = True) -> np.ndarray:
        """float32 ``[M', N, V, C]`` for the given model indices (default: all done models) of the
        base shadows, or of ``group`` (e.g. ``"unlearned/ga"``). Only committed rows can be read;
        each is checked against its stored sha256 (a :class:`PoolError` names the models that fail)."""
        done = self.done_of(group)
        idx = np.flatnonzero(done) if models is None else np.asarray(models, np.int64).reshape(-1)
        bad = [int(m) for m in idx if not (0 <= m < len(done) and done[m])]
        if bad:
            raise PoolError(f"pool {self.path}: model(s) {v._ids(bad)}{_of(group)} are not committed; "
                            f"resume with `muaudit pool build RECIPE --out {self.path.parent}`")
        out = np.empty((len(idx),) + self.logits_shape[1:], np.float32)
        try:
            with h5open(self.path) as f:
                ds = f[group]["logits"] if group else f["logits"]
                for i, m in enumerate(idx):
                    ds.read_direct(out, np.s_[int(m)], np.s_[i])
        except (OSError, KeyError, ValueError) as e:
            raise PoolError(f"pool {self.path}: cannot read the logits{_of(group)} ({first_line(e)}); "
                            f"the file is damaged; rebuild it") from None
        if verify:
            self._verify_rows(out, idx, group)
        return out

    def _verify_rows(self, rows: np.ndarray, idx, group) -> None:
        stored = self._checksums[group or ""]
        bad = [int(m) for row, m in zip(rows, idx)
               if (stored is not None and not np.array_equal(row_checksum(row), stored[m]))
               or not np.isfinite(row).all()]
        if bad:
            raise PoolError(f"pool {self.path}: the logits of model(s) {v._ids(bad)}{_of(group)} fail their "
                            "checksum (the file was damaged or edited); rebuild it")

    def row_checksums(self, group: str | None = None) -> np.ndarray:
        """uint8 ``[M, 32]``: stored sha256 of each row (zeros where not done); for a version-1
        file (no stored checksums) computed from the rows."""
        stored = self._checksums[group or ""]
        if stored is not None:
            return stored
        out = np.zeros((self.n_models, 32), np.uint8)
        for m in np.flatnonzero(self.done_of(group)):
            out[m] = row_checksum(self.logits([m], group=group)[0])
        return out

    def digest(self) -> str:
        """sha256 hex of the recipe, the dataset fingerprint and every committed row's checksum
        (base and groups): equal digests mean equal pools, whatever their file layout."""
        h = hashlib.sha256(json.dumps({"spec": self.spec, "fingerprint": self.fingerprint}, sort_keys=True).encode())
        for group in [None] + sorted(self.groups):
            done = self.done_of(group)
            h.update(f"\n{group or ''}:".encode() + np.packbits(done).tobytes())
            h.update(self.row_checksums(group)[done].tobytes())
        return h.hexdigest()


def _of(group) -> str:
    return f" of {group}" if group else ""
