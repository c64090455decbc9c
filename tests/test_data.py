"""Datasets: built-ins, local-file formats, fingerprints and index-file validation."""

import gzip
import os
import pickle
import struct

import h5py
import numpy as np
import pytest
from sklearn.datasets import load_digits as sk_digits
from sklearn.model_selection import train_test_split

from muaudit.data import TEST, TRAIN, Dataset, load_dataset, load_index_file, validate_indices
from muaudit.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


# --- digits -------------------------------------------------------------------------------------

def test_digits_arrays(digits):
    bunch = sk_digits()
    assert digits.X.shape == (1797, 1, 8, 8) and digits.X.dtype == np.float32
    assert digits.y.dtype == np.int64 and digits.n_classes == 10
    np.testing.assert_array_equal(digits.X.reshape(1797, 64), (bunch.data / 16).astype(np.float32))
    np.testing.assert_array_equal(digits.y, bunch.target)
    assert digits.X.max() == 1.0 and digits.X.min() == 0.0


def test_digits_split_is_canonical(digits):
    y = sk_digits().target
    train, test = train_test_split(np.arange(1797), test_size=0.25, random_state=0, stratify=y)
    np.testing.assert_array_equal(digits.train_idx, np.sort(train))
    np.testing.assert_array_equal(digits.test_idx, np.sort(test))
    assert len(digits.train_idx) == 1347 and len(digits.test_idx) == 450
    assert np.all(np.diff(digits.train_idx) > 0)


def test_fingerprint_stable_and_sensitive(digits):
    again = load_dataset("digits")
    assert digits.fingerprint == again.fingerprint and len(digits.fingerprint) == 64
    for field in ("X", "y", "split"):
        arrays = {k: getattr(digits, k).copy() for k in ("X", "y", "split")}
        arrays[field].reshape(-1)[5] += 1  # change one value
        changed = Dataset("digits", arrays["X"], arrays["y"], arrays["split"])
        assert changed.fingerprint != digits.fingerprint, field
    same = Dataset("other-name", digits.X.copy(), digits.y.copy(), digits.split.copy())
    assert same.fingerprint == digits.fingerprint


# --- synthetic ----------------------------------------------------------------------------------

def test_synthetic_seeded_and_configurable():
    a = load_dataset("synthetic", n_samples=100, n_classes=3, n_features=7, seed=1)
    b = load_dataset("synthetic", n_samples=100, n_classes=3, n_features=7, seed=1)
    c = load_dataset("synthetic", n_samples=100, n_classes=3, n_features=7, seed=2)
    assert a.X.shape == (100, 7) and a.X.dtype == np.float32 and set(a.y) == {0, 1, 2}
    assert a.fingerprint == b.fingerprint != c.fingerprint
    img = load_dataset("synthetic", n_samples=40, shape=[3, 32, 32], test_fraction=0.25)
    assert img.X.shape == (40, 3, 32, 32) and img.is_image
    assert len(img.test_idx) == 10 and list(img.test_idx) == list(range(30, 40))
    assert img.options["shape"] == [3, 32, 32]


def test_synthetic_bad_options():
    for key, bad, expected in (("n_classes", 1, r"`n_classes` an integer in \[2, 1048576\], got 1"),
                               ("n_classes", "x", r"`n_classes` an integer in \[2, 1048576\], got 'x'"),
                               ("n_samples", 2.5, r"`n_samples` an integer >= 2, got 2.5"),
                               ("shape", "abc", r"`shape` a list of 1 to 3 positive integers, got 'abc'"),
                               ("test_fraction", 1.0, r"`test_fraction` a number >= 0.0 and < 1.0, got 1.0"),
                               ("seed", -1, r"`seed` an integer in \[0, 4294967295\], got -1"),
                               ("n_samples", 10**15, "the synthetic dataset would need .* GiB, more than this machine")):
        with pytest.raises(ConfigError, match=expected):
            load_dataset("synthetic", **{key: bad})
    with pytest.raises(ConfigError, match=r"unknown option 'colour' for dataset 'synthetic'; valid: .*n_samples"):
        load_dataset("synthetic", colour=1)
    with pytest.raises(ConfigError, match=r"unknown dataset 'imagenet'; valid: .*digits"):
        load_dataset("imagenet")


# --- mnist / fashion-mnist (IDX) -----------------------------------------------------------------

def write_idx(path, arr, gz=False):
    arr = np.asarray(arr, np.uint8)
    raw = struct.pack(">HBB", 0, 8, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()
    if gz:
        path = path.with_name(path.name + ".gz")
        raw = gzip.compress(raw)
    path.write_bytes(raw)


def make_idx_folder(folder, gz, n_train=5, n_test=3):
    rng = np.random.default_rng(0)
    parts = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images, labels = rng.integers(0, 256, (n, 4, 4)), rng.integers(0, 10, n)
        write_idx(folder / f"{prefix}-images-idx3-ubyte", images, gz)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", labels, gz)
        parts[prefix] = (images, labels)
    return parts


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
@pytest.mark.parametrize("gz", [False, True])
def test_idx_datasets(tmp_path, name, gz):
    parts = make_idx_folder(tmp_path, gz)
    ds = load_dataset(name, path=str(tmp_path))
    assert ds.name == name and ds.X.shape == (8, 1, 4, 4) and ds.X.dtype == np.float32
    images = np.concatenate([parts["train"][0], parts["t10k"][0]])
    np.testing.assert_allclose(ds.X[:, 0], images / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(ds.y, np.concatenate([parts["train"][1], parts["t10k"][1]]))
    np.testing.assert_array_equal(ds.split, [TRAIN] * 5 + [TEST] * 3)


def test_idx_errors(tmp_path):
    with pytest.raises(DataError, match="set `path`"):
        load_dataset("mnist")
    with pytest.raises(DataError, match=f"dataset folder {tmp_path / 'nope'} does not exist"):
        load_dataset("mnist", path=str(tmp_path / "nope"))
    make_idx_folder(tmp_path, gz=False)
    os.remove(tmp_path / "t10k-labels-idx1-ubyte")
    with pytest.raises(DataError, match=r"missing t10k-labels-idx1-ubyte \(or t10k-labels-idx1-ubyte.gz\)"):
        load_dataset("mnist", path=str(tmp_path))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(2))  # 3 images, 2 labels
    with pytest.raises(DataError, match="t10k has 3 images but 2 labels"):
        load_dataset("mnist", path=str(tmp_path))
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x0d\x01junk")
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte: not a readable IDX file"):
        load_dataset("mnist", path=str(tmp_path))


# --- cifar10 / cifar100 (python pickle batches) -------------------------------------------------

def write_batch(path, n, label_key, seed, protocol=2):
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, (n, 3072)).astype(np.uint8)
    labels = rng.integers(0, 10, n).tolist()
    with open(path, "wb") as f:
        pickle.dump({b"batch_label": b"x", b"data": data, label_key: labels}, f, protocol=protocol)
    return data, labels


def test_cifar10(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    written = [write_batch(folder / f"data_batch_{i}", 2, b"labels", i, protocol=2 + i % 4) for i in range(1, 6)]
    written.append(write_batch(folder / "test_batch", 3, b"labels", 9))
    ds = load_dataset("cifar10", path=str(tmp_path))  # finds the standard sub-folder
    assert ds.X.shape == (13, 3, 32, 32) and ds.X.dtype == np.float32
    data = np.concatenate([d for d, _ in written])
    np.testing.assert_allclose(ds.X.reshape(13, -1), data / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(ds.y, sum((lab for _, lab in written), []))
    np.testing.assert_array_equal(ds.split, [TRAIN] * 10 + [TEST] * 3)


def test_cifar100(tmp_path):
    write_batch(tmp_path / "train", 4, b"fine_labels", 0)
    write_batch(tmp_path / "test", 2, b"fine_labels", 1)
    ds = load_dataset("cifar100", path=str(tmp_path))
    assert ds.X.shape == (6, 3, 32, 32) and list(ds.split) == [0, 0, 0, 0, 1, 1]
    (tmp_path / "test").unlink()
    with pytest.raises(DataError, match="missing CIFAR batch file test"):
        load_dataset("cifar100", path=str(tmp_path))


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_cifar_malicious_pickle_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    write_batch(tmp_path / "train", 2, b"fine_labels", 0)
    with open(tmp_path / "test", "wb") as f:
        pickle.dump({b"data": _Exploit(marker), b"fine_labels": [0]}, f, protocol=2)
    with pytest.raises(DataError, match=r"test: not a CIFAR python batch \(UnpicklingError: refusing to load (posix|os)\.system\)"):
        load_dataset("cifar100", path=str(tmp_path))
    assert not marker.exists()


def test_cifar_wrong_label_key(tmp_path):
    write_batch(tmp_path / "train", 2, b"labels", 0)  # cifar10 key in a cifar100 file
    write_batch(tmp_path / "test", 2, b"fine_labels", 1)
    with pytest.raises(DataError, match="train: not a CIFAR python batch .*fine_labels"):
        load_dataset("cifar100", path=str(tmp_path))


# --- npz / h5 ------------------------------------------------------------------------------------

X6 = np.arange(6 * 4, dtype=np.float32).reshape(6, 4)
Y6 = np.array([0, 1, 2, 0, 1, 2])


@pytest.mark.parametrize("split, expect", [
    (None, [0, 0, 0, 0, 0, 0]),
    (np.array(["train", "test", "train", "train", "test", "train"]), [0, 1, 0, 0, 1, 0]),
    (np.array([0, 1, 1, 0, 0, 0]), [0, 1, 1, 0, 0, 0]),
])
@pytest.mark.parametrize("fmt", ["npz", "h5"])
def test_array_files(tmp_path, fmt, split, expect):
    arrays = {"x": X6, "y": Y6} if split is None else {"x": X6, "y": Y6, "split": split}
    path = tmp_path / f"data.{fmt}"
    if fmt == "npz":
        np.savez(path, **arrays)
    else:
        with h5py.File(path, "w") as f:
            for k, v in arrays.items():
                f[k] = v.astype("S") if v.dtype.kind == "U" else v
    ds = load_dataset(fmt, path=str(path))
    np.testing.assert_array_equal(ds.X, X6)
    np.testing.assert_array_equal(ds.y, Y6)
    np.testing.assert_array_equal(ds.split, expect)


def test_h5_variable_length_strings_and_uint8(tmp_path):
    path = tmp_path / "d.h5"
    with h5py.File(path, "w") as f:
        f["x"] = np.full((3, 2, 2), 255, np.uint8)
        f["y"] = np.array([0, 1, 0])
        f.create_dataset("split", data=["train", "test", "test"], dtype=h5py.string_dtype())
    ds = load_dataset("h5", path=str(path))
    assert ds.X.max() == 1.0 and list(ds.split) == [0, 1, 1]


def test_array_file_errors(tmp_path):
    missing = tmp_path / "none.npz"
    with pytest.raises(DataError, match=f"npz file {missing} does not exist"):
        load_dataset("npz", path=str(missing))
    with pytest.raises(DataError, match=f"h5 file {tmp_path / 'none.h5'} does not exist"):
        load_dataset("h5", path=str(tmp_path / "none.h5"))
    with pytest.raises(DataError, match="set `path`"):
        load_dataset("npz")
    np.savez(tmp_path / "a.npz", x=X6)
    with pytest.raises(DataError, match=r"needs arrays 'x' and 'y', found \['x'\]"):
        load_dataset("npz", path=str(tmp_path / "a.npz"))
    np.savez(tmp_path / "b.npz", x=X6, y=Y6, split=np.array(["train"] * 5 + ["val"]))
    with pytest.raises(DataError, match="split must be"):
        load_dataset("npz", path=str(tmp_path / "b.npz"))
    np.savez(tmp_path / "c.npz", x=np.array([X6[0], "a"], dtype=object), y=Y6[:2])
    with pytest.raises(DataError, match="not a readable .npz file"):
        load_dataset("npz", path=str(tmp_path / "c.npz"))
    np.save(tmp_path / "d.npy", X6)
    with pytest.raises(DataError, match="not an .npz archive"):
        load_dataset("npz", path=str(tmp_path / "d.npy"))
    np.savez(tmp_path / "e.npz", x=X6, y=Y6 - 1)
    with pytest.raises(DataError, match="non-negative integer labels"):
        load_dataset("npz", path=str(tmp_path / "e.npz"))
    (tmp_path / "f.h5").write_bytes(b"not hdf5")
    with pytest.raises(DataError, match="not a readable HDF5 file"):
        load_dataset("h5", path=str(tmp_path / "f.h5"))


# --- index files: every row of the bad-input table ------------------------------------------------

N_TRAIN = 10


def _save(tmp_path, name, arr, **kw):
    p = tmp_path / name
    np.save(p, arr, **kw)
    return p


@pytest.mark.parametrize("name, arr, message", [
    ("floats.npy", np.array([0.5, 1.0]), " holds float64 values (first: 0.5 at position 0); expected integer positions"),
    ("bools.npy", np.array([True, False]), " holds booleans (first: True at position 0); expected integer positions"),
    ("neg.npy", np.array([3, -1, 2, -5]), ": entry -1 at position 1 is negative"),
    ("big.npy", np.array([0, 9, 10, 11]), ": entry 10 at position 2 is >= n_train = 10"),
    ("dup.npy", np.array([4, 2, 4, 2]), ": entry 4 at position 2 is a duplicate"),
    ("first.npy", np.array([1, 1, -1, 12]), ": entry 1 at position 1 is a duplicate"),
    ("first2.npy", np.array([1, 12, -1, 1]), ": entry 12 at position 1 is >= n_train = 10"),
    ("uint.npy", np.array([1, 2**63 + 5], np.uint64), f": entry {2**63 + 5} at position 1 is >= n_train = 10"),
    ("empty.npy", np.array([], np.int64), " is empty"),
    ("twod.npy", np.array([[1, 2], [3, 4]]), " must be 1-D, got shape (2, 2)"),
    ("object.npy", np.array([1, "a"], dtype=object), " holds pickled objects (dtype object); refusing to unpickle it"),
])
def test_index_file_bad_arrays(tmp_path, name, arr, message):
    p = _save(tmp_path, name, arr, allow_pickle=True)
    with pytest.raises(DataError) as err:
        load_index_file(p, N_TRAIN, what="forget")
    assert str(err.value) == f"forget file {p}{message}"


def test_index_file_bad_files(tmp_path):
    cases = {"idx.txt": b"1 2 3", "missing.npy": None, "pickled.npy": pickle.dumps([1, 2, 3]),
             "text.npy": b"1,2,3", "archive.npy": None}
    messages = {
        "idx.txt": "is not a .npy file; save indices with numpy.save",
        "missing.npy": "does not exist",
        "pickled.npy": "holds pickled objects; refusing to unpickle it",
        "text.npy": "is not a .npy file (no NPY header); save the array with numpy.save",
        "archive.npy": "is an .npz archive, not a .npy file; save the array with numpy.save",
    }
    for name, raw in cases.items():
        p = tmp_path / name
        if raw is not None:
            p.write_bytes(raw)
        elif name == "archive.npy":
            with open(p, "wb") as f:
                np.savez(f, a=np.arange(3))
        with pytest.raises(DataError) as err:
            load_index_file(p, N_TRAIN)
        assert str(err.value) == f"index file {p} {messages[name]}", name


def test_index_file_good(tmp_path):
    p = _save(tmp_path, "ok.npy", np.array([7, 0, 9], np.int32))
    out = load_index_file(p, N_TRAIN)
    assert out.dtype == np.int64 and list(out) == [7, 0, 9]
    assert list(validate_indices(np.array([2, 1], np.uint8), 3)) == [2, 1]


def test_index_file_larger_than_memory_is_an_error(tmp_path, monkeypatch):
    """The NPY header is checked against this machine's memory before any data is read."""
    import muaudit.checks

    p = _save(tmp_path, "big.npy", np.arange(1000, dtype=np.int64))
    monkeypatch.setattr(muaudit.checks, "machine_memory", lambda: 4096)  # a machine with 4 KiB
    with pytest.raises(DataError, match=r"forget file .*big.npy would need 7.45e-06 GiB, more than this machine's"):
        load_index_file(p, 2000, what="forget")
    (tmp_path / "claim.npy").write_bytes(p.read_bytes()[:200])  # header claims 1000 entries, data cut
    with pytest.raises(DataError, match=r"claim.npy is truncated: its header claims \(1000,\) int64"):
        load_index_file(tmp_path / "claim.npy", 2000)


def test_synthetic_chunked_draws_equal_one_call():
    """The generator draws its noise in chunks, in a second thread: the data are still
    ``means[y] + rng.normal(size=(n, d))`` from one stream, as one call would draw them."""
    ds = load_dataset("synthetic", n_samples=3000, n_classes=7, shape=[3, 32, 32], class_sep=2.0, seed=5)
    rng = np.random.default_rng(5)
    means = rng.normal(0.0, 2.0, size=(7, 3072))
    y = rng.integers(0, 7, size=3000)
    X = (means[y] + rng.normal(size=(3000, 3072))).astype(np.float32)  # 3 chunks of ~1365 rows in the loader
    np.testing.assert_array_equal(ds.y, y)
    np.testing.assert_array_equal(ds.X.reshape(3000, -1), X)
