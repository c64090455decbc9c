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
