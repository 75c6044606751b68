"""The README is the contract: its test command is exactly what CI runs, and it names every preset."""
import re
from pathlib import Path

from condgan.config import list_presets

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci_lines = [line for line in (ROOT / ".ci" / "run").read_text().splitlines()
                if line.strip() and not line.startswith("#") and not line.startswith(("set ", "cd "))]
    assert len(ci_lines) == 1
    assert ci_lines[0].strip() in readme


def test_readme_lists_every_preset_and_command():
    readme = (ROOT / "README.md").read_text()
    for name in list_presets():
        assert f"`{name}`" in readme, f"preset {name} missing from the README"
    for command in ("condgan train", "condgan sample", "condgan bench", "condgan presets"):
        assert command in readme
    assert re.search(r"pip install torch==2\.13\.0 -e \. && condgan train", readme)
