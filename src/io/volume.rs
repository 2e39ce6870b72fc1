//! Micro-CT import: one entry point for every volume format a scene's
//! `lattice.volume` may name — MetaImage (`.mhd`/`.mha`), NIfTI-1 (`.nii`,
//! `.nii.gz`) and TIFF stacks (one multi-page `.tif`/`.tiff`, or a folder of
//! single-page slices in name order), 8- or 16-bit grey (NIfTI also signed
//! and float types, read as f32). Every format is x fastest, then y, then z
//! (slice), as MetaImage is, so the same volume reads the same voxels.

use std::io::{BufReader, Read};
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
    check_nifti_size(path)?;
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

/// Refuses a NIfTI file shorter than its header declares (data offset plus
/// voxels × bits, and each extension's size) before the `nifti` crate
/// reserves what the header declares. A `.nii.gz` is inflated once to
/// count its bytes, keeping only the header and extensions.
fn check_nifti_size(path: &Path) -> Result<()> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let gz = path.to_string_lossy().to_lowercase().ends_with(".gz");
    let mut src: Box<dyn Read> = if gz {
        Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(file)))
    } else {
        Box::new(BufReader::new(file))
    };
    let mut head = Vec::with_capacity(352);
    (&mut src)
        .take(352)
        .read_to_end(&mut head)
        .map_err(|e| anyhow!("not a readable NIfTI file: {e}"))?;
    if head.len() < 348 {
        bail!(
            "not a NIfTI-1 file: {} bytes, its header alone needs 348",
            head.len()
        );
    }
    // The byte order as the `nifti` crate takes it: dim[0] (1–7) read
    // little-endian, else big-endian.
    let le = u16::from_le_bytes([head[40], head[41]]) <= 7;
    let sizeof_hdr = if le { [92, 1, 0, 0] } else { [0, 0, 1, 92] };
    if head[0..4] != sizeof_hdr {
        bail!("not a NIfTI-1 file (its header size field is not 348)");
    }
    let at = |o: usize| -> [u8; 4] { head[o..o + 4].try_into().unwrap() };
    let i16_at = |o: usize| {
        let b = [head[o], head[o + 1]];
        if le {
            i16::from_le_bytes(b)
        } else {
            i16::from_be_bytes(b)
        }
    };
    let f32_at = |o| {
        if le {
            f32::from_le_bytes(at(o))
        } else {
            f32::from_be_bytes(at(o))
        }
    };
    // As the `nifti` crate sizes the data: dims as u16, bitpix / 8 bytes.
    let rank = (i16_at(40).max(0) as usize).min(7);
    let voxels = (1..=rank).try_fold(1u64, |n, i| n.checked_mul(i16_at(40 + 2 * i) as u16 as u64));
    let bitpix = i16_at(72);
    let data = voxels.and_then(|n| n.checked_mul((bitpix as usize / 8) as u64));
    let vox_offset = f32_at(108);
    let offset = (vox_offset as u64).max(352);
    let Some(need) = data.and_then(|d| d.checked_add(offset)) else {
        bail!(
            "the NIfTI header declares more data than any file holds (dims {:?}, bitpix {bitpix})",
            (1..=rank)
                .map(|i| i16_at(40 + 2 * i) as u16)
                .collect::<Vec<_>>()
        );
    };
    let mut ext = Vec::new();
    (&mut src)
        .take(offset - 352)
        .read_to_end(&mut ext)
        .map_err(|e| anyhow!("not a readable NIfTI file: {e}"))?;
    let rest = std::io::copy(&mut src, &mut std::io::sink())
        .map_err(|e| anyhow!("not a readable NIfTI file: {e}"))?;
    let have = head.len() as u64 + ext.len() as u64 + rest;
    if have < need {
        bail!(
            "truncated: the NIfTI header declares {need} bytes (data from byte {offset}, \
             {} voxels of {bitpix} bits), the file {}holds {have}",
            voxels.unwrap_or(0),
            if gz { "inflated " } else { "" }
        );
    }
    // Extensions (flagged in byte 348) fill the bytes before the data.
    if head.len() == 352 && head[348] != 0 {
        let mut pos = 0usize;
        while pos < ext.len() {
            let esize = match ext.get(pos..pos + 4) {
                Some(b) => {
                    let b: [u8; 4] = b.try_into().unwrap();
                    if le {
                        i32::from_le_bytes(b)
                    } else {
                        i32::from_be_bytes(b)
                    }
                }
                None => bail!(
                    "a NIfTI extension at byte {} is cut off by the data offset {offset}",
                    352 + pos
                ),
            };
            if esize < 8 || esize as usize > ext.len() - pos {
                bail!(
                    "a NIfTI extension at byte {} declares {esize} bytes; {} remain before the data offset {offset}",
                    352 + pos,
                    ext.len() - pos
                );
            }
            pos += esize as usize;
        }
    }
    Ok(())
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

/// Refuses a TIFF with a tag that declares more values than the file holds:
/// the `tiff` crate reserves a tag's values before reading them, up to
/// 256 MiB, and for the first page before limits can be set.
fn check_tiff_tags(path: &Path, bytes: &[u8]) -> Result<()> {
    let bad = |what: String| anyhow!("{}: not a readable TIFF: {what}", path.display());
    let (le, big) = match bytes.get(..4) {
        Some([b'I', b'I', 42, 0]) => (true, false),
        Some([b'M', b'M', 0, 42]) => (false, false),
        Some([b'I', b'I', 43, 0]) => (true, true),
        Some([b'M', b'M', 0, 43]) => (false, true),
        _ => return Ok(()), // the decoder names what is wrong
    };
    let uint = |at: u64, n: usize| -> Option<u64> {
        let b = bytes.get(usize::try_from(at).ok()?..)?.get(..n)?;
        let mut v = 0u64;
        for i in 0..n {
            let byte = if le { b[n - 1 - i] } else { b[i] };
            v = v << 8 | byte as u64;
        }
        Some(v)
    };
    let (word, count_len, entry_len) = if big { (8, 8, 20) } else { (4, 2, 12) };
    let mut ifd = uint(if big { 8 } else { 4 }, word).unwrap_or(0);
    let mut seen = std::collections::HashSet::new();
    while ifd != 0 && seen.insert(ifd) {
        let Some(n) = uint(ifd, count_len) else {
            return Err(bad(format!("a directory at byte {ifd} past the end")));
        };
        for e in 0..n {
            let at = ifd + count_len as u64 + e * entry_len;
            let (Some(tag), Some(ty), Some(count)) =
                (uint(at, 2), uint(at + 2, 2), uint(at + 4, word))
            else {
                return Err(bad(format!("the directory at byte {ifd} is cut off")));
            };
            let size: u64 = match ty {
                1 | 2 | 6 | 7 => 1,
                3 | 8 => 2,
                4 | 9 | 11 | 13 => 4,
                _ => 8,
            };
            if count.saturating_mul(size) > bytes.len() as u64 {
                return Err(bad(format!(
                    "tag {tag} declares {count} values, more than the {}-byte file holds",
                    bytes.len()
                )));
            }
        }
        ifd = uint(ifd + count_len as u64 + n * entry_len, word).unwrap_or(0);
    }
    Ok(())
}

fn read_pages(path: &Path, pages: &mut Vec<Page>, size: &mut Option<(u32, u32)>) -> Result<()> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    check_tiff_tags(path, &bytes)?;
    // No page decodes to more than its file inflates to (deflate ≤ 1032:1,
    // LZW ≤ 2730:1, PackBits ≤ 64:1), and no strip or tag value is longer
    // than the file: a page claiming more is refused before its buffers
    // are allocated.
    let file_len = bytes.len();
    let mut limits = tiff::decoder::Limits::default();
    limits.decoding_buffer_size = limits
        .decoding_buffer_size
        .min((4 << 20) + file_len.saturating_mul(4096));
    limits.intermediate_buffer_size = limits.intermediate_buffer_size.min(file_len + 4096);
    limits.ifd_value_size = limits.ifd_value_size.min(file_len + 4096);
    let mut dec = tiff::decoder::Decoder::new(std::io::Cursor::new(bytes))
        .map_err(|e| anyhow!("{}: not a readable TIFF: {e}", path.display()))?
        .with_limits(limits);
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
