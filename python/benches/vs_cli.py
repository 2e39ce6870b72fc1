"""Python against the command line on the same scene, and the cost of
fetching a field into numpy. A benchmark, not a test: it prints figures.

    python python/benches/vs_cli.py [--dims 48] [--days 20] [--repeats 3] [--field-edge 128]

Stepping: `trabecula run` (its run.json `steps_s`) against
`Simulation.step(days)` on the same scene and seed, median of the repeats.
Both do the same day: the GPU step, morphometry on the scene's schedule and
the row; the command line also rewrites timeseries.csv each day.
"""

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

import trabecula

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "data" / "plain-1g.toml"


def cli_binary():
    if os.environ.get("TRABECULA_BIN"):
        return os.environ["TRABECULA_BIN"]
    return str(REPO / "target" / "release" / "trabecula")


def stepping(dims, days, repeats):
    sets = {"lattice.dims": [dims] * 3, "days": days}
    cli_steps, py_steps = [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as out:
            args = [cli_binary(), "run", str(FIXTURE), "--out", out]
            for key, value in sets.items():
                args += ["--set", f"{key}={json.dumps(value)}"]
            subprocess.run(args, check=True, capture_output=True)
            cli_steps.append(json.loads((Path(out) / "run.json").read_text())["timings"]["steps_s"])
        scene = trabecula.Scene.load(FIXTURE)
        for key, value in sets.items():
            scene.set(key, value)
        sim = trabecula.Simulation(scene)
        t = time.perf_counter()
        sim.step(days)
        py_steps.append(time.perf_counter() - t)
    cli, py = statistics.median(cli_steps), statistics.median(py_steps)
    print(f"stepping {days} days at {dims}³ (median of {repeats}): "
          f"trabecula run {cli:.2f} s, Simulation.step {py:.2f} s, "
          f"Python/CLI {py / cli:.3f}")
    return cli, py


def field_fetch(edge, repeats):
    scene = trabecula.Scene.load(FIXTURE)
    scene.set("mechanics.model", "uniform")
    volume = np.zeros((edge, edge, edge), np.uint8)
    volume[:, : edge // 2] = 255
    sim = trabecula.Simulation(scene, lattice=volume, voxel_um=20.0)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        field = sim.mineral()
        times.append(time.perf_counter() - t)
    mib = field.nbytes / 2**20
    median = statistics.median(times)
    # numpy adopts the buffer read back from the GPU: it does not own a copy.
    adopted = not field.flags.owndata
    print(f"fetching a {edge}³ float32 field ({mib:.0f} MiB, median of {repeats}): "
          f"{median * 1e3:.1f} ms, {mib / median:.0f} MiB/s; copies: GPU buffer → "
          f"staging buffer → host vector{' (adopted by numpy, no third copy)' if adopted else ' → numpy'}")
    return median


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=int, default=48)
    parser.add_argument("--days", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--field-edge", type=int, default=128)
    args = parser.parse_args()
    print(f"adapter: {trabecula.adapter_info()['name']}")
    stepping(args.dims, args.days, args.repeats)
    field_fetch(args.field_edge, max(args.repeats, 5))


if __name__ == "__main__":
    main()
