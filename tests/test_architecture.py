"""The layout rules of docs/architecture.md, checked."""

import ast
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1] / "muaudit"


def test_array_level_packages_import_no_torch():
    code = ("import sys, muaudit.attacks, muaudit.metrics, muaudit.audit, muaudit.attacks.presets; "
            "bad = [m for m in ('torch', 'h5py', 'click') if m in sys.modules]; print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"array-level packages imported {out}"


def _imports(path: pathlib.Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_no_library_module_imports_click():
    offenders = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*.py")
                 if "cli" not in p.relative_to(ROOT).parts and "click" in _imports(p)]
    assert offenders == []


def test_cli_imports_only_runners_report_and_vocabulary():
    allowed = ("muaudit.jobs", "muaudit.report", "muaudit.cli", "muaudit.errors", "muaudit.attacks.presets",
               "muaudit.unlearning", "muaudit.poisoning", "muaudit.pool", "muaudit.data", "muaudit.checks",
               "muaudit.training", "muaudit.execution", "muaudit.paths", "muaudit.audit.decision",
               "muaudit.progress", "muaudit.threads")
    bad = []
    for p in (ROOT / "cli").glob("*.py"):
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("muaudit."):
                if not node.module.startswith(allowed):
                    bad.append(f"{p.name}: {node.module}")
    assert bad == []


def _private_imports(source: str, package: str) -> list[str]:
    """``from muaudit.x import _name``, ``module._name`` on an imported muaudit module, and a private
    module (``muaudit.pkg._mod``) imported from outside its package ``pkg``, in a module of ``package``."""
    tree, found, modules = ast.parse(source), [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("muaudit"):
            parts = node.module.split(".")
            if any(p.startswith("_") for p in parts) and ".".join(parts[:-1]) != package:
                found.append(f"module {node.module}")
            found += [f"{node.module}.{a.name}" for a in node.names if a.name.startswith("_")]
            modules.update(a.asname or a.name for a in node.names)
        elif isinstance(node, ast.Import):
            modules.update(a.asname or a.name.split(".")[0] for a in node.names if a.name.startswith("muaudit"))
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules
                and node.attr.startswith("_") and not node.attr.startswith("__")):
            found.append(f"{node.value.id}.{node.attr}")
    return found


def test_no_module_imports_a_private_name_of_another():
    bad = [f"{p.relative_to(ROOT)}: {name}" for p in sorted(ROOT.rglob("*.py"))
           for name in _private_imports(p.read_text(), ".".join(("muaudit",) + p.relative_to(ROOT).parts[:-1]))]
    assert bad == [], "shared helpers need public names (docs/architecture.md, Names and imports)"


def test_private_import_check_finds_each_form():
    src = ("from muaudit.audit.verdict import _x\nfrom muaudit.poisoning._grads import flat\n"
           "from muaudit.pool import validate as v\nv._ids([1])\nfrom muaudit.audit._own import y\n"
           "import muaudit.checks\nmuaudit.checks.check_finite\nx.__name__\n")
    found = _private_imports(src, "muaudit.audit")
    assert found == ["muaudit.audit.verdict._x", "module muaudit.poisoning._grads", "v._ids"]


def test_cli_does_not_orchestrate():
    """cli/ only parses options and calls a runner (muaudit.jobs): it opens no recipe, pool or
    dataset itself (muaudit.pool only for the option vocabulary of muaudit.pool.spec), nor a
    model, a checkpoint or a target."""
    forbidden = ("muaudit.pool", "muaudit.data", "muaudit.models", "muaudit.targets", "muaudit.sisa")
    vocabulary = ("muaudit.pool.spec",)
    bad = []
    for p in (ROOT / "cli").glob("*.py"):
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                m = node.module
                if any(m == f or m.startswith(f + ".") for f in forbidden) and not m.startswith(vocabulary):
                    bad.append(f"{p.name}: {m}")
    assert bad == [], "cli/ orchestrates: move the work into a runner in muaudit/jobs/"


def test_one_target_loader():
    """Every target is opened by muaudit.targets.open_target: no module outside targets/ reads a
    target's format itself (torch.jit.load, onnxruntime, safetensors)."""
    bad = []
    for p in ROOT.rglob("*.py"):
        if "targets" in p.relative_to(ROOT).parts:
            continue
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "torch.jit.load":
                bad.append(f"{p.name}: torch.jit.load")
        bad += [f"{p.name}: {m}" for m in _imports(p) & {"onnxruntime", "safetensors"}]
    assert bad == []


DEPRECATED_RANDOMNESS = {"run_unlearning": "seed", "UnlearningMethod.__call__": "generator", "Provider.__call__": "seed"}


def _exported_callables():
    """Functions and the public methods of classes that muaudit's packages export (``__all__``, or
    their public names), defined in muaudit."""
    import dataclasses
    import importlib
    import inspect
    import pkgutil

    import muaudit

    seen = {}
    for info in pkgutil.walk_packages(muaudit.__path__, "muaudit."):
        if not info.ispkg:
            continue
        mod = importlib.import_module(info.name)
        for name in getattr(mod, "__all__", [n for n in dir(mod) if not n.startswith("_")]):
            obj = getattr(mod, name, None)
            if not getattr(obj, "__module__", "").startswith("muaudit"):
                continue
            if inspect.isfunction(obj):
                seen[obj.__qualname__] = obj
            elif inspect.isclass(obj):
                for m, f in inspect.getmembers(obj, inspect.isfunction):
                    if (m == "__call__" or not m.startswith("_")) and f.__module__.startswith("muaudit"):
                        seen[f.__qualname__] = f
                if not dataclasses.is_dataclass(obj):  # a dataclass's fields are records (a recipe's `seed`)
                    seen[f"{obj.__qualname__}.__init__"] = obj.__init__
    return seen


def test_randomness_is_called_random_state_in_the_exported_api():
    import inspect

    bad = []
    for qualname, fn in _exported_callables().items():
        try:
            params = inspect.signature(fn).parameters
        except (TypeError, ValueError):
            continue
        bad += [f"{qualname}({p})" for p in params if p in ("seed", "rng", "generator")
                and DEPRECATED_RANDOMNESS.get(qualname) != p]
    assert bad == [], "randomness is `random_state` (docs/architecture.md, Names and imports)"


def test_the_torch_free_option_table_is_every_built_in_architectures_signature():
    """muaudit.models.options lists each built-in architecture's options (checked without torch);
    they must be the options its builder takes, in order."""
    import inspect

    from muaudit.models.archs import ARCHS
    from muaudit.models.factory import SUPPLIED
    from muaudit.models.options import OPTION_CHECKS

    assert sorted(OPTION_CHECKS) == ARCHS.names()
    for name, checks in OPTION_CHECKS.items():
        params = inspect.signature(ARCHS.get(name)).parameters
        assert list(checks) == [k for k, p in params.items() if p.kind is p.KEYWORD_ONLY and k not in SUPPLIED], name
