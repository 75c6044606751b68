"""Re-render every results block (benchmarks/README.md's tables, spreads and sizing; the main README's digest)
from the committed JSON files, without running anything: after a renderer changes.

    python -m benchmarks.render
"""
from __future__ import annotations

import importlib

from benchmarks.common import EXPERIMENTS, TABLE, update_table


def main() -> None:
    for name in EXPERIMENTS:
        update_table(importlib.import_module(f"benchmarks.{name}"))
    print(f"re-rendered {TABLE} and the README's digest from benchmarks/results/*.json")


if __name__ == "__main__":
    main()
