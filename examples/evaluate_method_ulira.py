"""Evaluate an unlearning method with U-LiRA (Hayes et al. 2024): are its unlearned models
distinguishable from exact retrains, example by example?

    python examples/evaluate_method_ulira.py --method ga           # default digits pool (minutes)
    python examples/evaluate_method_ulira.py --method ga --quick   # a tiny pool (seconds; CI)

The pool recipe gets an ``[[unlearn]]`` entry (as ``shadow_models/digits-mlp-ulira.toml``): every
shadow forgets a random 10% of its training examples with the method, and is retrained exactly
without them. U-LiRA then attacks each shadow with the others (leave-one-out). ``muaudit ulira
--pool DIR --method NAME`` is the same from the command line.
"""

from _common import build, parse_args, write_recipe

from muaudit.jobs.ulira import run_ulira

args = parse_args(__doc__.splitlines()[0], method=("ga", "a registered unlearning method (muaudit methods)"))
entry = f'\n[[unlearn]]\nmethod = "{args.method}"\nretrain = true\nforget_fraction = 0.1\n'
pool = build(args, write_recipe(args, f"ulira-{args.method}", entry))   # WORKDIR/pools/: shadows, unlearned, retrained

results, folder = run_ulira(pool=pool, method=args.method, out=args.workdir / f"ulira-{args.method}")
print(f"{args.method}: {results['verdict']}")
lo, hi = results['auc_ci']
print(f"U-LiRA AUC {results['auc']:.3f} [{lo:.3f}, {hi:.3f}], accuracy {results['ulira_accuracy']['accuracy']:.3f} "
      "(0.5 = indistinguishable from retraining)")
print(f"power control (the original, never unlearned): AUC {results['power_control']['auc']:.3f}")
for reason in results["inconclusive_reasons"]:
    print(f"  inconclusive because {reason}")
print(f"results folder: {folder}")
