"""The built wheel ships the agent presets and env suites (they live outside the package).

Builds the wheel with pip (build isolation fetches hatchling from the package index), unpacks
it away from the checkout and asks the unpacked package for its presets, so only the copies
inside the wheel can be found.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def unpacked_wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if build.returncode != 0:
        pytest.fail(f"pip wheel failed:\n{build.stdout}\n{build.stderr}")
    (wheel,) = out.glob("memrl-*.whl")
    target = out / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(target)
    return target


def test_wheel_holds_every_preset_file(unpacked_wheel: Path) -> None:
    for kind in ("agents", "envs"):
        shipped = {p.name for p in (unpacked_wheel / "memrl" / "_presets" / kind).glob("*.yaml")}
        in_checkout = {p.name for p in (ROOT / kind).glob("*.yaml")}
        assert shipped == in_checkout, kind


def test_installed_package_finds_its_presets_without_the_checkout(unpacked_wheel: Path) -> None:
    script = (
        "import json, memrl, memrl.config as c;"
        "assert 'site' in memrl.__file__, memrl.__file__;"
        "print(json.dumps(sorted(c.agent_presets())));"
        "print(json.dumps(sorted(c.suite_files())));"
        "print(c.load_agent('dnc').memory, c.load_suite('quick').name)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=unpacked_wheel.parent,
        env={**os.environ, "PYTHONPATH": str(unpacked_wheel)},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    agents, suites, loaded = result.stdout.strip().splitlines()
    assert json.loads(agents) == sorted(p.stem for p in (ROOT / "agents").glob("*.yaml"))
    assert json.loads(suites) == sorted(p.stem for p in (ROOT / "envs").glob("*.yaml"))
    assert loaded == "dnc quick"
