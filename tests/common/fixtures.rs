//! Small valid files of every input format, written independently of the
//! readers, for tests that break them.

use std::io::Write;

/// A NIfTI-1 single file, little-endian (348-byte header, 4-byte extension
/// flag, then `data` at offset 352), 20 µm voxels in mm, no scaling.
pub fn nifti_bytes(dims: &[u16], datatype: i16, bitpix: i16, data: &[u8]) -> Vec<u8> {
    nifti_bytes_with(dims, 0.02, 2, datatype, bitpix, data, (0.0, 0.0))
}

/// As [`nifti_bytes`] with the voxel size `pixdim` in `units` (NIfTI
/// `xyzt_units`: 1 m, 2 mm, 3 µm) and `scl` = (slope, intercept).
pub fn nifti_bytes_with(
    dims: &[u16],
    pixdim: f32,
    units: u8,
    datatype: i16,
    bitpix: i16,
    data: &[u8],
    scl: (f32, f32),
) -> Vec<u8> {
    let mut h = vec![0u8; 352];
    h[0..4].copy_from_slice(&348i32.to_le_bytes());
    let mut dim = [1i16; 8];
    dim[0] = dims.len() as i16;
    for (i, d) in dims.iter().enumerate() {
        dim[i + 1] = *d as i16;
    }
    for (i, d) in dim.iter().enumerate() {
        h[40 + 2 * i..42 + 2 * i].copy_from_slice(&d.to_le_bytes());
    }
    h[70..72].copy_from_slice(&datatype.to_le_bytes());
    h[72..74].copy_from_slice(&bitpix.to_le_bytes());
    let pixdim = [1.0f32, pixdim, pixdim, pixdim, 1.0, 1.0, 1.0, 1.0];
    for (i, p) in pixdim.iter().enumerate() {
        h[76 + 4 * i..80 + 4 * i].copy_from_slice(&p.to_le_bytes());
    }
    h[108..112].copy_from_slice(&352f32.to_le_bytes());
    h[112..116].copy_from_slice(&scl.0.to_le_bytes());
    h[116..120].copy_from_slice(&scl.1.to_le_bytes());
    h[123] = units;
    h[344..348].copy_from_slice(b"n+1\0");
    h.extend_from_slice(data);
    h
}

/// An 8-bit NIfTI-1 volume of `dims`, voxel values from `seed`.
pub fn nifti_u8(dims: [u16; 3], seed: u8) -> Vec<u8> {
    let n = dims.iter().map(|&d| d as usize).product::<usize>();
    let data: Vec<u8> = (0..n).map(|i| (i as u8).wrapping_mul(31) ^ seed).collect();
    nifti_bytes(&dims, 2, 8, &data)
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

/// A TIFF of `pages` grey pages of `w`×`h` pixels, 8- or 16-bit.
pub fn tiff_bytes(w: u32, h: u32, pages: usize, sixteen: bool) -> Vec<u8> {
    use tiff::encoder::{TiffEncoder, colortype};
    let mut out = std::io::Cursor::new(Vec::new());
    // The encoder borrows `out` until the block ends.
    {
        let mut enc = TiffEncoder::new(&mut out).unwrap();
        let n = (w * h) as usize;
        for p in 0..pages {
            if sixteen {
                let v: Vec<u16> = (0..n).map(|i| (i * 977 + p) as u16).collect();
                enc.write_image::<colortype::Gray16>(w, h, &v).unwrap();
            } else {
                let v: Vec<u8> = (0..n).map(|i| (i * 37 + p) as u8).collect();
                enc.write_image::<colortype::Gray8>(w, h, &v).unwrap();
            }
        }
    }
    out.into_inner()
}

/// A MetaImage header naming `raw` for an 8-bit volume of `dims`.
pub fn mhd_header(dims: [usize; 3], raw: &str) -> String {
    format!(
        "ObjectType = Image\nNDims = 3\nElementSpacing = 0.02 0.02 0.02\n\
         DimSize = {} {} {}\nElementType = MET_UCHAR\nElementDataFile = {raw}\n",
        dims[0], dims[1], dims[2]
    )
}
