"""Datasets from local files in their standard formats; nothing is downloaded.

- ``mnist`` / ``fashion-mnist``: the four IDX files (optionally ``.gz``) in ``path``.
- ``cifar10`` / ``cifar100``: the python pickle batches in ``path`` (read with a restricted
  unpickler that only rebuilds dicts, lists, bytes and numpy arrays).
- ``npz`` / ``h5``: arrays ``x``, ``y`` and optional ``split`` (``"train"``/``"test"`` strings or
  0/1); without ``split`` every example is in the training split.
"""

from __future__ import annotations

import gzip
import io
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np

from muaudit.checks import check_fits_memory
from muaudit.data.dataset import TEST, TRAIN, Dataset
from muaudit.data.registry import DATASETS
from muaudit.errors import DataError, reason


def _find(folder: Path, stem: str) -> Path:
    for cand in (folder / stem, folder / f"{stem}.gz"):
        if cand.is_file():
            return cand
    raise DataError(f"{folder}: missing {stem} (or {stem}.gz)")


def _read_idx(path: Path, ndim: int) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
        zero, dtype_code, nd = struct.unpack(">HBB", raw[:4])
        if zero != 0 or dtype_code != 0x08 or nd != ndim:
            raise ValueError(f"expected the header of a {ndim}-D unsigned-byte IDX file")
        dims = struct.unpack(f">{nd}I", raw[4:4 + 4 * nd])
        return np.frombuffer(raw, np.uint8, offset=4 + 4 * nd).reshape(dims)
    except (OSError, ValueError, EOFError, struct.error) as e:
        raise DataError(f"{path}: not a readable IDX file ({e})") from None


def _folder(path) -> Path:
    if path is None:
        raise DataError("this dataset is read from local files: set `path` to their folder")
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise DataError(f"dataset folder {folder} does not exist")
    return folder


def _load_idx_dataset(name: str, path) -> Dataset:
    folder = _folder(path)
    parts = []
    for p in ("train", "t10k"):
        images = _read_idx(_find(folder, f"{p}-images-idx3-ubyte"), 3)
        labels = _read_idx(_find(folder, f"{p}-labels-idx1-ubyte"), 1)
        if len(images) != len(labels):
            raise DataError(f"{folder}: {p} has {len(images)} images but {len(labels)} labels")
        parts.append((images, labels))
    X = np.concatenate([x for x, _ in parts]).astype(np.float32)[:, None] / 255.0
    y = np.concatenate([t for _, t in parts])
    split = np.repeat([TRAIN, TEST], [len(parts[0][1]), len(parts[1][1])])
    return Dataset(name, X, y, split, {"path": str(folder)})


@DATASETS.register("mnist")
def load_mnist(*, path=None) -> Dataset:
    """MNIST from the IDX files in ``path``: X = pixels / 255, ``[70000, 1, 28, 28]``."""
    return _load_idx_dataset("mnist", path)


@DATASETS.register("fashion-mnist")
def load_fashion_mnist(*, path=None) -> Dataset:
    """Fashion-MNIST from the IDX files in ``path`` (same layout as MNIST)."""
    return _load_idx_dataset("fashion-mnist", path)


class _ArrayUnpickler(pickle.Unpickler):
    """Rebuilds only plain containers and numpy arrays; any other class is refused."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def _read_cifar_batch(path: Path, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        d = _ArrayUnpickler(io.BytesIO(path.read_bytes()), encoding="bytes").load()
        if not isinstance(d, dict):
            raise TypeError(f"expected a dict, got {type(d).__name__}")
        d = {k.decode() if isinstance(k, bytes) else k: v for k, v in d.items()}
        X = np.asarray(d["data"], np.uint8).reshape(-1, 3, 32, 32)
        y = np.asarray(d[label_key], np.int64).reshape(-1)
    except (OSError, pickle.UnpicklingError, KeyError, ValueError, EOFError, TypeError, AttributeError) as e:
        raise DataError(f"{path}: not a CIFAR python batch ({type(e).__name__}: {e})") from None
    if len(X) != len(y):
        raise DataError(f"{path}: {len(X)} images but {len(y)} labels")
    return X, y


def _load_cifar(name: str, path, files: list[list[str]], label_key: str) -> Dataset:
    expected = ", ".join(f for names in files for f in names)
    if path is not None and not Path(path).expanduser().is_dir():
        raise DataError(f"{name}: dataset folder {Path(path).expanduser()} does not exist; set [dataset] path to "
                        f"the folder of the python batches ({expected}), as unpacked from the "
                        f"{name.replace('cifar', 'cifar-')}-python.tar.gz archive")
    folder = _folder(path)
    for sub in ("cifar-10-batches-py", "cifar-100-python"):
        if (folder / sub).is_dir():
            folder = folder / sub
    Xs, ys, split = [], [], []
    for code, names in zip((TRAIN, TEST), files):
        for fname in names:
            if not (folder / fname).is_file():
                raise DataError(f"{folder}: missing CIFAR batch file {fname} ({name} needs {expected})")
            X, y = _read_cifar_batch(folder / fname, label_key)
            Xs.append(X), ys.append(y), split.append(np.full(len(y), code))
    X = np.concatenate(Xs).astype(np.float32) / 255.0
    return Dataset(name, X, np.concatenate(ys), np.concatenate(split), {"path": str(folder)})


@DATASETS.register("cifar10")
def load_cifar10(*, path=None) -> Dataset:
    """CIFAR-10 from the python batches: X = pixels / 255, ``[60000, 3, 32, 32]``."""
    return _load_cifar("cifar10", path, [[f"data_batch_{i}" for i in range(1, 6)], ["test_batch"]], "labels")


@DATASETS.register("cifar100")
def load_cifar100(*, path=None) -> Dataset:
    """CIFAR-100 (fine labels) from the python files ``train`` and ``test``."""
    return _load_cifar("cifar100", path, [["train"], ["test"]], "fine_labels")


def _arrays_to_dataset(name: str, path: Path, x, y, split) -> Dataset:
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim < 2 or y.ndim != 1 or len(x) != len(y) or len(y) == 0:
        raise DataError(f"{path}: expected x [N, ...] and y [N] with N >= 1, got shapes {x.shape} and {y.shape}")
    if x.dtype.kind not in "biuf":
        raise DataError(f"{path}: x must be numeric, got dtype {x.dtype}")
    if not np.issubdtype(y.dtype, np.integer) or (len(y) and y.min() < 0):
        raise DataError(f"{path}: y must hold non-negative integer labels")
    x = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)
    if not np.isfinite(x).all():
        raise DataError(f"{path}: x contains NaN or inf")
    if split is None:
        codes = np.zeros(len(y), np.int8)
    else:
        split = np.asarray(split)
        if split.dtype.kind in "US":
            split = split.astype(str)
            bad = ~np.isin(split, ["train", "test"])
            codes = (split == "test").astype(np.int8)
        else:
            bad = ~np.isin(split, [TRAIN, TEST])
            codes = split.astype(np.int8)
        if split.shape != y.shape or bad.any():
            raise DataError(f"{path}: split must be [N] of 'train'/'test' or 0/1")
    if not (codes == TRAIN).any():
        raise DataError(f"{path}: no example is in the training split")
    return Dataset(name, x, y, codes, {"path": str(path)})


@DATASETS.register("npz")
def load_npz(*, path=None) -> Dataset:
    """Arrays ``x``, ``y``, optional ``split`` from an ``.npz`` file (no pickles)."""
    p = _file(path, "npz")
    with open(p, "rb") as f:
        head = f.read(6)
    if head == b"\x93NUMPY":
        raise DataError(f"{p}: not an .npz archive but a single .npy array (save x, y with numpy.savez)")
    if not head.startswith(b"PK\x03\x04"):
        raise DataError(f"{p}: not an .npz archive (save x, y with numpy.savez)")
    try:
        z = np.load(p, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"{p}: not a readable .npz file ({reason(e)})") from None
    if not isinstance(z, np.lib.npyio.NpzFile):
        raise DataError(f"{p}: not an .npz archive (save it with numpy.savez)")
    with z:
        if "x" not in z.files or "y" not in z.files:
            raise DataError(f"{p}: needs arrays 'x' and 'y', found {sorted(z.files)}")
        try:
            arrays = [z[k] if k in z.files else None for k in ("x", "y", "split")]
        except MemoryError:
            raise DataError(f"{p}: its arrays do not fit this machine's memory") from None
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
            raise DataError(f"{p}: not a readable .npz file ({reason(e)})") from None
    return _arrays_to_dataset("npz", p, *arrays)


@DATASETS.register("h5")
def load_h5(*, path=None) -> Dataset:
    """Datasets ``x``, ``y``, optional ``split`` from an HDF5 file."""
    import h5py

    p = _file(path, "h5")
    try:
        with h5py.File(p, "r") as f:
            if not all(isinstance(f.get(k), h5py.Dataset) for k in ("x", "y")):
                raise DataError(f"{p}: needs datasets 'x' and 'y', found {sorted(f.keys())}")
            for k in ("x", "y", "split"):
                if isinstance(f.get(k), h5py.Dataset):
                    check_fits_memory(f"{p}: dataset {k!r}", f[k].size * f[k].dtype.itemsize)
            split = f["split"][()] if isinstance(f.get("split"), h5py.Dataset) else None
            x, y = f["x"][()], f["y"][()]
    except OSError as e:
        raise DataError(f"{p}: not a readable HDF5 file ({e})") from None
    if split is not None and split.dtype.kind == "O":
        split = np.asarray([s.decode() if isinstance(s, bytes) else s for s in split])
    return _arrays_to_dataset("h5", p, x, y, split)


def _file(path, kind: str) -> Path:
    if path is None:
        raise DataError(f"the {kind} dataset is read from a local file: set `path`")
    p = Path(str(path)).expanduser()
    if not p.is_file():
        raise DataError(f"{kind} file {p} does not exist")
    return p
