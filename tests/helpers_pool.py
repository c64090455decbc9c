"""The schema-version-1 writer (copy-on-commit era), kept to test that old pools still open."""

import json

import h5py
import numpy as np


def write_v1_copy(src, dst):
    """A schema-version-1 file as the copy-on-commit store wrote it (chunked gzip rows, NaN
    fill, no checksums), holding the done rows of ``src``."""
    M, N, V, C = src.logits_shape
    with h5py.File(dst, "w") as f:
        f.attrs.update({"schema_version": 1, "spec": json.dumps(src.spec, sort_keys=True),
                        "dataset_fingerprint": src.fingerprint, "muaudit_version": "0.1.0",
                        "engine": src.attrs["engine"], "engine_info": src.attrs["engine_info"], "device": "cpu"})
        f["population"], f["labels"], f["split"] = src.population, src.labels, src.split
        f["keep"], f["seeds"] = src.keep, src.seeds
        f["done"], f["seconds"] = src.done, src.seconds
        ds = f.create_dataset("logits", shape=(M, N, V, C), dtype="f4", chunks=(1, N, V, C), compression="gzip",
                              compression_opts=4, fillvalue=np.nan)
        for m in np.flatnonzero(src.done):
            ds[m] = src.logits([m])[0]
