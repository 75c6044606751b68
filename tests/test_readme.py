"""The README is the contract: its test command is exactly what CI runs, and it names every preset."""
import re
from pathlib import Path

from condgan.config import list_presets

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    setup = ("set ", "cd ", "bash .ci/")  # shell options, the checkout, machine set-up scripts in .ci/
    ci_lines = [line for line in (ROOT / ".ci" / "run").read_text().splitlines()
                if line.strip() and not line.startswith("#") and not line.startswith(setup)]
    assert len(ci_lines) == 1
    for line in (ROOT / ".ci" / "run").read_text().splitlines():
        if line.startswith("bash .ci/"):
            assert (ROOT / line.split()[1]).is_file(), line
    assert ci_lines[0].strip() in readme


def test_readme_lists_every_preset_and_command():
    readme = (ROOT / "README.md").read_text()
    for name in list_presets():
        assert f"`{name}`" in readme, f"preset {name} missing from the README"
    for command in ("condgan train", "condgan sample", "condgan bench", "condgan presets"):
        assert command in readme
    assert re.search(r"pip install torch==2\.13\.0 -e \. && condgan train", readme)


# ---------------------------------------------------------------------------------------------------------
# The README's examples run, and every flag it names exists where it says.

FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9_-]*")
OTHER_TOOLS = ("torchrun", "pip ", "pytest", "tensorboard", "python3 -m venv")


def _readme_code():
    """(code blocks as lists of lines, inline code spans) of the README."""
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S)
    prose = re.sub(r"```[a-z]*\n.*?```", "", text, flags=re.S)
    return [b.splitlines() for b in blocks], re.findall(r"`([^`\n]+)`", prose)


def _condgan_options() -> dict[str, set[str]]:
    """'train' / 'evaluator train' / ... -> the option strings `condgan` accepts there."""
    import argparse

    from condgan.cli import build_parser

    def walk(parser, prefix):
        found = {}
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    found.update(walk(sub, f"{prefix} {name}".strip()))
        found[prefix] = {o for a in parser._actions for o in a.option_strings}
        return found
    return walk(build_parser(), "")


def _benchmark_options(name: str) -> set[str]:
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-m", f"benchmarks.{name}", "--help"], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert out.returncode == 0, f"python -m benchmarks.{name} --help failed: {out.stderr[-500:]}"
    return set(FLAG.findall(out.stdout))


def _commands(line: str, verbs: dict[str, set[str]]):
    """(where, flags) for each command named on a line: 'condgan VERB ...' or 'python -m benchmarks.NAME ...'."""
    line = line.split("  #")[0]
    for m in re.finditer(r"condgan ((?:[a-z]+)(?: [a-z]+)?)", line):
        words = m.group(1).split()
        verb = " ".join(words) if " ".join(words) in verbs else words[0]
        yield ("condgan", verb), FLAG.findall(line[m.end():].split("condgan ")[0])
    for m in re.finditer(r"python -m benchmarks\.(\w+)", line):
        yield ("benchmarks", m.group(1)), FLAG.findall(line[m.end():])


def test_every_flag_the_readme_names_exists_in_that_commands_help():
    verbs = _condgan_options()
    bench: dict[str, set[str]] = {}

    def options(where):
        kind, name = where
        if kind == "condgan":
            assert name in verbs, f"README names `condgan {name}`, which does not exist"
            return verbs[name]
        if name not in bench:
            bench[name] = _benchmark_options(name)
        return bench[name]

    blocks, spans = _readme_code()
    from torch.distributed.run import get_args_parser
    torchrun = {o for a in get_args_parser()._actions for o in a.option_strings}  # the README's torchrun table
    checked, every = 0, set().union(*verbs.values()) | torchrun
    for lines in blocks:
        where = None
        for line in lines:
            if any(tool in line for tool in OTHER_TOOLS) and "condgan" not in line.split("-m")[-1][:10]:
                where = None
                continue
            found = list(_commands(line, verbs))
            if found:
                for where, flags in found:
                    missing = set(flags) - options(where)
                    assert not missing, f"README: `{' '.join(where)}` has no {sorted(missing)} ({line.strip()})"
                    checked += len(flags)
            elif line.startswith((" ", "\t")) and where is not None:  # a continuation of the last command
                missing = set(FLAG.findall(line)) - options(where)
                assert not missing, f"README: `{' '.join(where)}` has no {sorted(missing)} ({line.strip()})"
            else:
                where = None
    for span in spans:
        found = list(_commands(span, verbs))
        for where, flags in found:
            missing = set(flags) - options(where)
            assert not missing, f"README: `{' '.join(where)}` has no {sorted(missing)} (`{span}`)"
            checked += len(flags)
        if not found and re.fullmatch(r"--[a-z][a-z0-9_-]*( \S+)?", span):  # a flag named alone in prose
            every |= set().union(*bench.values()) if bench else set()
            assert FLAG.match(span).group(0) in every, f"README names `{span}`, which no command accepts"
    assert checked > 30  # the synopses were found


def test_the_readmes_python_examples_run(tmp_path, monkeypatch, tiny_overrides):
    """Each ```python block runs as written, with the tiny test network merged into every config it loads
    (so it takes seconds) and in a scratch folder (its run folders stay there)."""
    import yaml

    import condgan
    from condgan.losses import ADVERSARIAL

    load = condgan.load_config

    def tiny_load(preset="digits", overrides=None):
        if isinstance(overrides, list):
            overrides = {k: yaml.safe_load(v) for k, v in (item.split("=", 1) for item in overrides)}
        merged = {**tiny_overrides, **(overrides or {})}
        merged["train.steps"] = min(int(merged.get("train.steps", 2)), 2)
        return load(preset, merged)
    monkeypatch.setattr(condgan, "load_config", tiny_load)
    monkeypatch.chdir(tmp_path)
    before = set(ADVERSARIAL)
    try:
        examples = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
        assert len(examples) >= 2
        for code in examples:
            exec(compile(code, "README.md", "exec"), {"__name__": "readme_example"})
        assert (tmp_path / "runs" / "my-digits" / "checkpoints").is_dir()
    finally:
        for name in set(ADVERSARIAL) - before:
            del ADVERSARIAL[name]
