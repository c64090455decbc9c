"""Audit a checkpoint from Python with ``muaudit.audit_checkpoint``.

    python examples/audit_checkpoint.py            # default digits pool (built once, minutes)
    python examples/audit_checkpoint.py --quick    # a tiny pool (seconds; what CI runs)

The audit is the last block. Before it, the example makes its inputs: a shadow pool, a forget set,
and a checkpoint trained on everything (never unlearned), which the audit should catch.
"""

import numpy as np
from _common import build, checkpoint, forget_set, parse_args, write_recipe

import muaudit

args = parse_args(__doc__.splitlines()[0])
recipe = write_recipe(args, "audit-pool")
pool, forget = build(args, recipe), forget_set(args, recipe)
target = checkpoint(args, recipe)        # a path, an nn.Module or a logits array all work

results = muaudit.audit_checkpoint(target, np.load(forget), pool, out=args.workdir / "audit")
print(f"verdict: {results['verdict']}")
print(f"p-value {results['p_value']:.3g}, AUC {results['auc']:.3f}, power {results['power_control'].get('power')}")
for reason in results["inconclusive_reasons"]:
    print(f"  inconclusive because {reason}")
print(f"results folder: {results['folder']} (render it with `muaudit report {results['folder']} --html`)")
