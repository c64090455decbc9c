"""Leave-one-out attack strength on a built pool; writes the table into docs/attacks.md.

Usage: python benchmarks/pool_strength.py [--pool shadow_models/digits-mlp] [--targets 16] [--no-write]
(build the pool first with `muaudit pool build shadow_models/digits-mlp.toml`).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from muaudit.jobs.evaluate import evaluate_pool

BEGIN, END = "<!-- pool-strength:begin -->", "<!-- pool-strength:end -->"


def pct(entry) -> str:
    if not entry["measurable"]:
        return "unmeasurable"
    return f"{100 * entry['tpr']:.1f}% [{100 * entry['ci'][0]:.1f}, {100 * entry['ci'][1]:.1f}]"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pool", default="shadow_models/digits-mlp")
    ap.add_argument("--targets", type=int, default=16)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    rows = ["| attack | AUC [95% CI] | TPR@0.1%FPR | TPR@1%FPR | epsilon lower bound |", "|---|---|---|---|---|"]
    n = None
    for attack in ("online", "offline", "rmia", "loss"):
        r = evaluate_pool(args.pool, attack=attack, n_targets=args.targets)
        n = r["n_shadows"]
        t = r["tpr_at_fpr"]
        rows.append(f"| {attack} | {r['auc']:.3f} [{r['auc_ci'][0]:.3f}, {r['auc_ci'][1]:.3f}] | {pct(t['0.001'])} | "
                    f"{pct(t['0.01'])} | {r['epsilon_lower_bound']:.2f} |")
    table = "\n".join([f"Pool `{args.pool}` ({n} shadows), leave-one-out over {args.targets} seeded target shadows "
                       "(positives: each target's training examples; negatives: the rest of the population):", "",
                       *rows])
    print(table)
    if not args.no_write:
        doc = Path("docs/attacks.md")
        text = doc.read_text()
        block = f"{BEGIN}\n{table}\n{END}"
        text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), block, text, flags=re.S) if BEGIN in text \
            else text + "\n## Attack strength on the default digits pool\n\n" + block + "\n"
        doc.write_text(text)


if __name__ == "__main__":
    main()
