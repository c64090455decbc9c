"""Named attack presets: the words the CLI and the runners use for a configured attack.

``online`` / ``offline`` are LiRA's two modes (Carlini et al. 2022), ``rmia`` is RMIA
(Zarifzadeh et al. 2024), ``loss`` the shadow-free LOSS baseline and ``qmia`` the shadow-free
quantile-regression MIA (Bertran et al. 2023; audits only: it fits on the target's non-members).
Two more are chosen by ``muaudit lira`` itself, never typed: ``label-only`` (a target that answers
with labels only) and ``ulira`` (``--method``: the pool's unlearned shadows as the IN side). One
table, used by ``muaudit lira --attack``, ``muaudit pool evaluate --attack`` and every runner;
every preset names a registered attack (``ATTACKS``).

Example:
    >>> from muaudit.attacks.presets import AUDIT_PRESETS, PRESETS, make_preset
    >>> AUDIT_PRESETS
    ('online', 'offline', 'rmia', 'qmia')
    >>> make_preset("offline").config.mode
    'offline'
    >>> make_preset("qmia", AUDIT_PRESETS).name, make_preset("ulira", PRESETS).name
    ('qmia', 'ulira')
"""

from __future__ import annotations

from muaudit.errors import ConfigError

PRESETS: dict[str, tuple[str, dict]] = {
    "online": ("lira", {"mode": "online"}),
    "offline": ("lira", {"mode": "offline"}),
    "rmia": ("rmia", {}),
    "loss": ("loss", {}),
    "qmia": ("qmia", {}),
    "label-only": ("label-only", {}),  # chosen by the audit for a target that answers with labels only
    "ulira": ("ulira", {}),  # chosen by the audit with --method (an [[unlearn]] entry of the pool)
}
AUDIT_PRESETS = ("online", "offline", "rmia", "qmia")  # the presets that audit a target
EVALUATE_PRESETS = ("online", "offline", "rmia", "loss")  # evaluated leave-one-out on a pool


def resolve_preset(name: str, allowed=EVALUATE_PRESETS) -> tuple[str, dict]:
    """``"online"`` -> ``("lira", {"mode": "online"})``; a clear error for an unknown name.

    Example:
        >>> resolve_preset("online")
        ('lira', {'mode': 'online'})
        >>> resolve_preset("loss", AUDIT_PRESETS)
        Traceback (most recent call last):
        muaudit.errors.ConfigError: Expected `attack` in ('online', 'offline', 'rmia', 'qmia'), got 'loss'
    """
    if name not in allowed:
        raise ConfigError(f"Expected `attack` in {tuple(allowed)}, got {name!r}")
    attack, options = PRESETS[name]
    return attack, dict(options)


def make_preset(name: str, allowed=EVALUATE_PRESETS):
    """A fresh, unfitted attack for preset ``name``.

    Example:
        >>> make_preset("rmia").name, make_preset("offline").config.mode
        ('rmia', 'offline')
    """
    from muaudit.attacks.base import make_attack

    attack, options = resolve_preset(name, allowed)
    return make_attack(attack, **options)
