//! Biological parameters: `[cells]` and `[signals]`. Each is optional in a
//! scene; what is left out comes from the species preset. Ranges are the
//! allowed values; sources are in `docs/parameters.md`.

use serde::{Deserialize, Serialize};

use super::{Invalid, Species};

/// Declares a section whose every field is an optional f64 with a human
/// default, a mouse default and an allowed range; fields marked `@` come
/// first and are of their own type (set by hand, e.g. an enum selector).
macro_rules! parameter_section {
    ($(#[$meta:meta])* $name:ident => $resolved:ident, $prefix:literal, {
        $(@ $(#[$xmeta:meta])* $xfield:ident : $xty:ty;)*
        $($(#[$fmeta:meta])* $field:ident : $human:expr, $mouse:expr, $min:expr, $max:expr, $unit:literal;)*
    }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $($(#[$xmeta])* #[serde(default, skip_serializing_if = "Option::is_none")] pub $xfield: Option<$xty>,)*
            $($(#[$fmeta])* #[serde(default, skip_serializing_if = "Option::is_none")] pub $field: Option<f64>,)*
        }

        /// The section with every value in force (unset ones from the
        /// species preset): what the simulation reads.
        #[derive(Debug, Clone, PartialEq)]
        pub struct $resolved {
            $($(#[$xmeta])* pub $xfield: $xty,)*
            $($(#[$fmeta])* pub $field: f64,)*
        }

        impl $name {
            /// Every value in force: the scene's, else the species preset's.
            pub fn resolve(&self, species: Species) -> $resolved {
                $resolved {
                    $($xfield: self.$xfield.clone().unwrap_or_default(),)*
                    $($field: self.$field.unwrap_or(match species {
                        Species::Human => $human,
                        Species::Mouse => $mouse,
                    }),)*
                }
            }

            /// Fills unset values from the species preset (so a recorded
            /// scene shows every value in force).
            pub fn apply_preset(&mut self, species: Species) {
                let r = self.resolve(species);
                $(self.$field.get_or_insert(r.$field);)*
            }

            /// Range errors, with `[section].key` paths.
            pub fn validate(&self, out: &mut Vec<Invalid>) {
                $(if let Some(v) = self.$field {
                    let key = concat!($prefix, ".", stringify!($field));
                    if !($min..=$max).contains(&v) {
                        out.push(Invalid::new(key, format!(
                            "value {v} is out of range; allowed {} ≤ {key} ≤ {}{}", $min as f64, $max as f64, $unit)));
                    }
                })*
            }

            /// (key, value) pairs, for documentation and tests.
            pub fn defaults(species: Species) -> Vec<(&'static str, f64)> {
                let r = Self::default().resolve(species);
                vec![$((stringify!($field), r.$field),)*]
            }
        }
    };
}

parameter_section!(
    /// `[cells]`: osteocytes, osteoclasts, osteoblasts and coupling.
    CellsSection => Cells, "cells", {
    /// Lacunae per mm³ of bone (Mullender 1996: 13 000–17 000 human; tens of thousands in rodents).
    osteocyte_density_per_mm3: 15_000.0, 50_000.0, 100.0, 300_000.0, " /mm³";
    /// Time constant of the osteocyte set-point's adaptation to its stimulus.
    osteocyte_adaptation_days: 365.0, 60.0, 1.0, 100_000.0, " days";
    /// Half-width of the lazy zone: relative departures of the stimulus from
    /// the set-point within ±this neither read as disuse nor as overload
    /// (Huiskes et al. 1987; Frost's adapted window).
    osteocyte_lazy_zone: 0.3, 0.0, 0.0, 0.9, "";
    /// Apoptosis hazard at habitual load (osteocyte lifespan of decades).
    apoptosis_basal_per_day: 1e-4, 5e-4, 0.0, 1.0, " /day";
    /// Extra apoptosis hazard at full disuse (Aguirre 2006: rises within 3 days).
    apoptosis_disuse_per_day: 0.002, 0.05, 0.0, 1.0, " /day";
    /// Days an apoptotic osteocyte keeps signalling before it is cleared.
    apoptotic_clear_days: 5.0, 5.0, 0.5, 100.0, " days";
    /// RANKL secretion relative increase at full disuse (Xiong 2011; Nakashima 2011).
    /// Mouse 0: after unloading, osteocyte RANKL rises only where they die
    /// (Cabahug-Zuckerman et al. 2016).
    rankl_disuse_gain: 1.15, 0.0, 0.0, 100.0, "";
    /// RANKL of an apoptotic osteocyte relative to a live one (Cheung 2016; Kennedy 2012).
    rankl_apoptotic_factor: 10.0, 40.0, 1.0, 1000.0, "";
    /// PTH (pmol/L) that half-activates RANKL production (Pivonka et al.
    /// 2008, K_D4,PTH = 150 pM): with the body's PTH far below it, RANKL
    /// follows PTH almost in proportion. Osteocytes' RANKL answers PTH
    /// through their PTH receptor (Ben-awadh et al. 2014). Human scenes only
    /// (the mouse has no systemic compartment).
    rankl_pth_half_pmol_per_l: 150.0, 150.0, 0.01, 1e6, " pmol/L";
    /// Sclerostin secretion relative increase at full disuse (Robling 2008; Spatz 2015).
    sclerostin_disuse_gain: 1.8, 3.5, 0.0, 100.0, "";
    /// Sclerostin suppression per unit overload (Robling 2008).
    sclerostin_overload_gain: 2.0, 2.0, 0.0, 100.0, "";
    /// Osteoclast recruitment per surface voxel per day at saturating RANKL.
    osteoclast_recruit_per_day: 6e-4, 0.0165, 0.0, 10.0, " /day";
    /// Effective RANKL (relative to the basal mean) of half-maximal recruitment.
    osteoclast_rankl_half: 3.0, 10.0, 0.01, 1000.0, "";
    /// Bone resorbed by one osteoclast per day.
    resorption_um3_per_day: 20_000.0, 3_000.0, 0.0, 1e7, " µm³/day";
    /// Osteoclast lifespan (Parfitt: ~2 weeks in humans).
    osteoclast_lifespan_days: 14.0, 7.0, 0.5, 365.0, " days";
    /// Days from the recruitment of a precursor to an active osteoclast
    /// (fusion and differentiation; 4–6 days in culture with RANKL).
    osteoclast_differentiation_days: 5.0, 5.0, 0.0, 60.0, " days";
    /// Rate at which an osteoclast with bone to resorb moves on along the surface.
    osteoclast_move_per_day: 0.5, 0.5, 0.0, 100.0, " /day";
    /// Bias of osteoclast steps up the RANKL gradient (0 = unbiased walk).
    osteoclast_chemotaxis: 2.0, 2.0, 0.0, 100.0, "";
    /// Osteoblast recruitment per surface voxel per day at saturating drive.
    osteoblast_recruit_per_day: 0.4, 0.1, 0.0, 10.0, " /day";
    /// Coupling (voxel volumes resorbed nearby, decaying) of half-maximal recruitment.
    osteoblast_coupling_half: 0.5, 0.5, 0.001, 100.0, "";
    /// Effective sclerostin (relative to the basal mean) that halves recruitment.
    osteoblast_sclerostin_half: 1.0, 1.0, 0.01, 1000.0, "";
    /// Hill exponent of sclerostin's brake on osteoblast recruitment.
    osteoblast_sclerostin_hill: 2.0, 2.0, 0.5, 6.0, "";
    /// Weight of strain overload (stimulus / lattice-mean stimulus − 1) in
    /// osteoblast recruitment. 0 by default: loading reaches osteoblasts
    /// through osteocyte sclerostin; against the lattice mean, a
    /// heterogeneous FE field reads as overload wherever SED is above average.
    osteoblast_mech_weight: 0.0, 0.0, 0.0, 100.0, "";
    /// Coupling (voxel volumes resorbed nearby, decaying) below which a
    /// surface is quiescent: osteoblasts refill resorption cavities and are
    /// neither recruited onto nor form on a quiescent surface (0 = no limit).
    osteoblast_refill_coupling: 0.01, 0.0, 0.0, 10.0, "";
    /// Effective sclerostin (relative to the basal mean) below which
    /// osteoblasts also form on quiescent surfaces: modeling-based formation
    /// under strong loading or anti-sclerostin antibody (0 = never).
    osteoblast_modeling_sclerostin: 0.0, 0.0, 0.0, 10.0, "";
    /// Mineral apposition rate (Lips 1978: 0.72; Kragstrup 1983: 0.63 µm/day human).
    apposition_um_per_day: 0.65, 1.5, 0.01, 50.0, " µm/day";
    /// Osteoblast lifespan (~3 months in humans: the formation period).
    osteoblast_lifespan_days: 90.0, 20.0, 1.0, 1000.0, " days";
    /// Decay time of the coupling (reversal) signal left by resorption.
    coupling_days: 30.0, 10.0, 0.1, 1000.0, " days";
});

parameter_section!(
    /// `[signals]`: RANKL and sclerostin reaction–diffusion (docs/design.md §5, Signals).
    SignalsSection => Signals, "signals", {
    /// RANKL diffusivity in marrow (~1 µm²/s for a soluble protein in tissue).
    rankl_diffusivity_marrow_um2_per_day: 86_400.0, 86_400.0, 0.0, 1e9, " µm²/day";
    /// RANKL diffusivity in bone (canalicular transport, ~10× slower).
    rankl_diffusivity_bone_um2_per_day: 8_640.0, 8_640.0, 0.0, 1e9, " µm²/day";
    /// RANKL decay (half-life ~40 min; diffusion length √(D/k) ≈ 60 µm).
    rankl_decay_per_day: 24.0, 24.0, 0.01, 1e5, " /day";
    /// Sclerostin diffusivity in marrow.
    sclerostin_diffusivity_marrow_um2_per_day: 86_400.0, 86_400.0, 0.0, 1e9, " µm²/day";
    /// Sclerostin diffusivity in bone.
    sclerostin_diffusivity_bone_um2_per_day: 8_640.0, 8_640.0, 0.0, 1e9, " µm²/day";
    /// Sclerostin decay (diffusion length ≈ 100 µm).
    sclerostin_decay_per_day: 8.64, 8.64, 0.01, 1e5, " /day";
    /// Jacobi sweeps per step toward the quasi-steady state (warm-started).
    sweeps_per_step: 24.0, 24.0, 1.0, 10_000.0, "";
});

parameter_section!(
    /// `[drugs]`: effect sizes; when each drug is given is set in `[loading]`.
    DrugsSection => Drugs, "drugs", {
    /// Osteoclast resorption rate multiplier under bisphosphonate (Russell 2008: osteoclast activity falls).
    bisphosphonate_resorption_factor: 0.3, 0.3, 0.0, 1.0, "";
    /// Osteoclast lifespan multiplier under bisphosphonate (Hughes 1995: osteoclast apoptosis).
    bisphosphonate_lifespan_factor: 0.5, 0.5, 0.01, 1.0, "";
    /// Fraction of RANKL neutralised by denosumab.
    denosumab_rankl_inhibition: 0.9, 0.9, 0.0, 1.0, "";
    /// Fraction of sclerostin neutralised by romosozumab.
    romosozumab_sclerostin_inhibition: 0.8, 0.8, 0.0, 1.0, "";
});

/// Where the unit-load strain energy density of each bone voxel comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MechModel {
    /// Voxel micro-FE: uniaxial compression along z at the habitual apparent strain.
    #[default]
    Fe,
    /// The same SED (`habitual_sed_mpa`) in every bone voxel; no solve.
    Uniform,
}

parameter_section!(
    /// `[mechanics]`: where the unit-load strain energy density comes from
    /// (docs/design.md §4, Mechanics) and when it is solved again.
    MechanicsSection => Mechanics, "mechanics", {
    @
    /// `fe` (default) or `uniform`.
    model: MechModel;
    /// Uniform model: SED of bone at the habitual 1 g load, ½·E·ε² with
    /// E = 15 GPa and ε = 1000 µε (habitual tissue strain).
    habitual_sed_mpa: 0.0075, 0.0075, 0.0, 10.0, " MPa";
    /// Tissue modulus of fully mineralised bone (10–20 GPa; Bayraktar et al. 2004).
    tissue_modulus_mpa: 15_000.0, 15_000.0, 100.0, 50_000.0, " MPa";
    /// Poisson ratio of bone tissue (0.3 in bone micro-FE practice).
    poisson_ratio: 0.3, 0.3, 0.0, 0.49, "";
    /// Exponent p of E = E_tissue · mineral^p (Carter & Hayes 1977; Huiskes et al. 2000).
    modulus_exponent: 2.0, 2.0, 1.0, 4.0, "";
    /// Apparent compressive strain of the block at the habitual 1 g load
    /// (daily peak bone strains of ~400–2000 µε; Burr et al. 1996, Rubin & Lanyon 1984).
    habitual_strain: 0.001, 0.001, 1e-6, 0.05, "";
    /// PCG stopping rule ‖r‖/‖r₀‖ (bone micro-FE practice 1e-5 to 1e-6).
    tolerance: 1e-6, 1e-6, 1e-9, 1e-2, "";
    /// Solve again at least this often.
    resolve_every_days: 30.0, 30.0, 1.0, 100_000.0, " days";
    /// ...or once bone resorbed plus formed since the last solve exceeds this
    /// fraction of the bone volume.
    resolve_bone_change: 0.02, 0.02, 1e-4, 1.0, "";
});
