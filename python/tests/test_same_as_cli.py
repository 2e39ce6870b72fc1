"""The Python path gives what the command line gives, for the same input."""

import csv
import json

import numpy as np

import trabecula
from conftest import CLI_SETS, FIXTURE


def rows(path):
    """timeseries.csv without its wall-time column."""
    with open(path, newline="") as f:
        table = list(csv.DictReader(f))
    for row in table:
        del row["wall_s"]
    return table


def raw(path):
    return path.read_bytes()


def test_stepping_from_python_writes_the_run_of_trabecula_run(tmp_path, cli, small_scene):
    cli("run", str(FIXTURE), "--out", str(tmp_path / "cli"), "--seed", "3", *CLI_SETS)
    sim = trabecula.Simulation(small_scene, seed=3)
    assert sim.day == 0
    sim.step(days=2)
    sim.step(days=2)
    assert sim.day == 4
    sim.write_run(tmp_path / "py")
    assert rows(tmp_path / "py" / "timeseries.csv") == rows(tmp_path / "cli" / "timeseries.csv")
    for name in ("lattice_start.raw", "lattice_end.raw"):
        assert raw(tmp_path / "py" / name) == raw(tmp_path / "cli" / name), name
    record = json.loads((tmp_path / "py" / "run.json").read_text())
    assert record["status"] == "finished" and record["seed"] == 3
    # The frame holds the same numbers as the CSV.
    frame = sim.timeseries()
    cli_rows = rows(tmp_path / "cli" / "timeseries.csv")
    assert list(frame.columns[:-1]) == list(cli_rows[0].keys())
    for column in ("day", "bv_tv", "osteoclasts", "tb_th_um", "mean_rankl"):
        expected = [float(r[column]) if r[column] != "" else np.nan for r in cli_rows]
        np.testing.assert_array_equal(frame[column].to_numpy(dtype=float), expected)


def test_run_is_trabecula_run_with_progress(tmp_path, cli):
    cli("run", str(FIXTURE), "--out", str(tmp_path / "cli"), *CLI_SETS)
    scene = trabecula.Scene.load(FIXTURE)
    scene.set("lattice.dims", [32, 32, 32])
    scene.set("outputs.morphometry_every_days", 2)
    seen = []
    out = trabecula.run(scene, out=tmp_path / "py", days=4,
                        progress=lambda day, last: seen.append((day, last)))
    assert out == tmp_path / "py"
    assert seen == [(1.0, 4), (2.0, 4), (3.0, 4), (4.0, 4)]
    assert rows(out / "timeseries.csv") == rows(tmp_path / "cli" / "timeseries.csv")
    assert raw(out / "lattice_end.raw") == raw(tmp_path / "cli" / "lattice_end.raw")


def test_morphometry_of_an_array_is_morph_json_of_the_volume(tmp_path, cli, small_scene):
    sim = trabecula.Simulation(small_scene)
    sim.write_run(tmp_path / "run")
    volume = sim.mineral()
    expected = json.loads(cli("morph", "--volume", str(tmp_path / "run" / "lattice_start.mhd"), "--json"))
    got = trabecula.morphometry(volume, voxel_um=sim.voxel_um)
    assert got == expected
    centre = json.loads(cli("morph", "--volume", str(tmp_path / "run" / "lattice_start.mhd"), "--json",
                            "--thickness-convention", "centre-to-centre"))
    assert trabecula.morphometry(volume, sim.voxel_um,
                                 thickness_convention="centre-to-centre") == centre


def test_solve_fe_is_trabecula_mech(tmp_path, cli, small_scene):
    sim = trabecula.Simulation(small_scene)
    sim.write_run(tmp_path / "run")
    cli("mech", "--volume", str(tmp_path / "run" / "lattice_start.mhd"),
        "--out", str(tmp_path / "mech"))
    mech = json.loads((tmp_path / "mech" / "mech.json").read_text())
    fe = trabecula.solve_fe(sim.mineral(), voxel_um=sim.voxel_um)
    for key in ("reaction_force_n", "apparent_modulus_mpa", "iterations", "relative_residual",
                "voxels_solved"):
        assert fe[key] == mech[key], key
    assert fe["sed"].shape == sim.shape and fe["sed"].dtype == np.float32
    assert fe["sed"].tobytes() == (tmp_path / "mech" / "sed.raw").read_bytes()
    assert fe["displacement"].tobytes() == (tmp_path / "mech" / "displacement.raw").read_bytes()
