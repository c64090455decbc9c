"""The written schema of ``results.json`` (JSON Schema, draft 2020-12), checked on write and on read.

Every producer (``lira``, ``mia``, ``ulira``, ``poison``, ``pool evaluate``, ``benchmark``) writes a
folder whose ``results.json`` validates against :data:`RESULTS_SCHEMA`; ``report`` and the summary
refuse a file that does not (the file may be someone else's). The verdict words come from one
vocabulary, :data:`muaudit.audit.decision.VERDICTS`. Unknown keys are allowed (producers add
their own tables); the keys listed are typed. docs/results.md documents every property (a test
checks that the page names each one).
"""

from __future__ import annotations

import jsonschema

from muaudit.audit.decision import VERDICTS
from muaudit.errors import MuauditError

SCHEMA_VERSION = 2
_NUM = {"type": ["number", "null"]}
_INT = {"type": ["integer", "null"]}
_STR = {"type": ["string", "null"]}
_INTERVAL = {"type": ["array", "null"], "items": _NUM, "minItems": 2, "maxItems": 2}
_STRINGS = {"type": ["array", "null"], "items": {"type": "string"}}
_OBJ = {"type": ["object", "null"]}
_P = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
_UNIT = {"type": ["number", "null"], "exclusiveMinimum": 0, "maximum": 1}
_VERDICT = {"enum": [*VERDICTS, None]}

DECISION_SCHEMA = {
    "type": "object",
    "required": ["verdict", "reasons", "alpha", "max_residual", "min_power", "rules_out"],
    "properties": {
        "verdict": {"enum": list(VERDICTS)}, "reasons": _STRINGS, "alpha": _UNIT, "max_residual": _UNIT,
        "min_power": _P, "p_value": _P, "p_value_lower": _P, "min_detectable_residual": _P, "power": _P,
        "power_lower": _P, "blockers": _STRINGS, "notes": _STRINGS, "rules_out": {"type": "string"},
    },
}

RESULTS_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "muaudit results.json",
    "type": "object",
    "required": ["kind"],
    "properties": {
        "kind": {"type": "string"}, "title": _STR, "verdict": _VERDICT, "decision": DECISION_SCHEMA,
        "inconclusive_reasons": _STRINGS, "warnings": _STRINGS, "attack": _STR, "method": _STR, "test": _STR,
        "metric": _STR, "p_value": _P, "p_value_lower": _P, "alpha": _UNIT, "max_residual": _UNIT,
        "min_power": _P, "auc": _NUM, "auc_ci": _INTERVAL, "balanced_accuracy": _NUM,
        "balanced_accuracy_ci": _INTERVAL, "epsilon_lower_bound": _NUM, "agreement": _STR,
        "effect": {"type": ["object", "null"], "properties": {"statistic": {"type": "string"}, "value": _NUM,
                                                              "ci": _INTERVAL, "level": _NUM}},
        "tpr_at_fpr": {"type": ["object", "null"], "additionalProperties": {
            "type": "object", "properties": {"tpr": _NUM, "ci": _INTERVAL, "measurable": {"type": "boolean"}}}},
        "power_control": {"type": ["object", "null"], "properties": {
            "auc": _NUM, "auc_ci": _INTERVAL, "power": _P, "power_lower": _P, "p_value": _P,
            "min_detectable_residual": _P}},
        "ulira_accuracy": {"type": ["object", "null"], "properties": {"accuracy": _NUM, "ci": _INTERVAL}},
        "n_forget": _INT, "n_nonmembers": _INT, "n_members": _INT, "n_shadows": _INT, "n_pos": _INT, "n_neg": _INT,
        "population_mia": _OBJ, "sections": _OBJ, "config": _OBJ, "inputs": _OBJ, "environment": _OBJ,
        "compatibility": _OBJ, "attack_config": _OBJ, "calibration": _OBJ, "class_mix": _OBJ, "slices": _OBJ, "queries": _OBJ,
        "schema_version": {"type": "integer"},
    },
}

_VALIDATOR = jsonschema.Draft202012Validator(RESULTS_SCHEMA)


def schema_errors(r) -> list[str]:
    """Every way ``r`` breaks the schema, one line each (``path: message``); empty when it fits.

    Example:
        >>> schema_errors({"kind": "lira", "verdict": "consistent with retraining"})
        []
        >>> schema_errors({"kind": "lira", "verdict": "fine"})[0][:30]
        "verdict: 'fine' is not one of "
    """
    out = []
    for e in sorted(_VALIDATOR.iter_errors(r), key=lambda e: list(map(str, e.absolute_path))):
        where = ".".join(str(p) for p in e.absolute_path) or "(top level)"
        msg = e.message if len(e.message) <= 200 else e.message[:200] + "..."
        out.append(f"{where}: {msg}")
    return out


def validate_results(r, source) -> dict:
    """``r`` when it fits :data:`RESULTS_SCHEMA`, else a :class:`MuauditError` naming ``source`` and
    the first problem."""
    errors = schema_errors(r)
    if errors:
        raise MuauditError(f"{source} is not a muaudit results file: {errors[0]}")
    return r


def schema_properties() -> list[str]:
    """Every documented property name (top level, ``decision.*``, ``effect.*``, ``power_control.*``)."""
    props = list(RESULTS_SCHEMA["properties"])
    for key in ("decision", "effect", "power_control"):
        props += [f"{key}.{k}" for k in RESULTS_SCHEMA["properties"][key]["properties"]]
    return props
