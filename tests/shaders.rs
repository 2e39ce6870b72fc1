//! Every shader composes and validates, and GPU structs match their WGSL twins.

mod common;

use trabecula::gpu::compose::{compose, compose_validated, kernel_files};

#[test]
fn all_kernel_files_compose_and_validate() {
    for name in kernel_files() {
        compose_validated(name).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn imports_are_included_once() {
    let text = compose("lattice/generate").unwrap();
    assert_eq!(text.matches("fn pcg4d").count(), 1);
    assert_eq!(text.matches("struct Grid").count(), 1);
}

#[test]
fn gen_params_layout_matches_wgsl() {
    use std::mem::{offset_of, size_of};
    use trabecula::lattice::generate::GenParams;
    let (size, members) = common::wgsl_layout("lattice/generate", "GenParams");
    assert_eq!(size as usize, size_of::<GenParams>());
    let rust = [
        ("grid", offset_of!(GenParams, grid)),
        ("seed", offset_of!(GenParams, seed)),
        ("field", offset_of!(GenParams, field)),
        ("axis", offset_of!(GenParams, axis)),
        ("radius", offset_of!(GenParams, radius)),
        ("sigma", offset_of!(GenParams, sigma)),
        ("weight", offset_of!(GenParams, weight)),
        ("accumulate", offset_of!(GenParams, accumulate)),
        ("threshold", offset_of!(GenParams, threshold)),
        ("lo", offset_of!(GenParams, lo)),
        ("hi", offset_of!(GenParams, hi)),
        ("bins", offset_of!(GenParams, bins)),
        ("_pad", offset_of!(GenParams, _pad)),
    ];
    assert_eq!(members.len(), rust.len());
    for ((wn, wo), (rn, ro)) in members.iter().zip(rust) {
        assert_eq!((wn.as_str(), *wo as usize), (rn, ro));
    }
}
