"""The numeric environment: what decides how a CPU rounds, recorded with every result and speed figure.

Training is bitwise deterministic at a fixed seed only within one numeric environment: the same ATen kernels
(`torch.backends.cpu.get_cpu_capability()`), the same oneDNN code path (its ISA), the same CPU model (MKL
dispatches on it), torch version and thread count (reduction order). Another CPU rounds differently, and GAN
training amplifies the difference step by step, so results are compared bitwise only within one environment
(`benchmarks/reproduce.py`).
"""
from __future__ import annotations

import functools
import os
import platform
import re
import subprocess
import sys
from typing import Any

import torch

# the keys that must agree for two runs to be expected bitwise equal
NUMERIC_KEYS = ("cpu_model", "cpu_capability", "onednn_isa", "torch", "threads")

_PROBE = ("import torch\n"
          "with torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON):\n"
          "    torch.nn.functional.conv2d(torch.ones(8, 64, 16, 16), torch.ones(64, 64, 3, 3))\n")


@functools.lru_cache(maxsize=None)
def onednn_isa() -> str:
    """The instruction set oneDNN dispatches to here (e.g. 'Intel AVX-512 with AMX'), as its verbose mode
    prints it. Read in a child process (oneDNN prints from C, at its first primitive); '' when unknown."""
    if not torch.backends.mkldnn.is_available():
        return ""
    try:
        out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=60,
                             env=dict(os.environ)).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
    m = re.search(r"onednn_verbose.*?,cpu,isa:(.*)", out)
    return m.group(1).strip() if m else ""


@functools.lru_cache(maxsize=None)
def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def numeric_environment() -> dict[str, Any]:
    """{cpu_model, cpu_capability, onednn_isa, torch, threads} of this process now."""
    return {"cpu_model": cpu_model(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "onednn_isa": onednn_isa(), "torch": torch.__version__, "threads": torch.get_num_threads()}


def differences(recorded: dict[str, Any] | None, here: dict[str, Any]) -> list[str]:
    """The numeric keys on which `recorded` and `here` differ ('key: recorded -> here'); one line saying so
    when nothing was recorded."""
    if not recorded:
        return ["numeric environment not recorded"]
    return [f"{k}: {recorded.get(k)!r} -> {here.get(k)!r}" for k in NUMERIC_KEYS if recorded.get(k) != here.get(k)]


def describe(env: dict[str, Any]) -> str:
    """One line for tables and logs, e.g. 'AMD EPYC, ATen AVX512, oneDNN Intel AVX-512 ..., 2 threads'."""
    return (f"{env.get('cpu_model')}, ATen {env.get('cpu_capability')}, oneDNN {env.get('onednn_isa') or '?'}, "
            f"torch {env.get('torch')}, {env.get('threads')} threads")
