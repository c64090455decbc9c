"""Plug a new unlearning method into muaudit through the ``muaudit.methods`` entry point.

    python examples/plugin_method.py            # on a checkpoint of the default digits recipe
    python examples/plugin_method.py --quick    # a tiny recipe (seconds; what CI runs)

The method is ``examples/plugin/noisy_ft.py``; ``examples/plugin/pyproject.toml`` declares it, so
``pip install examples/plugin`` registers it for good. To stay self-contained, this script instead
writes the metadata pip would write (a ``.dist-info`` folder with ``entry_points.txt``) into a
temporary folder (removed at exit) and puts that folder on the Python path. Then it runs the method by name, once through
the registry and once through the CLI (``muaudit unlearn --method noisy-ft``), like a built-in.
"""

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import checkpoint, forget_set, parse_args, write_recipe

PLUGIN = Path(__file__).resolve().parent / "plugin"


def expose_entry_point(site: Path) -> None:
    """What ``pip install examples/plugin`` leaves behind: the module and its entry point, on the path."""
    info = site / "muaudit_noisy_ft-0.1.0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: muaudit-noisy-ft\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[muaudit.methods]\nnoisy-ft = noisy_ft:NoisyFT\n")
    (site / "noisy_ft.py").write_text((PLUGIN / "noisy_ft.py").read_text())
    sys.path.insert(0, str(site))


args = parse_args(__doc__.splitlines()[0])
site = Path(tempfile.mkdtemp(prefix="muaudit-plugin-"))   # not under the results: removed at exit
atexit.register(shutil.rmtree, site, True)
expose_entry_point(site)

from muaudit.jobs.unlearn import unlearn_checkpoint  # noqa: E402
from muaudit.unlearning import get_method  # noqa: E402

method = get_method("noisy-ft")                      # found through the entry point
print(f"registered: {method.name} ({type(method).__module__}.{type(method).__name__}): {method.description}")

recipe = write_recipe(args, "plugin")
model, forget = checkpoint(args, recipe), forget_set(args, recipe)
res = unlearn_checkpoint("noisy-ft", model, forget, args.workdir / "noisy-ft.pt", overrides={"epochs": 2})
print("accuracy before:", {k: round(v, 3) for k, v in res["before"].items()})
print("accuracy after: ", {k: round(v, 3) for k, v in res["after"].items()})

# The CLI finds it the same way (a fresh process: the entry point comes from the path).
env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site.resolve()), os.environ.get("PYTHONPATH", "")])}
cmd = [sys.executable, "-m", "muaudit.cli.main", "unlearn", "--method", "noisy-ft", "--model", str(model),
       "--forget", str(forget), "--out", str(args.workdir / "noisy-ft-cli.pt"), "--set", "noise=0.02"]
out = subprocess.run(cmd, env=env, capture_output=True, text=True)
print(out.stdout.strip() or out.stderr.strip())
sys.exit(out.returncode)
