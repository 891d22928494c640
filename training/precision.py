"""Whether this CPU computes bfloat16 natively. Without it (AVX2-only x86, for example) torch emulates bf16
and an autocast forward is many times slower than float32 (measured: LLC update 35 s vs ~1 s per iteration on
an AVX2 EPYC), so the trainers autocast networks on the CPU only where this says yes (CUDA GPUs have bf16)."""

from __future__ import annotations

import functools
import platform
from pathlib import Path

# /proc/cpuinfo flags (x86) or features (aarch64) that mean bf16 matrix arithmetic in hardware
NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})


def cpu_flags(cpuinfo: str) -> set[str]:
    """The CPU feature flags listed in the text of /proc/cpuinfo."""
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            flags.update(value.split())
    return flags


@functools.cache
def cpu_bf16_native() -> bool:
    """True when the CPU has bf16 arithmetic in hardware (Linux: read from /proc/cpuinfo; elsewhere False)."""
    if platform.system() != "Linux":
        return False
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return bool(cpu_flags(text) & NATIVE_BF16_FLAGS)
