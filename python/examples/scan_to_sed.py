"""A volume read in Python, solved with the micro-FE, its SED histogram and
its morphometry (beside ormir-xct's and bone-microarchitecture's when they
are installed).

    python examples/scan_to_sed.py --volume scan.mhd [--threshold 0.5]
    python examples/scan_to_sed.py              # a generated 32³ volume

A MetaImage (.mhd + raw data) is read with numpy alone; any (z, y, x) numpy
array works the same way (SimpleITK, tifffile, nibabel, ...).
"""

import argparse
import json
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import trabecula

DTYPES = {"MET_UCHAR": np.uint8, "MET_USHORT": np.uint16, "MET_SHORT": np.int16,
          "MET_FLOAT": np.float32, "MET_DOUBLE": np.float64}


def read_mhd(path):
    """A MetaImage volume as a (z, y, x) array and its voxel size in µm."""
    header = {}
    for line in Path(path).read_text(errors="replace").splitlines():
        key, _, value = line.partition("=")
        header[key.strip()] = value.strip()
    nx, ny, nz = (int(n) for n in header["DimSize"].split())
    spacing_mm = [float(s) for s in header.get("ElementSpacing", "1 1 1").split()]
    raw = Path(path).parent / header["ElementDataFile"]
    data = np.fromfile(raw, dtype=DTYPES[header["ElementType"]]).reshape(nz, ny, nx)
    return data, spacing_mm[0] * 1000.0


def generated_volume(out):
    scene = trabecula.Scene.default()
    scene.set("lattice.dims", [32, 32, 32])
    scene.set("spin_up_days", 0)
    trabecula.Simulation(scene).write_run(out)
    return out / "lattice_start.mhd"


def peers(bone, voxel_um):
    """Tb.Th (µm) from the morphometry packages a user might pick instead."""
    found = {}
    spacing_mm = (voxel_um / 1000.0,) * 3
    try:
        import SimpleITK as sitk
        from ormir_xct.core.microarchitecture.trabecular_microarchitecture import (
            trabecular_thickness)

        img = sitk.GetImageFromArray(bone.astype(np.uint8))
        img.SetSpacing(spacing_mm)
        found["ormir-xct (centre-to-centre)"] = float(trabecular_thickness(img)[0]) * 1000.0
    except ImportError:
        found["ormir-xct"] = "not installed (pip install ormir-xct)"
    try:
        from bone_microarchitecture import compute_microarchitecture

        ones = np.ones_like(bone)
        r = compute_microarchitecture(periosteal_mask=ones, trabecular_mask=ones, bone_mask=bone,
                                      spacing=spacing_mm, thickness_backend="cpu")
        found["bone-microarchitecture (face-to-face)"] = float(r.measurements["Tb.Th"]) * 1000.0
    except ImportError:
        found["bone-microarchitecture"] = "not installed (pip install bone-microarchitecture)"
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--volume", type=Path, help="a MetaImage .mhd (default: generated)")
    parser.add_argument("--threshold", type=float, default=0.5,
                        help="grey value at or above which a voxel is bone")
    parser.add_argument("--out", type=Path, default=Path("scan-to-sed"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    path = args.volume or generated_volume(Path(tempfile.mkdtemp()))
    volume, voxel_um = read_mhd(path)
    print(f"{path}: {volume.shape} (z, y, x) {volume.dtype}, {voxel_um:g} µm voxels")

    fe = trabecula.solve_fe(volume, voxel_um, threshold=args.threshold)
    bone = volume >= args.threshold
    sed = fe["sed"][bone]
    print(f"E_app {fe['apparent_modulus_mpa']:.0f} MPa, F {fe['reaction_force_n']:.3f} N, "
          f"{fe['iterations']} iterations, residual {fe['relative_residual']:.1e}")

    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    ax.hist(sed[sed > 0], bins=80, color="#b04020")
    ax.set_yscale("log")
    ax.set_xlabel("strain energy density in bone, MPa (1 % apparent strain)")
    ax.set_ylabel("voxels")
    fig.tight_layout()
    fig.savefig(args.out / "sed_histogram.png")

    morph = trabecula.morphometry(volume, voxel_um, threshold=args.threshold)
    centre = trabecula.morphometry(volume, voxel_um, threshold=args.threshold,
                                   thickness_convention="centre-to-centre")
    report = {
        "apparent_modulus_mpa": fe["apparent_modulus_mpa"],
        "sed_mpa_in_bone": {"mean": float(sed.mean()), "p95": float(np.percentile(sed, 95))},
        "trabecula": morph,
        "tb_th_um": {"trabecula (face-to-face)": morph["tb_th_um"],
                     "trabecula (centre-to-centre)": centre["tb_th_um"],
                     **peers(bone, voxel_um)},
    }
    (args.out / "report.json").write_text(json.dumps(report, indent=2))
    for name, value in report["tb_th_um"].items():
        print(f"Tb.Th {name}: {value if isinstance(value, str) else f'{value:.1f} µm'}")
    print(f"{args.out / 'sed_histogram.png'}, {args.out / 'report.json'}")


if __name__ == "__main__":
    main()
