//! Deterministic f32 sum (`shaders/scan/reduce.wgsl`).
use crate::gpu::{Binding::*, GpuContext, Kernel, storage_buffer_zeroed, uniform_buffer};

#[repr(C)]
#[derive(Debug, Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ReduceParams {
    pub n: u32,
    pub out_index: u32,
    pub _pad: [u32; 2],
}
const CHUNK: u32 = 64;
pub struct Reduce {
    sum: Kernel,
}
impl Reduce {
    pub fn new(ctx: &GpuContext, wg: u32) -> anyhow::Result<Self> {
        Ok(Self {
            sum: Kernel::with_slots(
                &ctx.device,
                "scan/reduce",
                "chunk_sum",
                &[(0, Uniform), (1, StorageRead), (2, StorageWrite)],
                wg,
            )?,
        })
    }
    pub fn record_sum(
        &mut self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        input: &wgpu::Buffer,
        n: u32,
        output: &wgpu::Buffer,
        out_index: u32,
    ) {
        let d = &ctx.device;
        let mut n = n;
        let mut src = input.clone();
        loop {
            let m = n.div_ceil(CHUNK).max(1);
            let last = m == 1;
            let dst = if last {
                output.clone()
            } else {
                storage_buffer_zeroed(d, "reduce", 4 * m as u64)
            };
            let u = uniform_buffer(
                d,
                "reduce",
                &ReduceParams {
                    n,
                    out_index: if last { out_index } else { 0 },
                    _pad: [0; 2],
                },
            );
            let bg = self.sum.bind(d, &[&u, &src, &dst]);
            self.sum.run(enc, &bg, m);
            if last {
                break;
            }
            src = dst;
            n = m;
        }
    }
}
pub fn sum_cpu(v: &[f32]) -> f32 {
    let mut cur: Vec<f32> = v.to_vec();
    loop {
        let next: Vec<f32> = cur
            .chunks(CHUNK as usize)
            .map(|c| c.iter().fold(0.0f32, |a, b| a + b))
            .collect();
        if next.len() <= 1 {
            return next.first().copied().unwrap_or(0.0);
        }
        cur = next;
    }
}
