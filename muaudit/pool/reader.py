"""Read access to a pool file (schema versions 1 to 4, docs/pool-format.md).

Everything is validated when the file is opened (:mod:`muaudit.pool.validate`): the version its
layout shows (not only its attribute), the types and shapes, the design, and (version 3) the
content checksums of every part under the digest (:mod:`muaudit.pool.digest`). Every row
:meth:`Pool.logits` returns is checked against its stored sha256 (version 3: bound to its model
and group; version 2: over the logits alone; version 1 stores none). :meth:`Pool.signals` reads
the per-example signals an audit needs (version 4 stores them, :mod:`muaudit.pool.signals`;
older files compute them from the logits in bounded chunks).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from muaudit.errors import PoolError
from muaudit.pool import digest as d
from muaudit.pool import signals as sig
from muaudit.pool import validate as v
from muaudit.pool.fileio import first_line, h5open
from muaudit.pool.layout import legacy_row_checksum, row_checksum

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

    ``problems``: a dict to collect ``{part: why}`` of content that fails its checks (design,
    forget matrices, content checksums) instead of raising at the first (``pool verify``).
    """

    def __init__(self, path, *, problems: dict | None = None):
        self._problems = problems
        self.path = resolve_pool_file(path)
        if self.path.is_dir():
            raise PoolError(f"{self.path} is a directory, not a pool file; move it away, or pass the directory "
                            "that holds pool.h5")
        if not self.path.is_file():
            from muaudit.packaged import names

            raise PoolError(f"no pool at {path}; build one with `muaudit pool build RECIPE --out {path}` (RECIPE: a "
                            f"TOML file, or a packaged recipe: {', '.join(names('recipe'))})")
        try:
            with h5open(self.path) as f:
                self._read(f)
        except PoolError:
            raise
        except (OSError, KeyError, ValueError, TypeError, RuntimeError) as e:
            raise PoolError(f"pool {self.path} is corrupt or not a muaudit pool ({first_line(e)}); rebuild it") from None

    def _read(self, f) -> None:
        self.attrs = v.plain_attrs(f)
        claimed = v.check_version(self.path, self.attrs)
        self.schema_version = v.check_layout(self.path, f, claimed, GROUP_KINDS)
        self.spec, self.fingerprint = v.check_header(self.path, self.attrs)
        arrays, self.logits_shape = v.root_arrays(self.path, f, self.schema_version)
        self._checksums = {"": arrays.pop("checksums")}
        self._signal_sums = {"": arrays.pop("signal_checksums")}
        self._derived_sums: dict[str, np.ndarray] = {}  # old pools: signal checksums computed from the logits
        for name, value in arrays.items():
            setattr(self, name, value)
        self._report(v.design_problems(self.path, self.keep, self.seeds, self.forget, self.spec))
        self.groups, handles = {}, {}
        for kind in GROUP_KINDS:
            for name in v.group(self.path, f, kind):
                where = f"{kind}/{name}"
                handles[where] = v.group(self.path, f, where)
                a = v.group_arrays(self.path, handles[where], where, self.logits_shape, self.schema_version)
                self._checksums[where] = a.pop("checksums")
                self._signal_sums[where] = a.pop("signal_checksums")
                self.groups[where] = ShadowGroup(where, kind, name, a["forget"], a["done"], a["seconds"],
                                                 a["sample_gradients"], a["attrs"])
        self._report(v.group_forget_problems(self))
        self.parts = {"": d.root_parts(f), **{where: d.group_parts(g) for where, g in handles.items()}}
        if self.schema_version >= 3:
            self._report(d.part_problems("", d.stored_parts(f), self.parts[""]))
            for where, g in handles.items():
                self._report(d.part_problems(f"{where}/", d.stored_parts(g), self.parts[where]))

    def _report(self, problems: dict[str, str]) -> None:
        """Content that fails a check: raise at the first, or collect (``problems``)."""
        if problems and self._problems is None:
            raise v.damaged(self.path, next(iter(problems.values())))
        for part, why in problems.items():
            self._problems.setdefault(part, why)

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

    def check_dataset(self, dataset, *, inputs: bool = True) -> None:
        """The pool was built on ``dataset`` (its fingerprint), and its ``population``, ``labels``
        and ``split`` are that dataset's (they are derived from it and the recipe; an audit reads
        them, so an edit of them would change a verdict). ``inputs=False``: for a use that never
        reads the dataset's inputs (an audit of precomputed logits of generated data), the
        fingerprint (a hash of the inputs too) is not computed; the rest is checked."""
        if inputs:
            self.check_fingerprint(dataset.fingerprint)
        problems = dataset_problems(self, dataset)
        if problems:
            raise v.damaged(self.path, next(iter(problems.values())))

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
        idx = self._committed(models, group)
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

    @property
    def has_signals(self) -> bool:
        """The file stores per-example signals (schema version 4, :mod:`muaudit.pool.signals`)."""
        return self.schema_version >= 4

    def signals(self, models=None, *, group: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(phi float32 [M', N, V], correct bool [M', N, V])`` of the given models (default: all
        done) of the base shadows or of ``group``: read from the stored signals (each row checked
        against its sha256), or, in a pool without them, computed from the logits one bounded
        chunk of models at a time. Memory: the signals plus at most one chunk of logits."""
        idx = self._committed(models, group)
        if not self.has_signals:
            phi, correct = sig.signals_from_logits(self, idx, group)
            if models is None:  # the whole group: its derived signal checksums serve the digest
                self._derived_sums[group or ""] = self._sums_of(phi, correct, idx, group)
            return phi, correct
        shape = (len(idx),) + self.logits_shape[1:3]
        phi, correct = np.empty(shape, np.float32), np.empty(shape, bool)
        try:
            with h5open(self.path) as f:
                g = f[group] if group else f
                for i, m in enumerate(idx):
                    g["phi"].read_direct(phi, np.s_[int(m)], np.s_[i])
                    g["correct"].read_direct(correct, np.s_[int(m)], np.s_[i])
        except (OSError, KeyError, ValueError, TypeError) as e:
            raise PoolError(f"pool {self.path}: cannot read the signals{_of(group)} ({first_line(e)}); "
                            f"the file is damaged; rebuild it") from None
        stored = self._signal_sums[group or ""]
        bad = [int(m) for i, m in enumerate(idx)
               if not np.array_equal(sig.signal_checksum(phi[i], correct[i], int(m), group or ""), stored[m])]
        if bad:
            raise PoolError(f"pool {self.path}: the signals of model(s) {v.format_ids(bad)}{_of(group)} fail their "
                            "checksum (the file was damaged or edited); rebuild it")
        return phi, correct

    def phi(self, models=None, *, group: str | None = None) -> np.ndarray:
        """float32 ``[M', N, V]``: the logit-scaled confidence of :meth:`signals`."""
        return self.signals(models, group=group)[0]

    def signal_checksums(self, group: str | None = None) -> np.ndarray:
        """uint8 ``[M, 32]``: the bound sha256 of each row's signals (zeros where not done): stored
        (version 4), else computed from the logits (once per group and pool object)."""
        if self.has_signals:
            return self._signal_sums[group or ""]
        if (group or "") not in self._derived_sums:
            self.signals(group=group)
        return self._derived_sums[group or ""]

    def _sums_of(self, phi, correct, idx, group) -> np.ndarray:
        out = np.zeros((self.n_models, 32), np.uint8)
        for i, m in enumerate(idx):
            out[m] = sig.signal_checksum(phi[i], correct[i], int(m), group or "")
        return out

    def _committed(self, models, group) -> np.ndarray:
        done = self.done_of(group)
        idx = np.flatnonzero(done) if models is None else np.asarray(models, np.int64).reshape(-1)
        bad = [int(m) for m in idx if not (0 <= m < len(done) and done[m])]
        if bad:
            raise PoolError(f"pool {self.path}: model(s) {v.format_ids(bad)}{_of(group)} are not committed; "
                            f"resume with `muaudit pool build RECIPE --out {self.path.parent}`")
        return idx

    def row_ok(self, row: np.ndarray, m: int, group: str | None = None) -> bool:
        """Row ``m`` of ``group`` is finite and matches its stored checksum, by the file's own
        rules (version 3: bound to ``m`` and the group; 2: the logits alone; 1: none stored)."""
        stored = self._checksums[group or ""]
        if not np.isfinite(row).all():
            return False
        if stored is None:
            return True
        want = row_checksum(row, m, group or "") if self.schema_version >= 3 else legacy_row_checksum(row)
        return bool(np.array_equal(want, stored[m]))

    def _verify_rows(self, rows: np.ndarray, idx, group) -> None:
        bad = [int(m) for row, m in zip(rows, idx) if not self.row_ok(row, int(m), group)]
        if bad:
            raise PoolError(f"pool {self.path}: the logits of model(s) {v.format_ids(bad)}{_of(group)} fail their "
                            "checksum (the file was damaged or edited); rebuild it")

    def row_checksums(self, group: str | None = None) -> np.ndarray:
        """uint8 ``[M, 32]``: the bound sha256 of each row (:func:`~muaudit.pool.layout.row_checksum`;
        zeros where not done): stored (version 3), else computed from the rows, each checked by
        its file's own rules first."""
        if self.schema_version >= 3:
            return self._checksums[group or ""]
        out = np.zeros((self.n_models, 32), np.uint8)
        for m in np.flatnonzero(self.done_of(group)):
            out[m] = row_checksum(self.logits([m], group=group)[0], int(m), group or "")
        return out

    def digest(self) -> str:
        """sha256 hex of everything an audit reads (:func:`muaudit.pool.digest.pool_digest`): the
        recipe, the fingerprint, population, labels, split, keep, seeds, forget sets, the groups'
        settings, every committed row (bound to its model) and its signals. Equal digests mean equal pools,
        whatever their file layout or schema version."""
        rows = {g or "": (self.done_of(g), self.row_checksums(g), self.signal_checksums(g)) for g in [None, *self.groups]}
        return d.pool_digest(self.parts, rows)


def dataset_problems(pool: Pool, dataset) -> dict[str, str]:
    """``{part: why}`` where the pool's ``population``, ``labels`` or ``split`` are not the ones
    its recipe and ``dataset`` give (``dataset`` must have the pool's fingerprint)."""
    from muaudit.pool.spec import PoolSpec

    pop = PoolSpec.from_dict(pool.spec).population_rows(dataset)
    if not np.array_equal(pop, pool.population):
        return {"population": f"`population` is not the population its recipe gives on {dataset.name}"}
    out = {}
    for part, expected in (("labels", dataset.y[pop]), ("split", dataset.split[pop])):
        differ = np.flatnonzero(getattr(pool, part) != expected)
        if len(differ):
            out[part] = (f"`{part}` differ from dataset {dataset.name}'s at {len(differ)} examples "
                         f"(population positions {v.format_ids(differ, 4)})")
    return out


def _of(group) -> str:
    return f" of {group}" if group else ""
