"""Arrays, cells, checkpoints and interrupts of a Simulation."""

import os
import signal
import threading

import numpy as np
import pytest

import trabecula


def test_fields_are_float32_in_z_y_x_order(small_scene):
    # Unequal edges: a transposed array would have the wrong shape.
    small_scene.set("lattice.dims", [24, 20, 16])
    sim = trabecula.Simulation(small_scene)
    assert sim.shape == (16, 20, 24)
    for field in (sim.mineral(), sim.sed(), sim.rankl(), sim.sclerostin()):
        assert field.shape == (16, 20, 24) and field.dtype == np.float32
    mineral = sim.mineral()
    assert 0.0 <= mineral.min() and mineral.max() <= 1.0
    bv_tv = float((mineral >= 0.5).mean())
    assert bv_tv == pytest.approx(sim.timeseries()["bv_tv"][0], abs=1e-6)
    assert sim.voxel_um == 20.0


def test_a_numpy_lattice_is_simulated_as_given(small_scene):
    # A wall from the bottom to the top of a 24 × 16 × 16 (z, y, x) block
    # (it carries the load), uint8 0/255.
    volume = np.zeros((24, 16, 16), dtype=np.uint8)
    volume[:, 4:12, 6:10] = 255
    sim = trabecula.Simulation(small_scene, lattice=volume, voxel_um=25.0)
    assert sim.shape == (24, 16, 16) and sim.voxel_um == 25.0
    np.testing.assert_array_equal(sim.mineral(), volume / 255.0)
    as_float = trabecula.Simulation(small_scene, lattice=volume.astype(np.float32) / 255.0,
                                    voxel_um=25.0)
    np.testing.assert_array_equal(as_float.mineral(), sim.mineral())
    sim.step(2)
    assert sim.day == 2


def test_agents_are_the_cells_counted_in_the_time_series(small_scene):
    sim = trabecula.Simulation(small_scene)
    sim.step(2)
    cells = sim.agents()
    last = sim.timeseries().iloc[-1]
    alive = cells[cells.state == "alive"]
    assert (alive.kind == "osteocyte").sum() == last.osteocytes_alive
    assert (alive.kind == "osteoclast").sum() == last.osteoclasts
    assert (alive.kind == "osteoblast").sum() == last.osteoblasts
    z, y, x = sim.shape
    assert cells.z.max() < z and cells.y.max() < y and cells.x.max() < x
    # Every cell sits at a voxel whose mineral the rules allow: osteocytes in bone.
    mineral = sim.mineral()
    ocy = cells[cells.kind == "osteocyte"]
    assert (mineral[ocy.z, ocy.y, ocy.x] >= 0.5).mean() > 0.95


def test_resume_from_a_checkpoint_goes_on_exactly(tmp_path, small_scene):
    small_scene.set("days", 6)
    sim = trabecula.Simulation(small_scene, seed=7)
    sim.step(3)
    sim.save_checkpoint(tmp_path / "day3.ckpt")
    sim.step(3)
    again = trabecula.Simulation.resume(tmp_path / "day3.ckpt")
    assert again.day == 3
    again.step(3)
    a = sim.timeseries().drop(columns="wall_s")
    b = again.timeseries().drop(columns="wall_s")
    assert a.equals(b)
    np.testing.assert_array_equal(sim.mineral(), again.mineral())


def test_ctrl_c_stops_between_days_with_the_state_whole(small_scene):
    small_scene.set("days", 200)
    sim = trabecula.Simulation(small_scene)
    timer = threading.Timer(1.5, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        sim.step(200)
    timer.join()
    day = sim.day
    assert 0 < day < 200 and day == int(day)
    assert len(sim.timeseries()) == day + 1
    sim.step(1)
    assert sim.day == day + 1


def test_without_pandas_the_time_series_is_a_dict_of_arrays(small_scene, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_pandas(name, *args, **kwargs):
        if name == "pandas":
            raise ImportError("no pandas here")
        return real_import(name, *args, **kwargs)

    sim = trabecula.Simulation(small_scene)
    monkeypatch.setattr(builtins, "__import__", no_pandas)
    monkeypatch.delitem(__import__("sys").modules, "pandas", raising=False)
    series = sim.timeseries()
    assert isinstance(series, dict)
    assert series["day"].dtype == np.float64 and series["osteoclasts"].dtype == np.int64
