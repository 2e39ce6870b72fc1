//! Procedural trabecular lattices (`shaders/lattice/generate.wgsl`).
//!
//! Two independent white-noise fields are band-pass filtered on the GPU
//! (difference of periodic Gaussians with widths σ and 2σ), combined as
//! `g² = f₁² + w·f₂²` and thresholded: bone is where `g²` is small. With
//! `w = 0` bone is a thickened zero-surface of one field (curved, perforated
//! plates); with `w = 1` it is a tube around the curves where both fields
//! vanish (rods); between, a plate-and-rod mix. The threshold is the quantile
//! that gives the target BV/TV (from a GPU histogram, refined once), and σ is
//! calibrated so the measured Tb.Th meets its target. Same seed ⇒ same bytes
//! on the same adapter.

use anyhow::{Context, Result, bail};

use super::Lattice;
use crate::gpu::{GpuContext, Kernel, read_buffer, storage_buffer_zeroed, uniform_buffer};
use crate::stop::Stop;

/// The stage a stop during generation reports.
const STAGE: &str = "lattice generation";

crate::gpu_struct! {
    #[derive(Debug, Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
    pub struct GenParams in "lattice/generate" {
        pub grid: [u32; 4],
        pub seed: u32,
        pub field: u32,
        pub axis: u32,
        pub radius: u32,
        pub sigma: f32,
        pub weight: f32,
        pub accumulate: u32,
        pub threshold: f32,
        pub lo: f32,
        pub hi: f32,
        pub bins: u32,
        pub _pad: u32,
    }
}

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratorSpec {
    pub dims: [usize; 3],
    pub voxel_size_um: f64,
    pub bv_tv: f64,
    pub tb_th_um: f64,
    /// Weight of the second field: 0 = plates, 1 = rods.
    pub rod_weight: f64,
    /// Stretch of the structure along z (the habitual loading axis); 1 = isotropic.
    pub anisotropy: f64,
    pub seed: u32,
}

/// A generated lattice and how it was reached.
#[derive(Debug, Clone)]
pub struct Generated {
    pub lattice: Lattice,
    /// Inner band-pass width in voxels after calibration.
    pub sigma_vox: f64,
    /// (σ in voxels, measured Tb.Th in µm) for each calibration round.
    pub calibration: Vec<(f64, f64)>,
}

/// Ratio of the wide to the narrow Gaussian of the band-pass.
const BAND_RATIO: f64 = 2.0;
pub const HIST_BINS: u32 = 4096;
/// Calibration runs on at most this many voxels per axis: the field is
/// stationary, so a block shows the same thickness as the whole.
const CALIBRATION_EDGE: usize = 96;
const CALIBRATION_ROUNDS: usize = 5;
/// Calibration stops when Tb.Th is within this fraction of its target.
const CALIBRATION_TOLERANCE: f64 = 0.04;

/// The generator's kernels, built once per device.
pub struct Generator {
    pub noise: Kernel,
    pub blur: Kernel,
    pub band: Kernel,
    pub threshold: Kernel,
    pub histogram: Kernel,
}

impl Generator {
    pub fn new(ctx: &GpuContext, workgroup_size: u32) -> Result<Self> {
        let k = |entry| Kernel::new(&ctx.device, "lattice/generate", entry, workgroup_size);
        Ok(Self {
            noise: k("noise")?,
            blur: k("blur")?,
            band: k("band")?,
            threshold: k("threshold")?,
            histogram: k("histogram")?,
        })
    }

    /// Bytes of GPU memory a lattice of `n` voxels needs here, and the largest single binding.
    pub fn memory_needed(n: u64) -> (u64, u64) {
        (6 * 4 * n + 4 * (HIST_BINS as u64 + 1), 4 * n)
    }

    /// Generates the lattice of `spec`, calibrating σ for its Tb.Th.
    pub fn generate(&self, ctx: &GpuContext, spec: &GeneratorSpec) -> Result<Generated> {
        self.generate_with_stop(ctx, spec, Stop::never())
    }

    /// As [`Self::generate`], giving up with
    /// [`crate::stop::StoppedInSetup`] between GPU passes once `stop` is
    /// requested.
    pub fn generate_with_stop(
        &self,
        ctx: &GpuContext,
        spec: &GeneratorSpec,
        stop: Stop<'_>,
    ) -> Result<Generated> {
        validate(spec)?;
        let n: u64 = spec.dims.iter().map(|&d| d as u64).product();
        let (_, binding) = Self::memory_needed(n);
        if binding > ctx.max_binding_bytes() {
            bail!(
                "a {}×{}×{} lattice needs {} MiB per field binding; this adapter allows {} MiB \
                 (max_storage_buffer_binding_size). Use a smaller lattice or a larger voxel size.",
                spec.dims[0],
                spec.dims[1],
                spec.dims[2],
                binding.div_ceil(1 << 20),
                ctx.max_binding_bytes() >> 20
            );
        }
        let target_th_vox = spec.tb_th_um / spec.voxel_size_um;
        // Measured on this generator (64³, rod weight 0.5): Tb.Th ≈ 2.4 voxels
        // at σ = 4 and BV/TV 0.2, growing as σ^1.5 and roughly as BV/TV^0.75.
        let mut slope = 1.5;
        let th_at_4 = 2.44 * (spec.bv_tv / 0.2).powf(0.75);
        let mut sigma = (4.0 * (target_th_vox / th_at_4).powf(1.0 / slope)).clamp(0.5, 64.0);
        let cal_dims = spec.dims.map(|d| d.min(CALIBRATION_EDGE));
        let mut calibration = Vec::new();
        for _ in 0..CALIBRATION_ROUNDS {
            let mineral = self.stoppable_field(ctx, cal_dims, sigma, spec, stop)?;
            stop.check(|| STAGE.into())?;
            let bone: Vec<bool> = mineral
                .iter()
                .map(|&m| m >= super::BONE_THRESHOLD)
                .collect();
            let th_um = mean_local_thickness(&bone, cal_dims) * spec.voxel_size_um;
            calibration.push((sigma, th_um));
            let ratio = spec.tb_th_um / th_um;
            if (ratio - 1.0).abs() <= CALIBRATION_TOLERANCE {
                break;
            }
            // Secant step on log Tb.Th against log σ.
            if let [.., (s0, t0), (s1, t1)] = calibration[..] {
                let measured = (t1 / t0).ln() / (s1 / s0).ln();
                if measured.is_finite() && measured > 0.3 {
                    slope = measured.min(4.0);
                }
            }
            sigma = (sigma * ratio.powf(1.0 / slope)).clamp(0.5, 64.0);
        }
        // Use the round that came closest.
        let (sigma, _) = *calibration
            .iter()
            .min_by(|a, b| {
                let e = |t: f64| (t / spec.tb_th_um - 1.0).abs();
                e(a.1).total_cmp(&e(b.1))
            })
            .expect("at least one calibration round");
        let mineral = self.stoppable_field(ctx, spec.dims, sigma, spec, stop)?;
        Ok(Generated {
            lattice: Lattice {
                dims: spec.dims,
                voxel_size_um: spec.voxel_size_um,
                mineral,
            },
            sigma_vox: sigma,
            calibration,
        })
    }

    /// One lattice at a given σ (voxels) with the spec's BV/TV.
    pub fn field(
        &self,
        ctx: &GpuContext,
        dims: [usize; 3],
        sigma: f64,
        spec: &GeneratorSpec,
    ) -> Result<Vec<f32>> {
        self.stoppable_field(ctx, dims, sigma, spec, Stop::never())
    }

    /// [`Self::field`], one GPU submission per pass with `stop` checked
    /// after each: a pass over a large lattice on a software adapter takes
    /// long, the whole chain much longer.
    fn stoppable_field(
        &self,
        ctx: &GpuContext,
        dims: [usize; 3],
        sigma: f64,
        spec: &GeneratorSpec,
        stop: Stop<'_>,
    ) -> Result<Vec<f32>> {
        let device = &ctx.device;
        let n = dims.iter().product::<usize>() as u32;
        let grid = [dims[0] as u32, dims[1] as u32, dims[2] as u32, n];
        let buf = |label| storage_buffer_zeroed(device, label, 4 * n as u64);
        let (noise, tmp, narrow, wide, g2) = (
            buf("noise"),
            buf("tmp"),
            buf("narrow"),
            buf("wide"),
            buf("g2"),
        );
        let hist = storage_buffer_zeroed(device, "histogram", 4 * (HIST_BINS as u64 + 1));
        let base = GenParams {
            grid,
            seed: spec.seed,
            ..Default::default()
        };
        let run = |kernel: &Kernel,
                   p: GenParams,
                   src: &wgpu::Buffer,
                   dst: &wgpu::Buffer,
                   w: &wgpu::Buffer|
         -> Result<()> {
            let mut encoder = device.create_command_encoder(&Default::default());
            let u = uniform_buffer(device, "gen params", &p);
            let bg = kernel.bind(
                device,
                &[
                    ("P", &u),
                    ("src", src),
                    ("dst", dst),
                    ("wide", w),
                    ("hist", &hist),
                ],
            );
            kernel.run(&mut encoder, &bg, n);
            ctx.submit_and_wait(encoder);
            stop.check(|| STAGE.into())?;
            Ok(())
        };
        for field in 0..2u32 {
            let weight = if field == 0 {
                1.0
            } else {
                spec.rod_weight as f32
            };
            if weight == 0.0 {
                continue;
            }
            run(&self.noise, GenParams { field, ..base }, &tmp, &noise, &g2)?;
            // Narrow blur N→narrow (x: N→narrow, y: narrow→tmp, z: tmp→narrow), then wide.
            for (s, out) in [(sigma, &narrow), (sigma * BAND_RATIO, &wide)] {
                let chain: [(&wgpu::Buffer, &wgpu::Buffer); 3] =
                    [(&noise, out), (out, &tmp), (&tmp, out)];
                for (axis, (src, dst)) in chain.into_iter().enumerate() {
                    let s_axis = if axis == 2 { s * spec.anisotropy } else { s };
                    let extent = dims[axis] as u32;
                    // Taps past half the extent wrap around: that is the
                    // periodic Gaussian, so no cap beyond a few periods.
                    let radius = ((3.0 * s_axis).ceil() as u32).min(3 * extent);
                    let p = GenParams {
                        axis: axis as u32,
                        radius,
                        sigma: s_axis as f32,
                        ..base
                    };
                    run(&self.blur, p, src, dst, &g2)?;
                }
            }
            let p = GenParams {
                weight,
                accumulate: (field == 1) as u32,
                ..base
            };
            run(&self.band, p, &narrow, &g2, &wide)?;
        }

        // Quantile of g² for the target BV/TV: the maximum first, then a
        // histogram over [0, max] and one refinement inside the bin that
        // holds the quantile.
        let target = (spec.bv_tv * n as f64).round() as u64;
        let max_bits = self.histogram_pass(ctx, &g2, &narrow, &wide, &hist, base, 1.0, 0.0)
            [HIST_BINS as usize];
        let (mut lo, mut hi) = (0.0f32, f32::from_bits(max_bits).next_up());
        let mut below = 0u64; // voxels with g² < lo
        let mut in_bin = 0u64; // voxels with lo ≤ g² < hi
        for _ in 0..2 {
            let counts = self.histogram_pass(ctx, &g2, &narrow, &wide, &hist, base, lo, hi);
            let width = (hi - lo) / HIST_BINS as f32;
            let mut b = 0;
            while b + 1 < HIST_BINS as usize && below + (counts[b] as u64) < target {
                below += counts[b] as u64;
                b += 1;
            }
            in_bin = counts[b] as u64;
            lo += width * b as f32;
            hi = lo + width;
        }
        // The bin edge whose count is nearer the target.
        let threshold = if target.saturating_sub(below) <= (below + in_bin).saturating_sub(target) {
            lo
        } else {
            hi
        };
        let mut encoder = device.create_command_encoder(&Default::default());
        let p = GenParams { threshold, ..base };
        let u = uniform_buffer(device, "gen params", &p);
        let bg = self.threshold.bind(
            device,
            &[
                ("P", &u),
                ("src", &g2),
                ("dst", &narrow),
                ("wide", &wide),
                ("hist", &hist),
            ],
        );
        self.threshold.run(&mut encoder, &bg, n);
        ctx.submit_and_wait(encoder);
        Ok(read_buffer(device, &ctx.queue, &narrow, 0, n as u64))
    }

    /// Histogram of `g2` over [lo, hi) in `HIST_BINS` bins; the extra last
    /// slot holds the bit pattern of the maximum.
    #[allow(clippy::too_many_arguments)]
    fn histogram_pass(
        &self,
        ctx: &GpuContext,
        g2: &wgpu::Buffer,
        a: &wgpu::Buffer,
        b: &wgpu::Buffer,
        hist: &wgpu::Buffer,
        base: GenParams,
        lo: f32,
        hi: f32,
    ) -> Vec<u32> {
        let device = &ctx.device;
        let mut encoder = device.create_command_encoder(&Default::default());
        encoder.clear_buffer(hist, 0, None);
        let p = GenParams {
            lo,
            hi,
            bins: HIST_BINS,
            ..base
        };
        let u = uniform_buffer(device, "gen params", &p);
        let bg = self.histogram.bind(
            device,
            &[
                ("P", &u),
                ("src", g2),
                ("dst", a),
                ("wide", b),
                ("hist", hist),
            ],
        );
        self.histogram.run(&mut encoder, &bg, base.grid[3]);
        ctx.submit_and_wait(encoder);
        read_buffer(device, &ctx.queue, hist, 0, HIST_BINS as u64 + 1)
    }
}

fn mean_local_thickness(bone: &[bool], dims: [usize; 3]) -> f64 {
    let th = crate::morph::local_thickness(bone, dims);
    let (sum, count) = th
        .iter()
        .zip(bone)
        .filter(|(_, b)| **b)
        .fold((0.0, 0usize), |(s, c), (t, _)| (s + *t as f64, c + 1));
    if count == 0 { 0.0 } else { sum / count as f64 }
}

fn validate(spec: &GeneratorSpec) -> Result<()> {
    if spec.dims.iter().any(|&d| d < 4) {
        bail!(
            "lattice dims {:?}: every axis needs at least 4 voxels",
            spec.dims
        );
    }
    let n: u64 = spec.dims.iter().map(|&d| d as u64).product();
    if n > u32::MAX as u64 / 2 {
        bail!(
            "lattice dims {:?}: {} voxels exceed what a 32-bit index addresses",
            spec.dims,
            n
        );
    }
    Ok(())
}

/// Generates a lattice on a fresh kernel set (convenience for one-off use).
pub fn generate(ctx: &GpuContext, spec: &GeneratorSpec) -> Result<Generated> {
    generate_with_stop(ctx, spec, Stop::never())
}

/// [`generate`], stopping between GPU passes once `stop` is requested.
pub fn generate_with_stop(
    ctx: &GpuContext,
    spec: &GeneratorSpec,
    stop: Stop<'_>,
) -> Result<Generated> {
    Generator::new(ctx, 64)
        .context("building the lattice generator kernels")?
        .generate_with_stop(ctx, spec, stop)
}
