//! Deterministic f32 sum (`shaders/scan/reduce.wgsl`) and its CPU twin.
//!
//! The summation tree has a fixed shape: each invocation adds one chunk of
//! [`CHUNK`] consecutive values in order, starting from 0, and the partials
//! are summed the same way until one value remains. No atomics and nothing
//! depends on the workgroup size, so the result is the same bits on every
//! run, for every `WG`, and equal to [`sum_cpu`].

use super::{CHUNK, Scratch, elements, window_elements};
use crate::gpu::{GpuContext, Kernel, uniform_buffer};

crate::gpu_struct! {
    /// `shaders/scan/reduce.wgsl`.
    #[derive(Debug, Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
    pub struct ReduceParams in "scan/reduce" {
        /// Values in this window of the level.
        pub n: u32,
        /// Index in the destination of chunk 0's partial.
        pub base: u32,
        pub _pad0: u32,
        pub _pad1: u32,
    }
}

/// The f32 sum: one pipeline and two ping-pong scratch buffers for the
/// partial levels (grown as needed; safe to reuse across several sums
/// recorded into one encoder, since they run in recording order).
pub struct Reduce {
    sum: Kernel,
    scratch: [Scratch; 2],
    window_cap: Option<u32>,
}

impl Reduce {
    /// Builds the pipeline with workgroup size `workgroup_size`.
    pub fn new(ctx: &GpuContext, workgroup_size: u32) -> anyhow::Result<Self> {
        Ok(Self {
            sum: Kernel::new(&ctx.device, "scan/reduce", "chunk_sum", workgroup_size)?,
            scratch: [
                Scratch::new("reduce partials A"),
                Scratch::new("reduce partials B"),
            ],
            window_cap: None,
        })
    }

    /// Caps how many values of the input are bound at once (normally the
    /// adapter's binding limit decides). For tests of the windowing.
    pub fn set_window_cap(&mut self, elements: Option<u32>) {
        self.window_cap = elements;
    }

    /// Records the sum of `input[0..n]` (f32) into `output[out_index]` (f32);
    /// an empty input sums to 0. `input` and `output` must be distinct
    /// buffers. Only records: no submit, no readback.
    pub fn record_sum(
        &mut self,
        ctx: &GpuContext,
        encoder: &mut wgpu::CommandEncoder,
        input: &wgpu::Buffer,
        n: u32,
        output: &wgpu::Buffer,
        out_index: u32,
    ) {
        let d = &ctx.device;
        assert!(
            input.size() >= u64::from(n) * 4,
            "reduce: input holds fewer than {n} f32"
        );
        assert!(
            output.size() > u64::from(out_index) * 4,
            "reduce: output has no element {out_index}"
        );
        let params = |n: u32, base: u32| {
            uniform_buffer(
                d,
                "reduce params",
                &ReduceParams {
                    n,
                    base,
                    _pad0: 0,
                    _pad1: 0,
                },
            )
        };
        // Partials per level: ceil(n / CHUNK) until one remains.
        let mut sizes = vec![n];
        loop {
            let m = sizes.last().unwrap().div_ceil(CHUNK).max(1);
            sizes.push(m);
            if m == 1 {
                break;
            }
        }
        let levels = sizes.len() - 1; // dispatch levels; the last writes `output`
        // Level l (1-based) writes scratch[(l - 1) % 2] unless it is the last.
        let mut cap = [0u32; 2];
        for l in 1..levels {
            cap[(l - 1) % 2] = cap[(l - 1) % 2].max(sizes[l]);
        }
        for (s, &words) in self.scratch.iter_mut().zip(&cap) {
            if words > 0 {
                s.get(d, words);
            }
        }
        let scratch: Vec<Option<&wgpu::Buffer>> =
            self.scratch.iter().map(|s| s.buffer.as_ref()).collect();
        let out = elements(output, 0, out_index + 1);
        let dst_of = |l: usize| -> wgpu::BindingResource<'_> {
            if l == levels {
                out.clone()
            } else {
                scratch[(l - 1) % 2].unwrap().as_entire_binding()
            }
        };
        let base_of = |l: usize| if l == levels { out_index } else { 0 };

        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("reduce"),
            timestamp_writes: None,
        });
        // Level 1 reads the caller's input window by window (one window when empty).
        let window = window_elements(ctx, self.window_cap);
        let mut first = 0;
        loop {
            let count = window.min(n - first);
            let u = params(count, base_of(1) + first / CHUNK);
            let bg = self.sum.bind_resources(
                d,
                vec![
                    ("P", u.as_entire_binding()),
                    ("src", elements(input, first, count)),
                    ("dst", dst_of(1)),
                ],
            );
            self.sum
                .dispatch(&mut pass, &bg, count.div_ceil(CHUNK).max(1));
            first += count;
            if first >= n {
                break;
            }
        }
        for l in 2..=levels {
            let u = params(sizes[l - 1], base_of(l));
            let src = scratch[(l - 2) % 2].unwrap().as_entire_binding();
            let bg = self.sum.bind_resources(
                d,
                vec![
                    ("P", u.as_entire_binding()),
                    ("src", src),
                    ("dst", dst_of(l)),
                ],
            );
            self.sum.dispatch(&mut pass, &bg, sizes[l]);
        }
    }
}

/// CPU twin of [`Reduce::record_sum`]: the same chunks, the same f32 adds
/// in the same order, hence the same bits.
pub fn sum_cpu(values: &[f32]) -> f32 {
    let mut level: Vec<f32> = values
        .chunks(CHUNK as usize)
        .map(|c| c.iter().fold(0.0f32, |a, &b| a + b))
        .collect();
    while level.len() > 1 {
        level = level
            .chunks(CHUNK as usize)
            .map(|c| c.iter().fold(0.0f32, |a, &b| a + b))
            .collect();
    }
    level.first().copied().unwrap_or(0.0)
}
