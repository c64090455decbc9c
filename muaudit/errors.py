"""One error hierarchy: every user mistake is a :class:`MuauditError` with a one-line message.

The CLI turns any ``MuauditError`` into ``Error: <message>`` and exit code 2.
"""


class MuauditError(Exception):
    """Base class of all errors caused by bad input or state the user can fix."""


class DataError(MuauditError):
    """A dataset, split or index file is missing or malformed."""


class CheckpointError(MuauditError):
    """A checkpoint, state_dict, TorchScript archive or logits file cannot be used."""


class EndpointError(CheckpointError):
    """A deployed model (an inference endpoint) cannot be reached or answers something unusable."""


class ArchitectureMismatch(CheckpointError):
    """A state_dict's keys or shapes do not fit the architecture it is loaded into."""


class CheckpointWriteError(CheckpointError):
    """A checkpoint could not be written (disk full, no permission, ...)."""


class ConfigError(MuauditError):
    """A recipe or configuration has unknown keys, wrong types or unknown names."""


class PoolError(MuauditError):
    """A shadow-model pool is missing, unfinished, locked, corrupt or does not fit."""


def reason(e: BaseException, limit: int = 160) -> str:
    """The first line of an exception's message (its type name when the message is empty), for
    ``Error:`` lines that quote what a library said."""
    text = str(e).strip()
    line = text.splitlines()[0] if text else type(e).__name__
    return line[:limit]
