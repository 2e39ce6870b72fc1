"""Bad input raises the exception a Python user expects, naming what is wrong."""

import os
import subprocess
import sys

import numpy as np
import pytest

import trabecula
from conftest import FIXTURE


@pytest.mark.parametrize(
    "key, value, words",
    [
        ("loading.gravity", -1.0, ["loading.gravity", "-1", "0 ≤ loading.gravity ≤ 10"]),
        ("lattice.bv_tv", 2, ["lattice.bv_tv", "2", "allowed"]),
        ("lattice.bogus", 1, ["lattice.bogus", "unknown field"]),
        ("lattice.dims", [32, 32], ["lattice.dims"]),
        ("cells.apoptosis_disuse_per_day", "fast", ["cells.apoptosis_disuse_per_day", "fast"]),
        ("days", 0, ["days", "0"]),
    ],
)
def test_a_bad_scene_value_raises_scene_error_naming_it(key, value, words):
    scene = trabecula.Scene.load(FIXTURE)
    before = scene.to_toml()
    with pytest.raises(trabecula.SceneError) as caught:
        scene.set(key, value)
    assert isinstance(caught.value, ValueError)
    message = str(caught.value)
    for word in words:
        assert word in message, (word, message)
    assert scene.to_toml() == before, "a refused value leaves the scene as it was"


def test_missing_files_raise_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="no-such.toml"):
        trabecula.Scene.load(tmp_path / "no-such.toml")
    with pytest.raises(FileNotFoundError):
        trabecula.Simulation(tmp_path / "no-such.toml")
    with pytest.raises(FileNotFoundError):
        trabecula.Simulation.resume(tmp_path / "no-such.ckpt")


def test_a_file_that_is_not_a_scene_raises_scene_error(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[lattice]\ndims = [32, 32, 32]\nbv_tv = "lots"\n')
    with pytest.raises(trabecula.SceneError, match=r"bad.toml:4.*lattice.bv_tv"):
        trabecula.Scene.load(bad)


@pytest.mark.parametrize(
    "volume, error, words",
    [
        (np.zeros((8, 8), np.uint8), ValueError, ["3-D", "(8, 8)"]),
        (np.zeros((8, 8, 8), np.complex64), TypeError, ["complex64"]),
        ([[[0, 1]]], TypeError, ["numpy array"]),
    ],
)
def test_bad_volumes_are_refused(volume, error, words):
    with pytest.raises(error) as caught:
        trabecula.morphometry(volume, voxel_um=20.0)
    for word in words:
        assert word in str(caught.value)


def test_bad_numbers_name_themselves():
    volume = np.ones((8, 8, 8), np.float32)
    with pytest.raises(ValueError, match="voxel_um"):
        trabecula.morphometry(volume, voxel_um=-1.0)
    volume[2, 3, 4] = np.nan
    with pytest.raises(ValueError, match=r"\(z 2, y 3, x 4\) is NaN"):
        trabecula.morphometry(volume, voxel_um=20.0)
    with pytest.raises(ValueError, match="poisson"):
        trabecula.solve_fe(np.ones((8, 8, 8), np.float32), voxel_um=20.0, poisson=0.7)
    with pytest.raises(ValueError, match="thickness_convention"):
        trabecula.morphometry(np.ones((8, 8, 8)), 20.0, thickness_convention="diagonal")


def test_a_lattice_without_voxel_size_or_of_a_wrong_kind_is_refused(small_scene):
    with pytest.raises(TypeError, match="uint8"):
        trabecula.Simulation(small_scene, lattice=np.zeros((16, 16, 16), np.int16), voxel_um=20.0)
    with pytest.raises(ValueError, match="voxel_um"):
        trabecula.Simulation(small_scene, voxel_um=20.0)


def test_no_adapter_raises_runtime_error_saying_how_to_get_one():
    # No adapter of this backend exists on Linux: the module must say so.
    env = dict(os.environ, WGPU_BACKEND="dx12")
    code = "import trabecula\ntry:\n    trabecula.adapter_info()\nexcept RuntimeError as e:\n    print(e)\n"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "no GPU adapter" in done.stdout and "mesa-vulkan-drivers" in done.stdout, done.stdout
