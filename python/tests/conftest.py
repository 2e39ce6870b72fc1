"""Shared fixtures: the `trabecula` program beside the module, and a small scene."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

import trabecula

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "data" / "plain-1g.toml"


def cli_binary() -> str:
    """The command-line program to compare with: $TRABECULA_BIN, else the
    cargo build in this repository, else `trabecula` on PATH."""
    if os.environ.get("TRABECULA_BIN"):
        return os.environ["TRABECULA_BIN"]
    for profile in ("debug", "release"):
        path = REPO / "target" / profile / "trabecula"
        if path.exists():
            return str(path)
    found = shutil.which("trabecula")
    if found is None:
        pytest.fail("no trabecula program: build it (cargo build) or set TRABECULA_BIN")
    return found


@pytest.fixture(scope="session")
def cli():
    binary = cli_binary()

    def call(*args: str) -> str:
        done = subprocess.run([binary, *args], capture_output=True, text=True, cwd=REPO)
        assert done.returncode == 0, done.stderr
        return done.stdout

    return call


# A 32³ generated lattice with morphometry every 2 days: small enough for
# seconds on a software adapter, long enough to remodel.
SETS = {"lattice.dims": [32, 32, 32], "days": 4, "outputs.morphometry_every_days": 2}
CLI_SETS = ["--set", "lattice.dims=[32,32,32]", "--set", "days=4", "--set",
            "outputs.morphometry_every_days=2"]


@pytest.fixture
def small_scene():
    scene = trabecula.Scene.load(FIXTURE)
    for key, value in SETS.items():
        scene.set(key, value)
    return scene
