//! Micro-CT import: one entry point for every volume format a scene's
//! `lattice.volume` may name — MetaImage (`.mhd`/`.mha`), NIfTI-1 (`.nii`,
//! `.nii.gz`) and TIFF stacks (one multi-page `.tif`/`.tiff`, or a folder of
//! single-page slices in name order), 8- or 16-bit grey (NIfTI also signed
//! and float types, read as f32). Every format is x fastest, then y, then z
//! (slice), as MetaImage is, so the same volume reads the same voxels.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use nifti::{NiftiObject, NiftiType, NiftiVolume};

use super::mhd::{Volume, VolumeData};

/// Reads a volume in any supported format, chosen by its name (a folder is
/// a TIFF stack). TIFF carries no dependable voxel size: its spacing is NaN
/// and the scene must give `lattice.voxel_size_um`.
pub fn read_volume(path: &Path) -> Result<Volume> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let result = if path.is_dir() {
        read_tiff_folder(path)
    } else if name.ends_with(".nii") || name.ends_with(".nii.gz") {
        read_nifti(path)
    } else if name.ends_with(".tif") || name.ends_with(".tiff") {
        read_tiff_stack(path)
    } else if name.ends_with(".mhd") || name.ends_with(".mha") {
        Volume::read(path).map_err(anyhow::Error::from)
    } else {
        bail!(
            "{}: unknown volume format; use .mhd/.mha, .nii/.nii.gz, .tif/.tiff or a folder of .tif slices",
            path.display()
        )
    };
    result.with_context(|| format!("reading the volume {}", path.display()))
}

/// Reads a NIfTI-1 file (`.nii` or gzipped `.nii.gz`).
pub fn read_nifti(path: &Path) -> Result<Volume> {
    let obj = nifti::ReaderOptions::new()
        .read_file(path)
        .map_err(|e| anyhow!("not a readable NIfTI file: {e}"))?;
    let h = obj.header().clone();
    let rank = h.dim[0] as usize;
    if !(3..=7).contains(&rank) {
        bail!("a NIfTI volume needs 3 dimensions, this file has {rank}");
    }
    if h.dim[4..=rank].iter().any(|&d| d > 1) {
        bail!(
            "a 4-D (or higher) NIfTI image ({:?}) is not a single volume",
            &h.dim[1..=rank]
        );
    }
    let dims = [h.dim[1] as usize, h.dim[2] as usize, h.dim[3] as usize];
    // xyzt_units bits 0–2: 1 m, 2 mm, 3 µm; 0 (unknown) is taken as mm.
    let to_mm = match h.xyzt_units & 0x07 {
        1 => 1000.0,
        3 => 1e-3,
        _ => 1.0,
    };
    // pixdim is f32: widen through its shortest decimal so 0.02 stays 0.02.
    let widen_f32 = |x: f32| format!("{}", x.abs()).parse::<f64>().unwrap_or(f64::NAN);
    let spacing_mm = [1, 2, 3].map(|i| widen_f32(h.pixdim[i]) * to_mm);
    let volume = obj.into_volume();
    let dtype = volume.data_type();
    let err = |e: nifti::NiftiError| anyhow!("reading the NIfTI data: {e}");
    let data = match dtype {
        NiftiType::Uint8 => VolumeData::U8(volume.into_nifti_typed_data::<u8>().map_err(err)?),
        NiftiType::Uint16 => VolumeData::U16(volume.into_nifti_typed_data::<u16>().map_err(err)?),
        NiftiType::Int8 => widen(volume.into_nifti_typed_data::<i8>().map_err(err)?),
        NiftiType::Int16 => widen(volume.into_nifti_typed_data::<i16>().map_err(err)?),
        NiftiType::Int32 => widen(volume.into_nifti_typed_data::<i32>().map_err(err)?),
        NiftiType::Uint32 => widen(volume.into_nifti_typed_data::<u32>().map_err(err)?),
        NiftiType::Float32 => VolumeData::F32(volume.into_nifti_typed_data::<f32>().map_err(err)?),
        NiftiType::Float64 => widen(volume.into_nifti_typed_data::<f64>().map_err(err)?),
        other => {
            bail!("NIfTI data type {other:?} is not supported (use 8/16/32-bit integers or floats)")
        }
    };
    let n: usize = dims.iter().product();
    let mut vol = Volume {
        dims,
        spacing_mm,
        data,
    };
    if vol.len() != n || data_len(&vol.data) != n {
        bail!(
            "the NIfTI data holds {} voxels, its header {n}",
            data_len(&vol.data)
        );
    }
    // Calibrated intensities (scl_slope ≠ 0): value = slope × stored + inter.
    let (slope, inter) = (h.scl_slope as f64, h.scl_inter as f64);
    if slope != 0.0 && (slope != 1.0 || inter != 0.0) {
        let v: Vec<f32> = vol
            .values_f64()
            .map(|x| (slope * x + inter) as f32)
            .collect();
        vol.data = VolumeData::F32(v);
    }
    Ok(vol)
}

fn data_len(d: &VolumeData) -> usize {
    match d {
        VolumeData::U8(v) => v.len(),
        VolumeData::U16(v) => v.len(),
        VolumeData::F32(v) => v.len(),
    }
}

/// Any numeric type as f32 voxels.
fn widen<T: Copy + Into<f64>>(v: Vec<T>) -> VolumeData {
    VolumeData::F32(v.into_iter().map(|x| x.into() as f32).collect())
}

/// One grey page of a TIFF.
enum Page {
    U8(Vec<u8>),
    U16(Vec<u16>),
}

fn read_pages(path: &Path, pages: &mut Vec<Page>, size: &mut Option<(u32, u32)>) -> Result<()> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut dec = tiff::decoder::Decoder::new(std::io::BufReader::new(file))
        .map_err(|e| anyhow!("{}: not a readable TIFF: {e}", path.display()))?;
    loop {
        let page = pages.len();
        let dims = dec
            .dimensions()
            .map_err(|e| anyhow!("{}: {e}", path.display()))?;
        match size {
            Some(s) if *s != dims => bail!(
                "{}: slice {page} is {}×{} pixels, the first was {}×{}",
                path.display(),
                dims.0,
                dims.1,
                s.0,
                s.1
            ),
            _ => *size = Some(dims),
        }
        let colour = dec
            .colortype()
            .map_err(|e| anyhow!("{}: {e}", path.display()))?;
        let image = dec
            .read_image()
            .map_err(|e| anyhow!("{}: slice {page}: {e}", path.display()))?;
        use tiff::decoder::DecodingResult as D;
        pages.push(match (colour, image) {
            (tiff::ColorType::Gray(8), D::U8(v)) => Page::U8(v),
            (tiff::ColorType::Gray(16), D::U16(v)) => Page::U16(v),
            (c, _) => bail!(
                "{}: slice {page} is {c:?}; stacks must be 8- or 16-bit grey",
                path.display()
            ),
        });
        if !dec.more_images() {
            return Ok(());
        }
        dec.next_image()
            .map_err(|e| anyhow!("{}: after slice {page}: {e}", path.display()))?;
    }
}

fn stack(pages: Vec<Page>, size: Option<(u32, u32)>) -> Result<Volume> {
    let (w, h) = size.ok_or_else(|| anyhow!("no slices"))?;
    let dims = [w as usize, h as usize, pages.len()];
    let data = if pages.iter().all(|p| matches!(p, Page::U8(_))) {
        VolumeData::U8(
            pages
                .into_iter()
                .flat_map(|p| match p {
                    Page::U8(v) => v,
                    Page::U16(_) => unreachable!("all pages are 8-bit"),
                })
                .collect(),
        )
    } else if pages.iter().all(|p| matches!(p, Page::U16(_))) {
        VolumeData::U16(
            pages
                .into_iter()
                .flat_map(|p| match p {
                    Page::U16(v) => v,
                    Page::U8(_) => unreachable!("all pages are 16-bit"),
                })
                .collect(),
        )
    } else {
        bail!("the slices mix 8- and 16-bit grey");
    };
    Ok(Volume {
        dims,
        spacing_mm: [f64::NAN; 3],
        data,
    })
}

/// Reads a multi-page TIFF: one page per z slice.
pub fn read_tiff_stack(path: &Path) -> Result<Volume> {
    let (mut pages, mut size) = (Vec::new(), None);
    read_pages(path, &mut pages, &mut size)?;
    stack(pages, size)
}

/// Reads a folder of TIFF slices, in file-name order (zero-pad the numbers).
pub fn read_tiff_folder(dir: &Path) -> Result<Volume> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading the folder {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let n = p
                .file_name()
                .map(|n| n.to_string_lossy().to_lowercase())
                .unwrap_or_default();
            !n.starts_with('.') && (n.ends_with(".tif") || n.ends_with(".tiff"))
        })
        .collect();
    if files.is_empty() {
        bail!("{} holds no .tif/.tiff slices", dir.display());
    }
    files.sort();
    let (mut pages, mut size) = (Vec::new(), None);
    for f in &files {
        read_pages(f, &mut pages, &mut size)?;
    }
    stack(pages, size)
}
