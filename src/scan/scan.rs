//! Exclusive prefix sum of u32 (`shaders/scan/scan.wgsl`): exact, and the
//! same bytes whatever the workgroup size.
//!
//! Upsweep: each invocation sums one chunk of [`CHUNK`] elements, level by
//! level, until at most [`CHUNK`] chunk sums remain; one invocation scans
//! those and writes the grand total; downsweep: each invocation rescans its
//! chunk starting from the chunk's offset. Level 0 is processed in windows
//! that fit the adapter's binding limit.

use super::{CHUNK, Scratch, elements, window_elements};
use crate::gpu::{GpuContext, Kernel, uniform_buffer};

crate::gpu_struct! {
    /// `shaders/scan/scan.wgsl`.
    #[derive(Debug, Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
    pub struct ScanParams in "scan/scan" {
        /// Elements in this window of the level.
        pub n: u32,
        /// Index of the window's first chunk in the level above.
        pub base: u32,
        /// Element of `total` that receives the grand total (`scan_top` only).
        pub total_index: u32,
        pub _pad: u32,
    }
}

/// The exclusive scan: three pipelines and the scratch of the partial levels.
pub struct Scan {
    sums: Kernel,
    top: Kernel,
    down: Kernel,
    /// Per level above 0: (chunk sums, chunk offsets), grown as needed.
    levels: Vec<(Scratch, Scratch)>,
    window_cap: Option<u32>,
}

impl Scan {
    /// Builds the pipelines with workgroup size `workgroup_size`.
    pub fn new(ctx: &GpuContext, workgroup_size: u32) -> anyhow::Result<Self> {
        let d = &ctx.device;
        Ok(Self {
            sums: Kernel::new(d, "scan/scan", "chunk_sums", workgroup_size)?,
            top: Kernel::new(d, "scan/scan", "scan_top", workgroup_size)?,
            down: Kernel::new(d, "scan/scan", "chunk_scan", workgroup_size)?,
            levels: Vec::new(),
            window_cap: None,
        })
    }

    /// Caps how many elements of the caller's buffers are bound at once
    /// (normally the adapter's binding limit decides); rounded down to a
    /// whole number of chunks and alignment units. For tests of the windowing.
    pub fn set_window_cap(&mut self, elements: Option<u32>) {
        self.window_cap = elements;
    }

    /// Records `output[i] = Σ_{j<i} input[j]` for `i in 0..n`, and writes the
    /// grand total `Σ input[0..n]` (wrapping u32) into `total[total_index]`.
    ///
    /// `input` and `output` are distinct buffers of at least `n` u32;
    /// `total` is a storage buffer distinct from both. Only records: no
    /// submit, no readback.
    #[allow(clippy::too_many_arguments)] // the brief's signature: buffers + sizes
    pub fn record(
        &mut self,
        ctx: &GpuContext,
        encoder: &mut wgpu::CommandEncoder,
        input: &wgpu::Buffer,
        output: &wgpu::Buffer,
        n: u32,
        total: &wgpu::Buffer,
        total_index: u32,
    ) {
        let d = &ctx.device;
        let bytes = u64::from(n) * 4;
        assert!(
            input.size() >= bytes,
            "scan: input holds fewer than {n} u32"
        );
        assert!(
            output.size() >= bytes,
            "scan: output holds fewer than {n} u32"
        );
        assert!(
            total.size() >= (u64::from(total_index) + 1) * 4,
            "scan: total has no element {total_index}"
        );
        let params = |n: u32, base: u32| {
            uniform_buffer(
                d,
                "scan params",
                &ScanParams {
                    n,
                    base,
                    total_index,
                    _pad: 0,
                },
            )
        };
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("scan"),
            timestamp_writes: None,
        });
        // Everything fits one chunk: a single invocation scans it.
        if n <= CHUNK {
            let u = params(n, 0);
            let bg = self.top.bind_resources(
                d,
                vec![
                    ("P", u.as_entire_binding()),
                    ("src", elements(input, 0, n)),
                    ("dst", elements(output, 0, n)),
                    ("total", total.as_entire_binding()),
                ],
            );
            self.top.dispatch(&mut pass, &bg, 1);
            return;
        }

        // sizes[l]: elements at level l; the last level has at most CHUNK.
        let mut sizes = vec![n];
        while let Some(&s) = sizes.last().filter(|&&s| s > CHUNK) {
            sizes.push(s.div_ceil(CHUNK));
        }
        let above = sizes.len() - 1;
        while self.levels.len() < above {
            self.levels.push((
                Scratch::new("scan chunk sums"),
                Scratch::new("scan chunk offsets"),
            ));
        }
        // Grow every level's scratch first, then borrow them all immutably.
        for (l, (sums, offs)) in self.levels.iter_mut().take(above).enumerate() {
            sums.get(d, sizes[l + 1]);
            offs.get(d, sizes[l + 1]);
        }
        let level: Vec<(&wgpu::Buffer, &wgpu::Buffer)> = self.levels[..above]
            .iter()
            .map(|(s, o)| (s.buffer.as_ref().unwrap(), o.buffer.as_ref().unwrap()))
            .collect();
        let window = window_elements(ctx, self.window_cap);

        // Upsweep. Level 0 reads the caller's input window by window.
        let mut first = 0;
        while first < n {
            let count = window.min(n - first);
            let u = params(count, first / CHUNK);
            let bg = self.sums.bind_resources(
                d,
                vec![
                    ("P", u.as_entire_binding()),
                    ("src", elements(input, first, count)),
                    ("dst", level[0].0.as_entire_binding()),
                ],
            );
            self.sums.dispatch(&mut pass, &bg, count.div_ceil(CHUNK));
            first += count;
        }
        for l in 1..above {
            let u = params(sizes[l], 0);
            let bg = self.sums.bind_resources(
                d,
                vec![
                    ("P", u.as_entire_binding()),
                    ("src", level[l - 1].0.as_entire_binding()),
                    ("dst", level[l].0.as_entire_binding()),
                ],
            );
            self.sums.dispatch(&mut pass, &bg, sizes[l].div_ceil(CHUNK));
        }

        // The top level: one invocation, also writes the grand total.
        let u = params(sizes[above], 0);
        let bg = self.top.bind_resources(
            d,
            vec![
                ("P", u.as_entire_binding()),
                ("src", level[above - 1].0.as_entire_binding()),
                ("dst", level[above - 1].1.as_entire_binding()),
                ("total", total.as_entire_binding()),
            ],
        );
        self.top.dispatch(&mut pass, &bg, 1);

        // Downsweep: each chunk rescans from its offset.
        for l in (1..above).rev() {
            let u = params(sizes[l], 0);
            let bg = self.down.bind_resources(
                d,
                vec![
                    ("P", u.as_entire_binding()),
                    ("src", level[l - 1].0.as_entire_binding()),
                    ("dst", level[l - 1].1.as_entire_binding()),
                    ("offsets", level[l].1.as_entire_binding()),
                ],
            );
            self.down.dispatch(&mut pass, &bg, sizes[l].div_ceil(CHUNK));
        }
        let mut first = 0;
        while first < n {
            let count = window.min(n - first);
            let u = params(count, first / CHUNK);
            let bg = self.down.bind_resources(
                d,
                vec![
                    ("P", u.as_entire_binding()),
                    ("src", elements(input, first, count)),
                    ("dst", elements(output, first, count)),
                    ("offsets", level[0].1.as_entire_binding()),
                ],
            );
            self.down.dispatch(&mut pass, &bg, count.div_ceil(CHUNK));
            first += count;
        }
    }
}

/// CPU twin of [`Scan::record`]: the exclusive scan and the grand total
/// (wrapping u32 adds, as on the GPU).
pub fn exclusive_scan_cpu(input: &[u32]) -> (Vec<u32>, u32) {
    let mut s = 0u32;
    let out = input
        .iter()
        .map(|&v| {
            let o = s;
            s = s.wrapping_add(v);
            o
        })
        .collect();
    (out, s)
}
