"""Which output of a model with several is the class scores: ``--output NAME``, else the one of shape
``[N, n_classes]``.

Shared by ONNX models (:class:`~muaudit.targets.formats.OnnxRunner`) and inference endpoints
(:mod:`~muaudit.targets.endpoint`). An exporter often adds outputs beside the scores: skl2onnx
writes ``label`` ``[N]`` (int64) before ``probabilities`` ``[N, C]``, or, with its default ZipMap,
a sequence of ``{class: probability}`` maps. The choice and how it was made are recorded in results.
"""

from __future__ import annotations

from dataclasses import dataclass

from muaudit.errors import CheckpointError

SCORES, ZIPMAP, OTHER = "scores", "zipmap", "other"


@dataclass(frozen=True)
class TensorInfo:
    """One input or output as a model declares it.

    Attributes:
        name: the output's name.
        kind: ``scores`` (a float tensor), ``zipmap`` (a sequence of class -> probability maps) or
            ``other`` (labels, strings, ...).
        shape: the declared dimensions (None for a variable one), or None when not declared.
        type: the type as the format writes it (``tensor(float)``, ``FP32``, ...).
    """

    name: str
    kind: str
    shape: tuple | None
    type: str

    def fits(self, n_classes: int | None) -> bool:
        """Could be ``[N, n_classes]`` class scores."""
        if self.kind != SCORES:
            return False
        if self.shape is None:
            return True
        if len(self.shape) != 2:
            return False
        return not n_classes or self.shape[1] in (None, n_classes)

    def to_dict(self) -> dict:
        return {"name": self.name, "type": self.type, "shape": None if self.shape is None else list(self.shape)}

    def __str__(self) -> str:
        dims = "?" if self.shape is None else "[" + ", ".join("N" if d is None else str(d) for d in self.shape) + "]"
        return f"{self.name} {self.type} {dims}"


def choose_output(outputs: list[TensorInfo], *, requested: str | None, n_classes: int | None,
                  source) -> tuple[TensorInfo, str]:
    """The output to read and how it was chosen: ``requested`` by name; else the only one; else the
    one float tensor that can be ``[N, n_classes]``; else the one ZipMap.

    Example:
        >>> outs = [TensorInfo("label", "other", (None,), "tensor(int64)"),
        ...         TensorInfo("probabilities", "scores", (None, 10), "tensor(float)")]
        >>> out, how = choose_output(outs, requested=None, n_classes=10, source="m.onnx")
        >>> out.name, how
        ('probabilities', 'the one of shape [N, n_classes]')
    """
    listing = "; ".join(str(o) for o in outputs)
    if requested is not None:
        found = [o for o in outputs if o.name == requested]
        if not found:
            raise CheckpointError(f"{source} has no output {requested!r} (outputs: {listing})")
        if found[0].kind == OTHER:
            raise CheckpointError(f"{source}: output {found[0]} is not class scores (float [N, n_classes]); "
                                  f"outputs: {listing}")
        return found[0], "named (--output)"
    if len(outputs) == 1:
        return outputs[0], "the only output"
    for kind, how in ((SCORES, "the one of shape [N, n_classes]"), (ZIPMAP, "the one sequence of class maps")):
        candidates = [o for o in outputs if (o.fits(n_classes) if kind == SCORES else o.kind == kind)]
        if len(candidates) == 1:
            return candidates[0], how
        if len(candidates) > 1:
            raise CheckpointError(f"{source} has several outputs that can be class scores "
                                  f"({'; '.join(str(o) for o in candidates)}); pass --output NAME")
    raise CheckpointError(f"{source} has no output of class scores [N, {n_classes or 'n_classes'}] "
                          f"(outputs: {listing}); pass --output NAME")
