//! Exclusive scan (`shaders/scan/prefix.wgsl`).
use crate::gpu::{Binding::*, GpuContext, Kernel, storage_buffer_zeroed, uniform_buffer};

#[repr(C)]
#[derive(Debug, Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ScanParams {
    pub n: u32,
    pub index: u32,
    pub _pad: [u32; 2],
}

const CHUNK: u32 = 64;

pub struct Scan {
    sums: Kernel,
    top: Kernel,
    down: Kernel,
}

impl Scan {
    pub fn new(ctx: &GpuContext, wg: u32) -> anyhow::Result<Self> {
        let d = &ctx.device;
        Ok(Self {
            sums: Kernel::with_slots(
                d,
                "scan/prefix",
                "chunk_sums",
                &[(0, Uniform), (1, StorageRead), (2, StorageWrite)],
                wg,
            )?,
            top: Kernel::with_slots(
                d,
                "scan/prefix",
                "scan_top",
                &[
                    (0, Uniform),
                    (1, StorageRead),
                    (2, StorageWrite),
                    (4, StorageWrite),
                ],
                wg,
            )?,
            down: Kernel::with_slots(
                d,
                "scan/prefix",
                "chunk_scan",
                &[
                    (0, Uniform),
                    (1, StorageRead),
                    (2, StorageWrite),
                    (3, StorageRead),
                ],
                wg,
            )?,
        })
    }

    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &mut self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        input: &wgpu::Buffer,
        output: &wgpu::Buffer,
        n: u32,
        total: &wgpu::Buffer,
        total_index: u32,
    ) {
        let d = &ctx.device;
        let p = |n: u32| {
            uniform_buffer(
                d,
                "scan",
                &ScanParams {
                    n,
                    index: total_index,
                    _pad: [0; 2],
                },
            )
        };
        if n <= CHUNK {
            let u = p(n);
            let bg = self.top.bind(d, &[&u, input, output, total]);
            self.top.run(enc, &bg, 1);
            return;
        }
        // Level sizes and their sum / offset buffers.
        let mut sizes = vec![n];
        while *sizes.last().unwrap() > CHUNK {
            let s = sizes.last().unwrap().div_ceil(CHUNK);
            sizes.push(s);
        }
        let sums: Vec<wgpu::Buffer> = sizes[1..]
            .iter()
            .map(|&s| storage_buffer_zeroed(d, "scan sums", 4 * s as u64))
            .collect();
        let offs: Vec<wgpu::Buffer> = sizes[1..]
            .iter()
            .map(|&s| storage_buffer_zeroed(d, "scan offsets", 4 * s as u64))
            .collect();
        for l in 0..sums.len() {
            let src = if l == 0 { input } else { &sums[l - 1] };
            let u = p(sizes[l]);
            let bg = self.sums.bind(d, &[&u, src, &sums[l]]);
            self.sums.run(enc, &bg, sizes[l].div_ceil(CHUNK));
        }
        let top = sums.len() - 1;
        let u = p(sizes[top + 1]);
        let bg = self.top.bind(d, &[&u, &sums[top], &offs[top], total]);
        self.top.run(enc, &bg, 1);
        for l in (0..sums.len()).rev() {
            let (src, dst) = if l == 0 {
                (input, output)
            } else {
                (&sums[l - 1], &offs[l - 1])
            };
            let u = p(sizes[l]);
            let bg = self.down.bind(d, &[&u, src, dst, &offs[l]]);
            self.down.run(enc, &bg, sizes[l].div_ceil(CHUNK));
        }
    }
}
