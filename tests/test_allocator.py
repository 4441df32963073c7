"""The allocator tuning applies on glibc Linux, and not when the user set malloc up or asked not to."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

PROBE = "from jepawatch.allocator import reuse_freed_memory as r; print(r(), r())"


def probe(**env_changes) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k not in ("LD_PRELOAD", "GLIBC_TUNABLES")}
    env.update(env_changes)
    return subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True).stdout.split()


@pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_the_tuning_applies_once_and_steps_aside_for_the_users_own_settings():
    assert probe() == ["True", "True"]
    assert probe(JEPAWATCH_MALLOC_TUNING="0") == ["False", "False"]
    assert probe(MALLOC_ARENA_MAX="2") == ["False", "False"]
