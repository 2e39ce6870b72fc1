//! Greyscale PNG of a mid-plane slice through one or more volumes side by
//! side: a quick look at a lattice without a viewer.

use std::path::Path;

use anyhow::{Result, bail};

use super::mhd::Volume;
use super::write_atomic;

/// Largest image written (1 GiB of 8-bit grey).
const MAX_PIXELS: usize = 1 << 30;

/// The x–z plane at y = `y` (default: the middle) of each volume, values
/// clamped to [0, 1] (mineral fraction), z upward, `scale` pixels per voxel,
/// a 4-pixel gap between panels.
pub fn write_slices(volumes: &[Volume], y: Option<usize>, scale: usize, out: &Path) -> Result<()> {
    let Some(first) = volumes.first() else {
        bail!("no volume to slice")
    };
    let [nx, ny, nz] = first.dims;
    if volumes.iter().any(|v| v.dims != first.dims) {
        bail!("volumes to put side by side must have the same dimensions");
    }
    let y = y.unwrap_or(ny / 2);
    if y >= ny {
        bail!("--y {y} is outside the volume: y runs from 0 to {}", ny - 1);
    }
    let gap = 4;
    // Checked, so a huge --scale is refused rather than overflowing.
    let width = (volumes.len() * nx)
        .checked_mul(scale)
        .and_then(|w| w.checked_add((volumes.len() - 1) * gap));
    let height = nz.checked_mul(scale);
    let (width, height) = match (width, height) {
        (Some(w), Some(h)) if w.checked_mul(h).is_some_and(|n| n <= MAX_PIXELS) => (w, h),
        _ => bail!("--scale {scale} makes an image of more than {MAX_PIXELS} pixels"),
    };
    let mut pixels = vec![40u8; width * height];
    for (k, v) in volumes.iter().enumerate() {
        let values: Vec<f64> = v.values_f64().collect();
        let x0 = k * (nx * scale + gap);
        for z in 0..nz {
            for x in 0..nx {
                let m = values[x + nx * (y + ny * z)].clamp(0.0, 1.0);
                let g = (m * 255.0).round() as u8;
                for dz in 0..scale {
                    let row = (nz - 1 - z) * scale + dz;
                    for dx in 0..scale {
                        pixels[row * width + x0 + x * scale + dx] = g;
                    }
                }
            }
        }
    }
    write_atomic(out, |w| {
        let mut enc = png::Encoder::new(w, width as u32, height as u32);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().map_err(std::io::Error::other)?;
        writer
            .write_image_data(&pixels)
            .map_err(std::io::Error::other)?;
        writer.finish().map_err(std::io::Error::other)
    })?;
    Ok(())
}
