"""trabecula: a GPU agent-based simulator of trabecular bone remodeling.

Osteocytes, osteoblasts and osteoclasts on a voxel lattice of trabecular
bone; a voxel micro-FE model turns load into strain energy; unloaded
osteocytes die, dying osteocytes recruit osteoclasts, and trabeculae thin.

    >>> import trabecula
    >>> scene = trabecula.Scene.default()
    >>> scene.set("lattice.dims", [32, 32, 32])
    >>> sim = trabecula.Simulation(scene, seed=1)
    >>> sim.step(days=10)
    >>> sim.timeseries()[["day", "bv_tv", "osteoclasts"]]

Each call maps onto a command of the `trabecula` program: see docs/python.md.
"""

from ._native import (
    Scene,
    SceneError,
    Simulation,
    __version__,
    adapter_info,
    morphometry,
    run,
    solve_fe,
)

__all__ = [
    "Scene",
    "SceneError",
    "Simulation",
    "__version__",
    "adapter_info",
    "morphometry",
    "run",
    "solve_fe",
]
