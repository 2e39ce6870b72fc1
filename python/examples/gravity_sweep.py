"""A gravity sweep as a pandas frame and a plot of BV/TV against day.

Each gravity level runs the default scene (spin-up at 1 g, 30 days on the
ground, then the level for the rest) with the same seed, so the runs differ
only in the load after day 30.

    python examples/gravity_sweep.py                       # the default scene
    python examples/gravity_sweep.py --dims 32 --days 40 --spin-up-days 10
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

import trabecula


def sweep(levels, dims, days, spin_up_days, seed):
    frames = []
    for gravity in levels:
        scene = trabecula.Scene.default()
        if dims:
            scene.set("lattice.dims", [dims] * 3)
        if days:
            scene.set("days", days)
        if spin_up_days is not None:
            scene.set("spin_up_days", spin_up_days)
        # The flight phase (the second) flies at this level instead of 0 g.
        scene.set("loading.phases[1].gravity", gravity)
        sim = trabecula.Simulation(scene, seed=seed)
        sim.step(days=sim.days)
        frame = sim.timeseries()
        frame.insert(0, "gravity_after_day_30", gravity)
        frames.append(frame)
        print(f"{gravity:4.2f} g: BV/TV {frame.bv_tv.iloc[0]:.4f} → {frame.bv_tv.iloc[-1]:.4f}")
    return pd.concat(frames, ignore_index=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", type=float, nargs="+", default=[0.0, 0.38, 1.0])
    parser.add_argument("--dims", type=int, help="lattice edge in voxels (default: the scene's)")
    parser.add_argument("--days", type=int, help="days after day 0 (default: the scene's)")
    parser.add_argument("--spin-up-days", type=int, help="default: the scene's")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("gravity-sweep"))
    args = parser.parse_args()

    table = sweep(args.levels, args.dims, args.days, args.spin_up_days, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "sweep.csv", index=False)

    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    for gravity, run in table.groupby("gravity_after_day_30"):
        ax.plot(run.day, run.bv_tv / run.bv_tv.iloc[0] * 100.0, label=f"{gravity:g} g")
    ax.axvline(30, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("day")
    ax.set_ylabel("BV/TV, % of day 0")
    ax.set_title("Bone volume after 30 days on the ground, by gravity")
    ax.legend(title="from day 30")
    fig.tight_layout()
    fig.savefig(args.out / "bv_tv.png")
    print(f"{args.out / 'sweep.csv'}: {len(table)} rows; plot {args.out / 'bv_tv.png'}")


if __name__ == "__main__":
    main()
