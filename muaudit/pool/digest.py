"""What a pool's digest covers, in one place (docs/pool-format.md, "Content checksums and the digest").

Everything an audit reads from a pool is either a **part** (an attribute or a dataset of the
root or of a model group, hashed whole) or a **row** (one model's logits, hashed by
:func:`~muaudit.pool.layout.row_checksum`, which binds it to its model index and group). A
schema-version-3 file stores the parts' sha256 in a ``content_sha256`` attribute (root and
each group), checked whenever the file is opened, and each row's checksum in ``checksums``,
checked whenever the row is read. :func:`pool_digest` hashes all of it: two pools with equal
digests hold the same recipe, fingerprint, design, labels, split, population, forget matrices,
group settings and rows, whatever their file layout.

**Adding a dataset to the digest** (e.g. a per-example signal dataset ``signals``) is one line:
append its name to :data:`ROOT_DATASETS` (or :data:`GROUP_DATASETS` for a per-group one).
Writers then store its checksum, readers check it, ``pool verify`` names it when it differs,
and the digest covers it. (Bump ``SCHEMA_VERSION`` in :mod:`muaudit.pool.layout` at the same
time: files written before do not store its checksum.)

Not covered, because no audit reads them and they differ between two builds of one recipe:
``seconds`` and ``sample_gradients`` (wall time and compute), ``engine``, ``engine_info``,
``device`` and ``muaudit_version``.
"""

from __future__ import annotations

import hashlib
import json

import h5py
import numpy as np

from muaudit.pool.layout import CONTENT_ATTR

ROOT_ATTRS = ("spec", "dataset_fingerprint", "dataset_info")
ROOT_DATASETS = ("population", "labels", "split", "keep", "seeds", "forget")
GROUP_ATTRS = ("entry", "method", "config")
GROUP_DATASETS = ("forget",)
_DIGEST_TAG = b"muaudit-pool-digest-v4\0"
_CANONICAL = {"b": "|u1", "i": "<i8", "u": "<i8", "f": "<f8"}  # content, not the stored integer width


def root_parts(f) -> dict[str, str | None]:
    """``{part: sha256 hex}`` of the root's attributes and datasets under the digest (None: absent)."""
    return _parts(f, ROOT_ATTRS, ROOT_DATASETS)


def group_parts(g) -> dict[str, str | None]:
    """``{part: sha256 hex}`` of one model group's attributes and datasets under the digest."""
    return _parts(g, GROUP_ATTRS, GROUP_DATASETS)


def _parts(obj, attrs, datasets) -> dict[str, str | None]:
    out = {name: (_hash_attr(obj.attrs[name]) if name in obj.attrs else None) for name in attrs}
    for name in datasets:
        link = obj.get(name, getlink=True)
        if link is None:
            out[name] = None
            continue
        ds = obj.get(name) if isinstance(link, (h5py.HardLink, h5py.SoftLink)) else None
        ok = isinstance(ds, h5py.Dataset) and not ds.is_virtual and not ds.external
        out[name] = _hash_array(ds[()]) if ok else "not a dataset of this file"
    return out


def _hash_attr(value) -> str:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, str):
        data = b"s" + value.encode("utf-8", "surrogatepass")
    elif isinstance(value, bytes):
        data = b"b" + value
    elif isinstance(value, np.ndarray):
        data = b"a" + f"{value.dtype.str}{list(value.shape)}".encode() + np.ascontiguousarray(value).tobytes()
    else:
        data = b"r" + repr(value).encode()
    return hashlib.sha256(data).hexdigest()


def _hash_array(a) -> str:
    a = np.asarray(a)
    dtype = _CANONICAL.get(a.dtype.kind, a.dtype.str)
    data = np.ascontiguousarray(a, dtype=dtype)
    h = hashlib.sha256(f"{a.dtype.kind}{list(a.shape)}\0".encode())
    h.update(memoryview(data).cast("B") if data.size else b"")
    return h.hexdigest()


def stored_parts(obj) -> dict | None:
    """The ``content_sha256`` attribute as a dict (None when absent or not a JSON object)."""
    raw = obj.attrs.get(CONTENT_ATTR)
    try:
        parts = json.loads(raw)
    except (TypeError, ValueError):
        return None
    return parts if isinstance(parts, dict) else None


def part_problems(prefix: str, stored: dict | None, computed: dict) -> dict[str, str]:
    """``{part: why}`` where the content differs from the stored checksums (``prefix`` names the group)."""
    if stored is None:
        where = f"`{prefix.rstrip('/')}`" if prefix else "the root"
        return {prefix.rstrip("/") or "content_sha256": f"the content checksums of {where} are missing or not JSON"}
    out = {}
    for name in sorted(set(stored) | set(computed)):
        if stored.get(name) != computed.get(name):
            part = f"{prefix}{name}"
            out[part] = (f"`{part}` differs from its stored checksum" if name in stored and name in computed else
                         f"`{part}` is not one of the parts this muaudit checks" if name not in computed else
                         f"`{part}` has no stored checksum")
    return out


def pool_digest(parts: dict[str, dict], rows: dict[str, tuple[np.ndarray, np.ndarray]]) -> str:
    """sha256 hex over every part (``parts[""]`` the root's, ``parts["unlearned/ga"]`` a group's)
    and, per group (``""`` the base shadows), the ``done`` mask and the bound checksums of the
    done rows and of their signals (``rows[group] = (done [M] bool, checksums [M, 32] uint8,
    signal checksums [M, 32] uint8)``, :mod:`muaudit.pool.signals`)."""
    h = hashlib.sha256(_DIGEST_TAG + json.dumps(parts, sort_keys=True).encode())
    for group in sorted(rows):
        done, *sums = rows[group]
        h.update(f"\n{group}:".encode() + np.packbits(done).tobytes())
        for s in sums:
            h.update(np.ascontiguousarray(s[done]).tobytes())
    return h.hexdigest()
