"""Providers: what a dishonest (or honest) model provider serves when asked to unlearn.

A plug-in family beside the unlearning methods (:mod:`muaudit.unlearning`): each provider is a
transform ``provider(materials, *, random_state) -> nn.Module`` registered in :data:`PROVIDERS`; the cheats
try to pass an audit without unlearning, the honest references (``retrain``, ``adv-sr``) are real
retrains. ``muaudit evasion`` (:mod:`muaudit.jobs.evasion`) audits every one; see
docs/threat-model.md for what each audit can and cannot rule out.

Example:
    >>> provider_names()[:4]
    ['adv-sr', 'audit-aware', 'confidence-cut', 'exact-match']
    >>> PROVIDERS.get("retrain").honest, PROVIDERS.get("exact-match").honest
    (True, False)
"""

from muaudit.providers.base import PROVIDERS, Materials, Provider, register_provider


def provider_names() -> list[str]:
    """Names of every registered provider."""
    import muaudit.providers.honest  # noqa: F401
    import muaudit.providers.lookup  # noqa: F401
    import muaudit.providers.models  # noqa: F401
    import muaudit.providers.outputs  # noqa: F401

    return PROVIDERS.names()


provider_names()

__all__ = ["PROVIDERS", "Materials", "Provider", "provider_names", "register_provider"]
