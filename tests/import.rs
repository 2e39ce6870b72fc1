//! Micro-CT import: NIfTI (`.nii`, `.nii.gz`) and TIFF stacks (multi-page
//! and folders of slices, 8- and 16-bit) read voxel for voxel what the same
//! volume saved as MetaImage reads; files are written here independently of
//! the readers (NIfTI-1 header by hand, TIFF with the `tiff` encoder).

mod common;

use std::io::Write;
use std::path::Path;

use common::fixtures::nifti_bytes_with;

use trabecula::io::mhd::{Volume, VolumeData};
use trabecula::io::volume::read_volume;

const DIMS: [usize; 3] = [7, 5, 4];

fn u16_volume() -> Volume {
    let n = DIMS.iter().product::<usize>();
    Volume {
        dims: DIMS,
        spacing_mm: [0.02; 3],
        // Distinct values that break any transposition or byte swap.
        data: VolumeData::U16((0..n).map(|i| (i * 977 % 65_521) as u16).collect()),
    }
}

fn u8_volume() -> Volume {
    let n = DIMS.iter().product::<usize>();
    Volume {
        dims: DIMS,
        spacing_mm: [0.02; 3],
        data: VolumeData::U8((0..n).map(|i| (i * 37 % 251) as u8).collect()),
    }
}

fn bytes_of(data: &VolumeData) -> (i16, i16, Vec<u8>) {
    match data {
        VolumeData::U8(v) => (2, 8, v.clone()),
        VolumeData::U16(v) => (512, 16, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        VolumeData::F32(v) => (16, 32, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
    }
}

fn write_nifti(path: &Path, vol: &Volume) {
    let (dtype, bitpix, data) = bytes_of(&vol.data);
    let dims: Vec<u16> = vol.dims.iter().map(|&d| d as u16).collect();
    let bytes = nifti_bytes_with(&dims, 0.02, 2, dtype, bitpix, &data, (0.0, 0.0));
    if path.to_string_lossy().ends_with(".gz") {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&bytes).unwrap();
        std::fs::write(path, gz.finish().unwrap()).unwrap();
    } else {
        std::fs::write(path, bytes).unwrap();
    }
}

/// Slices of a volume (z pages of x-fastest rows).
fn pages(vol: &Volume) -> Vec<VolumeData> {
    let per = vol.dims[0] * vol.dims[1];
    (0..vol.dims[2])
        .map(|z| match &vol.data {
            VolumeData::U8(v) => VolumeData::U8(v[z * per..(z + 1) * per].to_vec()),
            VolumeData::U16(v) => VolumeData::U16(v[z * per..(z + 1) * per].to_vec()),
            VolumeData::F32(_) => unreachable!(),
        })
        .collect()
}

fn write_tiff(path: &Path, slices: &[VolumeData], w: u32, h: u32) {
    use tiff::encoder::{TiffEncoder, colortype};
    let file = std::fs::File::create(path).unwrap();
    let mut enc = TiffEncoder::new(std::io::BufWriter::new(file)).unwrap();
    for s in slices {
        match s {
            VolumeData::U8(v) => enc.write_image::<colortype::Gray8>(w, h, v).unwrap(),
            VolumeData::U16(v) => enc.write_image::<colortype::Gray16>(w, h, v).unwrap(),
            VolumeData::F32(_) => unreachable!(),
        }
    }
}

#[test]
fn nifti_and_tiff_match_metaimage_voxel_for_voxel() {
    let dir = tempfile::tempdir().unwrap();
    for (tag, vol) in [("u8", u8_volume()), ("u16", u16_volume())] {
        let mhd = dir.path().join(format!("{tag}.mhd"));
        vol.write(&mhd).unwrap();
        let reference = read_volume(&mhd).unwrap();
        assert_eq!(reference, vol);

        for name in [format!("{tag}.nii"), format!("{tag}.nii.gz")] {
            let p = dir.path().join(&name);
            write_nifti(&p, &vol);
            let got = read_volume(&p).unwrap();
            assert_eq!(got.dims, reference.dims, "{name}");
            assert_eq!(got.data, reference.data, "{name}");
            for (a, b) in got.spacing_mm.iter().zip(reference.spacing_mm) {
                assert!((a - b).abs() < 1e-9, "{name}: spacing {a} vs {b}");
            }
        }

        let (w, h) = (DIMS[0] as u32, DIMS[1] as u32);
        let multi = dir.path().join(format!("{tag}.tif"));
        write_tiff(&multi, &pages(&vol), w, h);
        let got = read_volume(&multi).unwrap();
        assert_eq!(
            (got.dims, &got.data),
            (reference.dims, &reference.data),
            "multi-page {tag}"
        );

        let folder = dir.path().join(format!("{tag}_slices"));
        std::fs::create_dir(&folder).unwrap();
        for (z, page) in pages(&vol).iter().enumerate() {
            write_tiff(
                &folder.join(format!("slice_{z:03}.tif")),
                std::slice::from_ref(page),
                w,
                h,
            );
        }
        let got = read_volume(&folder).unwrap();
        assert_eq!(
            (got.dims, &got.data),
            (reference.dims, &reference.data),
            "folder {tag}"
        );
        assert!(got.spacing_mm[0].is_nan(), "TIFF records no voxel size");
    }
}

#[test]
fn nifti_units_and_scaling_are_applied() {
    let dir = tempfile::tempdir().unwrap();
    let raw: Vec<i16> = (0..8).map(|i| i * 100 - 300).collect();
    let data: Vec<u8> = raw.iter().flat_map(|x| x.to_le_bytes()).collect();
    // int16, pixdim 20 in µm (xyzt_units = 3), value = 0.5 × stored + 10.
    let p = dir.path().join("ct.nii");
    std::fs::write(
        &p,
        nifti_bytes_with(&[2, 2, 2], 20.0, 3, 4, 16, &data, (0.5, 10.0)),
    )
    .unwrap();
    let v = read_volume(&p).unwrap();
    assert_eq!(v.dims, [2, 2, 2]);
    assert!((v.spacing_mm[0] - 0.02).abs() < 1e-9, "{:?}", v.spacing_mm);
    let expected: Vec<f32> = raw.iter().map(|&x| 0.5 * x as f32 + 10.0).collect();
    assert_eq!(v.data, VolumeData::F32(expected));
}

#[test]
fn bad_volumes_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("4d.nii");
    std::fs::write(
        &p,
        nifti_bytes_with(&[2, 2, 2, 3], 0.02, 2, 2, 8, &[0u8; 24], (0.0, 0.0)),
    )
    .unwrap();
    let e = format!("{:#}", read_volume(&p).unwrap_err());
    assert!(e.contains("4-D"), "{e}");
    let p = dir.path().join("short.nii");
    std::fs::write(
        &p,
        &nifti_bytes_with(&[4, 4, 4], 0.02, 2, 2, 8, &[0u8; 64], (0.0, 0.0))[..380],
    )
    .unwrap();
    assert!(read_volume(&p).is_err(), "truncated NIfTI data");
    let p = dir.path().join("rgb.tif");
    {
        use tiff::encoder::{TiffEncoder, colortype};
        let f = std::fs::File::create(&p).unwrap();
        let mut enc = TiffEncoder::new(f).unwrap();
        enc.write_image::<colortype::RGB8>(2, 2, &[0u8; 12])
            .unwrap();
    }
    let e = format!("{:#}", read_volume(&p).unwrap_err());
    assert!(e.contains("8- or 16-bit grey"), "{e}");
    let e = format!("{:#}", read_volume(&dir.path().join("x.png")).unwrap_err());
    assert!(e.contains("unknown volume format"), "{e}");
}

#[test]
fn scenes_build_the_same_lattice_from_nifti_tiff_and_metaimage() {
    let dir = tempfile::tempdir().unwrap();
    let n = 16 * 16 * 16;
    // A binary block: a slab of bone in the middle third of z.
    let data: Vec<u8> = (0..n)
        .map(|i| if (5..11).contains(&(i / 256)) { 255 } else { 0 })
        .collect();
    let vol = Volume {
        dims: [16; 3],
        spacing_mm: [0.02; 3],
        data: VolumeData::U8(data),
    };
    vol.write(&dir.path().join("bone.mhd")).unwrap();
    write_nifti(&dir.path().join("bone.nii.gz"), &vol);
    write_tiff(&dir.path().join("bone.tif"), &pages(&vol), 16, 16);
    let ctx = common::gpu();
    let lattice = |file: &str, extra: &str| {
        let text = format!(
            "name = \"import\"\ndays = 1\n[lattice]\nsource = \"volume\"\nvolume = \"{file}\"\nthreshold = 128\n{extra}"
        );
        let scene_path = dir.path().join("scene.toml");
        std::fs::write(&scene_path, text).unwrap();
        let scene = trabecula::scene::load(&scene_path, &[]).unwrap();
        trabecula::lattice::from_scene(&ctx, &scene).map(|(l, _)| l)
    };
    let reference = lattice("bone.mhd", "").unwrap();
    assert!((reference.bv_tv() - 6.0 / 16.0).abs() < 1e-9);
    let nii = lattice("bone.nii.gz", "").unwrap();
    assert_eq!(nii.mineral, reference.mineral);
    assert_eq!(nii.voxel_size_um, reference.voxel_size_um);
    let e = format!("{:#}", lattice("bone.tif", "").unwrap_err());
    assert!(e.contains("lattice.voxel_size_um"), "{e}");
    let tif = lattice("bone.tif", "voxel_size_um = 20.0").unwrap();
    assert_eq!(tif.mineral, reference.mineral);
}
