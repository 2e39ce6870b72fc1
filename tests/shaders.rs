//! Every shader composes and validates, and GPU structs match their WGSL twins.

mod common;

use trabecula::gpu::GpuStruct;
use trabecula::gpu::compose::{compose, compose_validated, kernel_files};

#[test]
fn all_kernel_files_compose_and_validate() {
    for name in kernel_files() {
        compose_validated(name).unwrap_or_else(|e| panic!("{e}"));
    }
}

/// Every file composes and validates on its own, shared pieces included:
/// none uses a global that only its importer declares.
#[test]
fn every_shared_piece_stands_on_its_own() {
    for name in trabecula::gpu::compose::shader_files() {
        compose_validated(name).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn imports_are_included_once() {
    let text = compose("lattice/generate").unwrap();
    assert_eq!(text.matches("fn pcg4d").count(), 1);
    assert_eq!(text.matches("struct Grid").count(), 1);
}

/// Member names, offsets and sizes of a Rust twin against naga's layout of
/// the WGSL struct of the same name; `Err` says what differs.
fn layout_mismatch<T: GpuStruct>() -> Result<(), String> {
    use wgpu::naga;
    let (_, module) = compose_validated(T::WGSL_FILE).map_err(|e| e.to_string())?;
    let mut layouter = naga::proc::Layouter::default();
    layouter.update(module.to_ctx()).unwrap();
    let (members, span) = module
        .types
        .iter()
        .find_map(|(_, t)| match &t.inner {
            naga::TypeInner::Struct { members, span }
                if t.name.as_deref() == Some(T::WGSL_NAME) =>
            {
                Some((members.clone(), *span))
            }
            _ => None,
        })
        .ok_or_else(|| format!("struct {} not in {}", T::WGSL_NAME, T::WGSL_FILE))?;
    let wgsl: Vec<(String, usize, usize)> = members
        .iter()
        .map(|m| {
            (
                m.name.clone().unwrap_or_default(),
                m.offset as usize,
                layouter[m.ty].size as usize,
            )
        })
        .collect();
    let rust: Vec<(String, usize, usize)> = T::fields()
        .into_iter()
        .map(|(n, o, s)| (n.to_string(), o, s))
        .collect();
    if wgsl != rust || span as usize != std::mem::size_of::<T>() {
        return Err(format!(
            "{} ({}): WGSL {span} bytes {wgsl:?}\nRust {} bytes {rust:?}",
            T::WGSL_NAME,
            T::WGSL_FILE,
            std::mem::size_of::<T>()
        ));
    }
    Ok(())
}

/// Every struct shared with a shader matches its WGSL twin field by field.
#[test]
fn every_gpu_struct_matches_its_wgsl_twin_by_name() {
    use trabecula::{cells, lattice, mech, render, scan, signals};
    let results = [
        layout_mismatch::<cells::agents::Agent>(),
        layout_mismatch::<cells::params::StepParams>(),
        layout_mismatch::<cells::compact::CompactParams>(),
        layout_mismatch::<lattice::generate::GenParams>(),
        layout_mismatch::<scan::scan::ScanParams>(),
        layout_mismatch::<scan::reduce::ReduceParams>(),
        layout_mismatch::<signals::diffuse::DiffuseParams>(),
        layout_mismatch::<mech::mesh::MeshParams>(),
        layout_mismatch::<mech::pcg::Scalars>(),
        layout_mismatch::<mech::multigrid::ChebyshevStep>(),
        layout_mismatch::<render::view::View>(),
        layout_mismatch::<render::agents::Sprites>(),
    ];
    let errors: Vec<String> = results.into_iter().filter_map(Result::err).collect();
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

/// The check sees a swap of two fields of the same type and size.
#[test]
fn a_swapped_field_is_caught() {
    trabecula::gpu_struct! {
        #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
        pub struct Agent in "cells/fate" {
            pub voxel: u32,
            pub id: u32,
            pub state: u32,
            pub aim: u32,
            pub age_days: f32,
            pub timer_days: f32,
            pub setpoint: f32,
            pub activity: f32,
        }
    }
    let err = layout_mismatch::<Agent>().unwrap_err();
    assert!(err.contains("timer_days"), "{err}");
}

/// The value of WGSL constant `name` as composed into `file`.
fn wgsl_constant(file: &str, name: &str) -> f64 {
    use wgpu::naga::{Expression, Literal};
    let (_, module) = compose_validated(file).unwrap();
    let (_, c) = module
        .constants
        .iter()
        .find(|(_, c)| c.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("const {name} not in {file}"));
    match module.global_expressions[c.init] {
        Expression::Literal(Literal::U32(v)) => v as f64,
        Expression::Literal(Literal::I32(v)) => v as f64,
        Expression::Literal(Literal::F32(v)) => v as f64,
        Expression::Literal(Literal::AbstractInt(v)) => v as f64,
        Expression::Literal(Literal::AbstractFloat(v)) => v,
        ref e => panic!("const {name} in {file} is not a literal: {e:?}"),
    }
}

/// Each constant both sides use is defined once per side and the two agree.
#[test]
fn every_shared_constant_matches_its_rust_twin() {
    use trabecula::cells::{agents, fate};
    use trabecula::mech::mesh;
    let cell = |c: agents::CellType| agents::CellType::ALL.iter().position(|&k| k == c).unwrap();
    let pairs: Vec<(&str, &str, f64)> = vec![
        (
            "cells/fate",
            "BONE_THRESHOLD",
            trabecula::lattice::BONE_THRESHOLD as f64,
        ),
        (
            "render/bone",
            "BONE_THRESHOLD",
            trabecula::lattice::BONE_THRESHOLD as f64,
        ),
        ("scan/scan", "CHUNK", trabecula::scan::CHUNK as f64),
        ("scan/reduce", "CHUNK", trabecula::scan::CHUNK as f64),
        (
            "cells/fate",
            "COUNT_OSTEOCYTES_ALIVE",
            fate::COUNT_OSTEOCYTES_ALIVE as f64,
        ),
        (
            "cells/fate",
            "COUNT_OSTEOCYTES_APOPTOTIC",
            fate::COUNT_OSTEOCYTES_APOPTOTIC as f64,
        ),
        (
            "cells/fate",
            "COUNT_OSTEOCLASTS",
            fate::COUNT_OSTEOCLASTS as f64,
        ),
        (
            "cells/fate",
            "COUNT_OSTEOBLASTS",
            fate::COUNT_OSTEOBLASTS as f64,
        ),
        (
            "cells/fate",
            "COUNT_OSTEOCYTES_DISUSE",
            fate::COUNT_OSTEOCYTES_DISUSE as f64,
        ),
        ("cells/fate", "STATE_ALIVE", agents::STATE_ALIVE as f64),
        (
            "cells/fate",
            "STATE_APOPTOTIC",
            agents::STATE_APOPTOTIC as f64,
        ),
        ("cells/fate", "STATE_DEAD", agents::STATE_DEAD as f64),
        ("cells/fate", "STATE_EMBED", agents::STATE_EMBED as f64),
        ("cells/fate", "NO_TARGET", agents::NO_TARGET as f64),
        (
            "cells/fate",
            "KIND_OSTEOCLAST",
            cell(agents::CellType::Osteoclast) as f64,
        ),
        (
            "cells/fate",
            "KIND_OSTEOBLAST",
            cell(agents::CellType::Osteoblast) as f64,
        ),
        ("mechanics/operator", "FIX_X", mesh::FIX_X as f64),
        ("mechanics/operator", "ACTIVE", mesh::ACTIVE as f64),
    ];
    for (file, name, rust) in pairs {
        assert_eq!(wgsl_constant(file, name), rust, "{name} in {file}");
    }
    // The shader addresses y and z as FIX_X shifted by the component.
    assert_eq!(
        (mesh::FIX_Y, mesh::FIX_Z),
        (mesh::FIX_X << 1, mesh::FIX_X << 2)
    );
    // The fate kernels fill exactly COUNTS slots.
    assert_eq!(fate::COUNTS, 5);
}

/// Layouts come from the shader: each entry point gets exactly the
/// resources it uses, with their WGSL names, kinds and minimum sizes.
#[test]
fn kernel_layouts_are_read_from_the_shader() {
    use trabecula::gpu::kernel::slots_of;
    use trabecula::gpu::{Binding, Slot};
    let slots = slots_of("mechanics/operator", "sed").unwrap();
    let got: Vec<(u32, Binding, &str, u64)> = slots
        .iter()
        .map(|s: &Slot| (s.binding, s.kind, s.name.as_str(), s.min_bytes))
        .collect();
    let params = std::mem::size_of::<trabecula::mech::mesh::MeshParams>() as u64;
    assert_eq!(
        got,
        [
            (0, Binding::Uniform, "M", params),
            (2, Binding::StorageRead, "scale", 4),
            (4, Binding::StorageRead, "xin", 4),
            (7, Binding::StorageWrite, "sed_out", 4),
        ]
    );
    // Every entry point of every kernel file reflects.
    for file in kernel_files().filter(|f| !f.starts_with("render/")) {
        let (_, module) = compose_validated(file).unwrap();
        for ep in &module.entry_points {
            let slots = slots_of(file, &ep.name).unwrap();
            assert!(!slots.is_empty(), "{file}::{} binds nothing", ep.name);
        }
    }
}

/// Binding by name refuses what binding by position let through.
#[test]
fn a_wrong_missing_or_undersized_buffer_is_refused_by_name() {
    use trabecula::gpu::kernel::{check_bindings, slots_of};
    let slots = slots_of("scan/scan", "chunk_sums").unwrap();
    let declared: Vec<String> = ["P", "src", "dst", "offsets", "total"]
        .map(String::from)
        .to_vec();
    let ok = [("P", 16), ("src", 256), ("dst", 4)];
    assert_eq!(check_bindings(&slots, &declared, ok), Ok(()));
    // A name the shader does not have.
    let err = check_bindings(&slots, &declared, [("P", 16), ("input", 256), ("dst", 4)]);
    assert!(err.unwrap_err().contains("no binding `input`"));
    // A resource left out.
    let err = check_bindings(&slots, &declared, [("P", 16), ("src", 256)]);
    assert!(err.unwrap_err().contains("\"dst\""));
    // The parameters and a data buffer swapped: 4 bytes where the 16-byte
    // uniform belongs.
    let err = check_bindings(&slots, &declared, [("P", 4), ("src", 256), ("dst", 16)]);
    assert!(err.unwrap_err().contains("`P` is 4 bytes"));
    // The same name twice.
    let err = check_bindings(&slots, &declared, [("P", 16), ("src", 256), ("src", 4)]);
    assert!(err.unwrap_err().contains("twice"));
}
