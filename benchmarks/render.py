"""Re-render every results block (benchmarks/README.md's tables, spreads and sizing; the main README's digest)
from the committed JSON files, without running anything: after a renderer changes. `--figures` redraws the
figures too.

    python -m benchmarks.render [--figures]
"""
from __future__ import annotations

import argparse
import importlib

from benchmarks.common import EXPERIMENTS, FIGURES, TABLE, Context, load_results, update_table


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--figures", action="store_true", help="redraw every committed result's figures as well")
    args = p.parse_args()
    for name in EXPERIMENTS:
        exp = importlib.import_module(f"benchmarks.{name}")
        update_table(exp)
        for r in (r for r in load_results(name) if args.figures and not r["smoke"]):
            ctx = Context(name, r["scale"], r["seed"], False, r["data"], "", {}, r["eval"], FIGURES, FIGURES, FIGURES)
            print("drew", *exp.figures(ctx, r))
    print(f"re-rendered {TABLE} and the README's digest from benchmarks/results/*.json")


if __name__ == "__main__":
    main()
