"""Tabular datasets: ``csv`` (a local file) and scikit-learn's bundled ``breast_cancer`` and ``wine``.

A CSV file has a header row; one column holds the label (``label``), an optional column the split
(``train`` / ``test`` or ``0`` / ``1``; else a seeded stratified split). Every other column (or the
``features`` listed) is a feature: numeric columns are standardised, categorical ones (listed in
``categorical``, or holding no number at all) one-hot encoded, both with statistics of the
training split only. What was fitted is recorded in ``Dataset.info["preprocessing"]`` (and by pool
builds in the pool); the fingerprint covers the encoded ``X``, so every target of a pool is fed the
same way. Missing values (empty, ``NA``, ``NaN``, ``null``, ``?``) are an error unless the recipe
says ``missing = "drop"`` (drop those rows) or ``"mean"`` (the training mean; categorical: the most
frequent training value). See docs/data.md.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from muaudit.checks import check_fits_memory, check_seed
from muaudit.data.dataset import TEST, TRAIN, Dataset
from muaudit.data.registry import DATASETS
from muaudit.errors import ConfigError, DataError

MISSING = ("error", "drop", "mean")
MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none", "?"})
MAX_LINE = 1 << 20  # characters; a longer line is not a table row (a corrupt or binary file)
MAX_CATEGORIES = 1024  # distinct training values of one categorical column; more is an identifier, not a category


def _read_table(path: Path, delimiter: str) -> tuple[list[str], list[list[str]], list[int]]:
    """Header, rows (stripped strings) and their line numbers; every malformed file is a DataError."""
    check_fits_memory(f"CSV file {path}", 16 * path.stat().st_size)
    raw = path.read_bytes()
    if not raw.strip():
        raise DataError(f"CSV file {path} is empty")
    if b"\0" in raw:
        raise DataError(f"CSV file {path} contains NUL bytes: not a text file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"CSV file {path} is not UTF-8 text (byte {e.start})") from None
    lines = text.splitlines()
    long = next((i for i, line in enumerate(lines) if len(line) > MAX_LINE), None)
    if long is not None:
        raise DataError(f"CSV file {path}: line {long + 1} has {len(lines[long]):,} characters, more than "
                        f"{MAX_LINE:,}: not a table row")
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, strict=True)
    table, where = [], []
    try:
        for row in reader:
            if row and any(c.strip() for c in row):
                table.append([c.strip() for c in row])
                where.append(reader.line_num)
    except csv.Error as e:
        raise DataError(f"CSV file {path}: line {reader.line_num}: {e}") from None
    header, rows, where = table[0], table[1:], where[1:]
    if any(not h for h in header) or len(set(header)) != len(header):
        dup = next((h for h in header if not h or header.count(h) > 1), "")
        raise DataError(f"CSV file {path}: the header has {'an empty' if not dup else 'a repeated'} column name "
                        f"{dup!r}; the first row must name every column once")
    if not rows:
        raise DataError(f"CSV file {path} has a header but no rows")
    for row, line in zip(rows, where):
        if len(row) != len(header):
            raise DataError(f"CSV file {path}: line {line} has {len(row)} fields, the header {len(header)}")
    return header, rows, where


def _column(header: list[str], name: str, path: Path, what: str) -> int:
    if name not in header:
        cols = ", ".join(header[:20]) + (", ..." if len(header) > 20 else "")
        raise DataError(f"CSV file {path}: no {what} column {name!r}; columns: {cols}")
    return header.index(name)


def _is_missing(v: str) -> bool:
    return v.lower() in MISSING_TOKENS


def _as_float(v: str) -> float | None:
    try:
        x = float(v)
    except ValueError:
        return None
    return x if np.isfinite(x) else None


def _class_codes(values: list[str]) -> tuple[np.ndarray, list]:
    """Labels -> int64 codes in sorted order (numerically when every label is an integer)."""
    uniq = sorted(set(values))
    try:
        ints = {v: int(v) for v in uniq}
        uniq = sorted(uniq, key=ints.get)
        classes = [ints[v] for v in uniq]
    except ValueError:
        classes = list(uniq)
    index = {v: i for i, v in enumerate(uniq)}
    return np.array([index[v] for v in values], np.int64), classes


def stratified_split(y: np.ndarray, test_fraction: float, seed: int) -> np.ndarray:
    """Split codes: per class, ``round(test_fraction * n_c)`` rows drawn by ``default_rng(seed)`` go to
    the test split (at most ``n_c - 1``: every class keeps a training example).

    Example:
        >>> stratified_split(np.array([0, 0, 0, 0, 1, 1, 1, 1]), 0.5, seed=0).tolist()
        [1, 0, 1, 0, 0, 0, 1, 1]
    """
    rng = np.random.default_rng(seed)
    split = np.full(len(y), TRAIN, np.int8)
    for c in np.unique(y):
        rows = np.flatnonzero(y == c)
        n_test = min(int(np.floor(test_fraction * rows.size + 0.5)), rows.size - 1)
        split[rows[rng.permutation(rows.size)[:n_test]]] = TEST
    return split


def standardise(X: np.ndarray, train: np.ndarray) -> tuple[np.ndarray, dict]:
    """``(X - mean) / std`` with the training rows' statistics (a constant column: std 1).

    Example:
        >>> Z, stats = standardise(np.array([[1.0], [3.0], [100.0]]), np.array([True, True, False]))
        >>> Z.ravel().tolist(), stats["mean"], stats["std"]
        ([-1.0, 1.0, 98.0], [2.0], [1.0])
    """
    mean = X[train].mean(0)
    std = X[train].std(0)
    std = np.where(std > 0, std, 1.0)
    return ((X - mean) / std).astype(np.float32), {"mean": mean.tolist(), "std": std.tolist()}


def _split_codes(rows, where, col: int | None, y, path, test_fraction, seed) -> tuple[np.ndarray, dict]:
    if col is None:
        return stratified_split(y, test_fraction, seed), {"split": "stratified", "seed": seed,
                                                          "test_fraction": test_fraction}
    codes = {"train": TRAIN, "0": TRAIN, "test": TEST, "1": TEST}
    for r, line in zip(rows, where):
        if r[col].lower() not in codes:
            raise DataError(f"CSV file {path}: line {line}: split value {r[col]!r} is not train/test or 0/1")
    return np.array([codes[r[col].lower()] for r in rows], np.int8), {"split": "column"}


def _feature_kind(name: str, values: list[str], where, categorical: set, path) -> str:
    if name in categorical:
        return "categorical"
    present = [(v, line) for v, line in zip(values, where) if not _is_missing(v)]
    bad = [(v, line) for v, line in present if _as_float(v) is None]
    if not bad:
        return "numeric"
    if len(bad) == len(present):
        return "categorical"
    v, line = bad[0]
    raise DataError(f"CSV file {path}: line {line}: {v!r} in numeric column {name!r} is not a finite number; "
                    f"list the column in `categorical` if it is one")


def _encode(name: str, kind: str, values: list[str], train: np.ndarray, path: Path) -> tuple[np.ndarray, list[str], dict]:
    miss = np.array([_is_missing(v) for v in values])
    if kind == "numeric":
        x = np.array([np.nan if m else float(v) for v, m in zip(values, miss)])
        fill = float(x[train & ~miss].mean()) if (train & ~miss).any() else 0.0
        x = np.where(miss, fill, x)
        Z, stats = standardise(x[:, None], train)
        return Z, [name], {"kind": "numeric", "mean": stats["mean"][0], "std": stats["std"][0],
                           **({"fill": fill} if miss.any() else {})}
    cats = sorted({v for v, m, t in zip(values, miss, train) if t and not m})
    if len(cats) > MAX_CATEGORIES:
        raise DataError(f"CSV file {path}: column {name!r} has {len(cats)} distinct training values (more than "
                        f"{MAX_CATEGORIES}): an identifier, not a category; leave it out with `features`")
    counts = {c: 0 for c in cats}
    for v, m, t in zip(values, miss, train):
        if t and not m:
            counts[v] += 1
    fill = min(cats, key=lambda c: (-counts[c], c)) if cats else ""
    vals = [fill if m else v for v, m in zip(values, miss)]
    index = {c: i for i, c in enumerate(cats)}
    Z = np.zeros((len(vals), len(cats)), np.float32)
    known = np.array([v in index for v in vals])
    Z[np.flatnonzero(known), [index[v] for v in vals if v in index]] = 1.0
    info = {"kind": "categorical", "categories": cats, "unseen_rows": int((~known).sum()),
            **({"fill": fill} if miss.any() else {})}
    return Z, [f"{name}={c}" for c in cats], info


def _check_split_options(test_fraction, seed) -> None:
    if not (isinstance(test_fraction, (int, float)) and not isinstance(test_fraction, bool) and 0 < test_fraction < 1):
        raise ConfigError(f"Expected `test_fraction` a number in (0, 1), got {test_fraction!r}")
    check_seed("seed", seed)


def _check_options(path, label, split, categorical, features, test_fraction, seed, missing, delimiter) -> Path:
    if path is None:
        raise DataError("the csv dataset is read from a local file: set `path`")
    for key, v in (("label", label), ("split", split)):
        if not (isinstance(v, str) and v) and not (key == "split" and v is None):
            raise ConfigError(f"Expected `{key}` a column name, got {v!r}")
    for key, v in (("categorical", categorical), ("features", features)):
        if v is not None and not (isinstance(v, list) and all(isinstance(c, str) for c in v)):
            raise ConfigError(f"Expected `{key}` a list of column names, got {v!r}")
    _check_split_options(test_fraction, seed)
    if missing not in MISSING:
        raise ConfigError(f"Expected `missing` one of {', '.join(MISSING)}, got {missing!r}")
    if not (isinstance(delimiter, str) and len(delimiter) == 1 and delimiter not in "\"\r\n"):
        raise ConfigError(f"Expected `delimiter` one character, got {delimiter!r}")
    p = Path(str(path)).expanduser()
    if not p.is_file():
        raise DataError(f"csv file {p} does not exist")
    return p


def _drop_missing(rows, where, cols, missing, path):
    """Rows (and line numbers) without a missing value in ``cols``: with ``drop``; else the error."""
    bad = [i for i, r in enumerate(rows) if any(_is_missing(r[c]) for c in cols)]
    if bad and missing != "drop":
        return rows, where, 0
    keep = sorted(set(range(len(rows))) - set(bad))
    if not keep:
        raise DataError(f"CSV file {path}: every row has a missing value (missing = \"drop\")")
    return [rows[i] for i in keep], [where[i] for i in keep], len(bad)


@DATASETS.register("csv")
def load_csv(*, path=None, label: str = "label", split: str | None = None, categorical: list | None = None,
             features: list | None = None, test_fraction: float = 0.25, seed: int = 0, missing: str = "error",
             delimiter: str = ",") -> Dataset:
    """A table from a CSV file; see the module text. ``split`` names the split column (default: the
    column ``split`` if there is one, else a stratified split by ``seed`` and ``test_fraction``)."""
    p = _check_options(path, label, split, categorical, features, test_fraction, seed, missing, delimiter)
    header, rows, where = _read_table(p, delimiter)
    ycol = _column(header, label, p, "label")
    scol = _column(header, split, p, "split") if split is not None else (header.index("split") if "split" in header else None)
    names = features if features is not None else [h for i, h in enumerate(header) if i not in (ycol, scol)]
    fcols = [_column(header, f, p, "feature") for f in names]
    for c in categorical or []:
        _column(header, c, p, "categorical")
    if not fcols:
        raise DataError(f"CSV file {p}: no feature columns besides the label{' and split' if scol is not None else ''}")
    checked = [ycol] + ([scol] if scol is not None else []) + (fcols if missing != "mean" else [])
    rows, where, n_dropped = _drop_missing(rows, where, checked, missing, p)
    for c in checked:
        line = next((ln for r, ln in zip(rows, where) if _is_missing(r[c])), None)
        if line is not None:
            raise DataError(f"CSV file {p}: line {line}: missing value in column {header[c]!r}; set "
                            f"`missing = \"drop\"` or `\"mean\"` in the recipe's [dataset]" if c in fcols else
                            f"CSV file {p}: line {line}: missing {'label' if c == ycol else 'split'} value")
    y, classes = _class_codes([r[ycol] for r in rows])
    if len(classes) < 2:
        raise DataError(f"CSV file {p}: the label column {label!r} has one class only ({classes[0]!r}); "
                        "membership audits need a classifier of at least two classes")
    codes, split_info = _split_codes(rows, where, scol, y, p, test_fraction, seed)
    train = codes == TRAIN
    absent = np.setdiff1d(np.unique(y), np.unique(y[train]))
    if absent.size:
        line = where[int(np.flatnonzero(y == absent[0])[0])]
        raise DataError(f"CSV file {p}: label {classes[absent[0]]!r} (line {line}) is not in the training split; "
                        "a model cannot learn a class it never sees")
    check_fits_memory(f"CSV file {p} encoded", 8 * len(rows) * len(fcols))
    blocks, columns, fitted = [], [], {}
    for name, c in zip(names, fcols):
        values = [r[c] for r in rows]
        kind = _feature_kind(name, values, where, set(categorical or []), p)
        Z, cols, fitted[name] = _encode(name, kind, values, train, p)
        blocks.append(Z), columns.extend(cols)
    X = np.concatenate(blocks, axis=1).astype(np.float32)
    info = {"preprocessing": {"source": str(p), "label": label, "classes": classes, **split_info, "missing": missing,
                              "dropped_rows": n_dropped, "columns": columns, "features": fitted}}
    return Dataset("csv", X, y, codes, info=info)


def _sklearn_table(file: str) -> tuple[np.ndarray, np.ndarray, list]:
    """Features, labels and class names of one of scikit-learn's bundled CSV tables, read without
    importing scikit-learn (its first line: ``n_samples,n_features,class names...``)."""
    import importlib.util

    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("this dataset ships with scikit-learn: pip install scikit-learn")
    text = (Path(spec.submodule_search_locations[0]) / "datasets" / "data" / file).read_text()
    first, _, body = text.partition("\n")
    names = first.strip().split(",")[2:]
    raw = np.loadtxt(io.StringIO(body), delimiter=",")
    return raw[:, :-1], raw[:, -1].astype(np.int64), names


def _bundled(name: str, file: str, test_fraction: float, seed: int) -> Dataset:
    _check_split_options(test_fraction, seed)
    X, y, names = _sklearn_table(file)
    split = stratified_split(y, test_fraction, seed)
    Z, stats = standardise(X, split == TRAIN)
    info = {"preprocessing": {"source": f"scikit-learn datasets/data/{file}", "classes": names, "split": "stratified",
                              "seed": seed, "test_fraction": test_fraction, "standardised": stats}}
    return Dataset(name, Z, y, split, {"test_fraction": test_fraction, "seed": seed}, info=info)


@DATASETS.register("breast_cancer")
def load_breast_cancer(*, test_fraction: float = 0.25, seed: int = 0) -> Dataset:
    """scikit-learn's bundled Wisconsin breast cancer table: 569 rows, 30 numeric features, 2 classes
    (0 = malignant, 1 = benign); a stratified split by ``seed``, features standardised on the training split."""
    return _bundled("breast_cancer", "breast_cancer.csv", test_fraction, seed)


@DATASETS.register("wine")
def load_wine(*, test_fraction: float = 0.25, seed: int = 0) -> Dataset:
    """scikit-learn's bundled wine table: 178 rows, 13 numeric features, 3 classes; split and scaling as
    ``breast_cancer``."""
    return _bundled("wine", "wine_data.csv", test_fraction, seed)
