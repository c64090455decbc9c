"""The shared value of a map, sent once to local worker processes through shared memory.

The value is pickled with protocol 5: its large contiguous buffers (NumPy arrays: the dataset, the
keep matrix) go out of band into one ``multiprocessing.shared_memory`` segment, which every worker
maps; the rest (recipe, small fields) travels with each task as a few bytes. A worker rebuilds the
value once per map (cached by the map's token) with its arrays as zero-copy, read-only views of the
segment, so N workers hold the dataset once, not N times. Only this process's own workers read
these bytes; nothing here reads files.
"""

from __future__ import annotations

import pickle
import uuid
from dataclasses import dataclass
from multiprocessing.shared_memory import SharedMemory
from typing import Any

IN_BAND_LIMIT = 1 << 20  # values whose buffers total less travel whole with every task
_ALIGN = 64


@dataclass(frozen=True)
class SharedRef:
    """What a task carries: the map's ``token``, the pickled value (``data``, its large buffers
    left out) and where those buffers lie in the segment ``segment`` (``spans``: offset, size)."""

    token: str
    data: bytes
    segment: str | None = None
    spans: tuple = ()


class Packed:
    """``shared`` packed for one map; :meth:`close` frees the segment (workers still holding it
    keep their mapping until they drop it)."""

    def __init__(self, shared: Any):
        buffers: list = []
        data = pickle.dumps(shared, protocol=5, buffer_callback=buffers.append)
        raws = [b.raw() for b in buffers]
        self._memory = None
        if sum(r.nbytes for r in raws) < IN_BAND_LIMIT:
            self.ref = SharedRef(uuid.uuid4().hex, pickle.dumps(shared, protocol=5))
            return
        spans, offset = [], 0
        for r in raws:
            spans.append((offset, r.nbytes))
            offset += -(-r.nbytes // _ALIGN) * _ALIGN
        self._memory = SharedMemory(create=True, size=max(offset, 1))
        for (start, size), r in zip(spans, raws):
            self._memory.buf[start:start + size] = r.cast("B")
        self.ref = SharedRef(uuid.uuid4().hex, data, self._memory.name, tuple(spans))

    def close(self) -> None:
        if self._memory is not None:
            self._memory.close()
            self._memory.unlink()
            self._memory = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


_cache: dict = {}  # in a worker: the last map's token, value and segment


def unpack(ref: SharedRef) -> Any:
    """The shared value of ``ref`` (in a worker; rebuilt once per map, then cached)."""
    if _cache.get("token") == ref.token:
        return _cache["value"]
    _release()
    if ref.segment is None:
        value, memory = pickle.loads(ref.data), None
    else:
        memory = SharedMemory(name=ref.segment)
        views = [memory.buf[s:s + n].toreadonly() for s, n in ref.spans]
        value = pickle.loads(ref.data, buffers=views)
    _cache.update(token=ref.token, value=value, memory=memory)
    return value


def _release() -> None:
    memory = _cache.get("memory")
    _cache.clear()
    if memory is not None:
        try:
            memory.close()
        except BufferError:  # a task kept a view: the mapping goes with the process
            pass
