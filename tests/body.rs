//! The systemic calcium compartment (docs/body.md): steady state, calcium
//! mass balance, bolus response, sustained bone release, diet and
//! sub-step convergence.

use trabecula::body::{
    BodyParams, BodyState, Nutrition, bone_ca_release_mg_per_day, calcium_mg_per_mm3_bone,
    formation_marker_rel, resorption_marker_rel,
};

fn setup() -> (BodyParams, Nutrition, BodyState) {
    let p = BodyParams::default();
    let n = Nutrition::default();
    let s = BodyState::steady(&p, &n);
    (p, n, s)
}

#[test]
fn reference_intake_reproduces_the_published_reference_state() {
    let p = BodyParams::default();
    let n = Nutrition {
        calcium_mg_per_day: p.ref_calcium_mg_per_day,
        vitamin_d_iu_per_day: p.ref_vitamin_d_iu_per_day,
    };
    let s = BodyState::steady(&p, &n);
    // Peterson & Riggs 2010 initial state: 2.35 mmol/L, 3.85 pmol/L, 90 pmol/L.
    assert!(
        (s.serum_ca_mmol_per_l(&p) - 2.35).abs() < 0.005,
        "{}",
        s.serum_ca_mmol_per_l(&p)
    );
    assert!(
        (s.pth_pmol_per_l(&p) - 3.85).abs() < 0.05,
        "{}",
        s.pth_pmol_per_l(&p)
    );
    assert!(
        (s.calcitriol_pmol_per_l(&p) - 90.0).abs() < 0.5,
        "{}",
        s.calcitriol_pmol_per_l(&p)
    );
}

#[test]
fn steady_state_is_a_fixed_point() {
    let (p, n, s) = setup();
    let mut t = s.clone();
    for _ in 0..30 {
        let day = t.step_day(&p, &n, 0.0);
        assert!((day.pth_rel - 1.0).abs() < 1e-9, "pth_rel {}", day.pth_rel);
    }
    let drift = t.max_rel_diff(&s);
    assert!(
        drift < 1e-9,
        "30 days at zero release moved the state by {drift:e}"
    );
    // At steady state absorbed calcium leaves in urine or to bone exchange.
    let day = t.step_day(&p, &n, 0.0);
    let net = day.absorbed_ca_mg_per_day
        - day.urinary_ca_mg_per_day
        - day.bone_exchange_uptake_mg_per_day;
    assert!(net.abs() < 1e-6, "net {net} mg/day");
}

#[test]
fn calcium_mass_balance_closes() {
    let (p, n, mut s) = setup();
    let low = Nutrition {
        calcium_mg_per_day: 600.0,
        ..n
    };
    let start = s.ecf_calcium_mg() + s.gut_calcium_mg();
    let mut sum = 0.0;
    let mut in_gut = 0.0;
    for day in 0..90 {
        let (nu, release) = match day {
            0..30 => (n, 200.0),
            30..60 => (low, 200.0),
            _ => (n, -80.0),
        };
        let ecf0 = s.ecf_calcium_mg();
        let gut0 = s.gut_calcium_mg();
        let d = s.step_day(&p, &nu, release);
        let flows = d.absorbed_ca_mg_per_day + release
            - d.urinary_ca_mg_per_day
            - d.bone_exchange_uptake_mg_per_day;
        let change = s.ecf_calcium_mg() - ecf0;
        assert!(
            (change - flows).abs() < 1e-6,
            "day {day}: ECF changed {change} mg, fluxes {flows} mg"
        );
        sum += flows;
        in_gut += s.gut_calcium_mg() - gut0;
    }
    let end = s.ecf_calcium_mg() + s.gut_calcium_mg();
    assert!((end - start - sum - in_gut).abs() < 1e-5);
}

#[test]
fn calcium_bolus_raises_serum_calcium_and_suppresses_pth_transiently() {
    let (p, n, mut s) = setup();
    let ca0 = s.serum_ca_mmol_per_l(&p);
    // 200 mg (5 mmol) into 14 L: +0.36 mmol/L at once.
    s.add_ecf_calcium_mg(200.0);
    let mut ca = Vec::new();
    let mut pth = Vec::new();
    for _ in 0..48 {
        let d = s.step_hours(&p, &n, 0.0, 1.0);
        ca.push(d.serum_ca_mmol_per_l - ca0);
        pth.push(d.pth_rel);
    }
    // PTH's half-life is 5.8 min (Peterson & Riggs eq. 2): suppressed within the hour.
    assert!(ca[0] > 0.2, "serum Ca excess after 1 h {}", ca[0]);
    assert!(pth[0] < 0.5, "PTH after 1 h {}", pth[0]);
    // Both recover monotonically over hours (bone exchange ≈ 9 h, kidney).
    for h in 1..24 {
        assert!(ca[h] < ca[h - 1] + 1e-6, "serum Ca rose again at {h} h");
        assert!(pth[h] > pth[h - 1] - 1e-6, "PTH fell again at {h} h");
    }
    let half = ca
        .iter()
        .position(|&e| e < ca[0] / 2.0)
        .expect("never halved")
        + 1;
    assert!(
        (2..=12).contains(&half),
        "serum Ca excess halved after {half} h"
    );
    assert!(ca[23].abs() < 0.01, "serum Ca excess after 24 h {}", ca[23]);
    assert!((pth[47] - 1.0).abs() < 0.02, "PTH after 48 h {}", pth[47]);
}

#[test]
fn sustained_bone_release_as_in_flight() {
    let (p, n, s) = setup();
    let base = s.clone().step_day(&p, &n, 0.0);
    let mut t = s.clone();
    let mut last = base;
    for _ in 0..180 {
        last = t.step_day(&p, &n, 150.0);
        assert!(
            (2.15..=2.6).contains(&last.serum_ca_mmol_per_l),
            "serum Ca {} out of the normal range",
            last.serum_ca_mmol_per_l
        );
    }
    assert!(
        last.pth_pg_per_ml < base.pth_pg_per_ml * 0.95,
        "PTH {last:?}"
    );
    assert!(
        last.calcitriol_pmol_per_l < base.calcitriol_pmol_per_l,
        "calcitriol {last:?}"
    );
    assert!(
        last.ca_absorption_fraction < base.ca_absorption_fraction,
        "absorption {last:?}"
    );
    assert!(
        last.urinary_ca_mg_per_day > base.urinary_ca_mg_per_day + 50.0,
        "urine {last:?}"
    );
    assert!(last.serum_ca_mmol_per_l > base.serum_ca_mmol_per_l);
    assert!(last.pth_rel < 1.0);
}

#[test]
fn lower_dietary_calcium_raises_pth() {
    let (p, n, s) = setup();
    let low = Nutrition {
        calcium_mg_per_day: 500.0,
        ..n
    };
    let mut t = s.clone();
    let mut d = t.step_day(&p, &low, 0.0);
    for _ in 0..59 {
        d = t.step_day(&p, &low, 0.0);
    }
    assert!(d.pth_rel > 1.03, "pth_rel on 500 mg/day {}", d.pth_rel);
    assert!(
        d.urinary_ca_mg_per_day < 147.0 * 0.85,
        "urine {}",
        d.urinary_ca_mg_per_day
    );
    let steady_low = BodyState::steady(&p, &low);
    assert!(steady_low.pth_pmol_per_l(&p) > s.pth_pmol_per_l(&p));
}

#[test]
fn no_vitamin_d_lowers_calcitriol_and_absorption() {
    let (p, n, s) = setup();
    let none = Nutrition {
        vitamin_d_iu_per_day: 0.0,
        ..n
    };
    let base = s.clone().step_day(&p, &n, 0.0);
    let mut t = s.clone();
    let mut d = base;
    for _ in 0..120 {
        d = t.step_day(&p, &none, 0.0);
    }
    assert!(d.d25_nmol_per_l < base.d25_nmol_per_l - 8.0);
    assert!(d.calcitriol_pmol_per_l < base.calcitriol_pmol_per_l);
    assert!(d.ca_absorption_fraction < base.ca_absorption_fraction);
    assert!(d.pth_rel > 1.0);
}

#[test]
fn substeps_converge() {
    let (p, n, s) = setup();
    let mut fine = p.clone();
    fine.substeps_per_day = 2 * p.substeps_per_day;
    let (mut a, mut b) = (s.clone(), s.clone());
    a.add_ecf_calcium_mg(200.0);
    b.add_ecf_calcium_mg(200.0);
    for _ in 0..10 {
        let da = a.step_day(&p, &n, 150.0);
        let db = b.step_day(&fine, &n, 150.0);
        let rel = |x: f64, y: f64| (x - y).abs() / y.abs();
        assert!(rel(da.serum_ca_mmol_per_l, db.serum_ca_mmol_per_l) < 1e-5);
        assert!(rel(da.pth_pg_per_ml, db.pth_pg_per_ml) < 1e-4);
        assert!(rel(da.urinary_ca_mg_per_day, db.urinary_ca_mg_per_day) < 1e-3);
    }
    assert!(a.max_rel_diff(&b) < 1e-5, "{:e}", a.max_rel_diff(&b));
    // A single outer step of a day (one sub-step) is still stable and close.
    let mut coarse = p.clone();
    coarse.substeps_per_day = 1;
    let mut c = s.clone();
    let mut d = c.step_day(&coarse, &n, 150.0);
    for _ in 0..9 {
        d = c.step_day(&coarse, &n, 150.0);
    }
    let mut e = s.clone();
    let mut de = e.step_day(&p, &n, 150.0);
    for _ in 0..9 {
        de = e.step_day(&p, &n, 150.0);
    }
    assert!(d.pth_pg_per_ml.is_finite() && d.pth_pg_per_ml > 0.0);
    assert!(
        (d.pth_rel - de.pth_rel).abs() < 0.01,
        "{} vs {}",
        d.pth_rel,
        de.pth_rel
    );
}

#[test]
fn skeleton_scaling_and_markers() {
    let p = BodyParams::default();
    // Bone tissue holds ≈ 0.35 mg Ca/mm³ (1000 g Ca in 5.5 kg at 1.92 g/cm³).
    let c = calcium_mg_per_mm3_bone(&p);
    assert!((0.3..0.4).contains(&c), "{c}");
    // A 1 %/month trabecular loss gives the >140 mg/day of flight (order of magnitude).
    let tv = 4.0_f64.powi(3);
    let bv = 0.2;
    let loss_per_day = 0.01 / 30.0 * tv * bv;
    let mg = bone_ca_release_mg_per_day(loss_per_day, 0.0, tv, bv, &p);
    assert!((50.0..200.0).contains(&mg), "{mg}");
    // Balanced turnover releases nothing; net formation is negative release.
    assert_eq!(bone_ca_release_mg_per_day(0.01, 0.01, tv, bv, &p), 0.0);
    assert!(bone_ca_release_mg_per_day(0.0, 0.01, tv, bv, &p) < 0.0);
    // Linear in the net volume.
    let two = bone_ca_release_mg_per_day(2.0 * loss_per_day, 0.0, tv, bv, &p);
    assert!((two - 2.0 * mg).abs() < 1e-9);
    let base = 0.002 / tv;
    assert_eq!(resorption_marker_rel(0.002, tv, base), Some(1.0));
    assert!((formation_marker_rel(0.003, tv, base).unwrap() - 1.5).abs() < 1e-12);
    assert_eq!(resorption_marker_rel(0.002, tv, 0.0), None);
}

/// The skeleton's release is the running mean of the cube's (time constant
/// SKELETON_AVERAGING_DAYS), and PTH's drive of RANKL is 1 at rest, above 1
/// when PTH rises and below when it falls.
#[test]
fn the_body_sees_the_cubes_mean_release_and_drives_rankl_through_pth() {
    use trabecula::sim::systemic::{SKELETON_AVERAGING_DAYS, Systemic};
    let n = Nutrition::default();
    let (tissue_mm3, bv_tv) = (1.0, 0.2);
    let mut body = Systemic::new(tissue_mm3, bv_tv, &n);
    body.start_day0(bv_tv, &n);
    assert_eq!(body.pth_rankl_factor(150.0), 1.0, "at rest");
    // The cube resorbs a steady 1e-5 mm³/day more than it forms.
    let p = BodyParams::default();
    let cube = bone_ca_release_mg_per_day(1e-5, 0.0, tissue_mm3, bv_tv, &p);
    let days = SKELETON_AVERAGING_DAYS as usize;
    let mut last = None;
    for _ in 0..days {
        last = Some(body.step(&n, 1e-5, 0.0, 1.0));
    }
    let mean = last.unwrap().bone_ca_release_mg_per_day;
    let expected = cube * (1.0 - (-1.0f64).exp());
    assert!(
        (mean - expected).abs() < 1e-9 * cube.abs(),
        "{mean} vs {expected}"
    );
    // Released calcium suppresses PTH: RANKL's drive falls below 1.
    let down = body.pth_rankl_factor(150.0);
    assert!(down < 1.0, "PTH suppressed by bone release: factor {down}");
    // Net formation draws calcium into bone: PTH and RANKL's drive rise.
    let mut body = Systemic::new(tissue_mm3, bv_tv, &n);
    body.start_day0(bv_tv, &n);
    for _ in 0..days {
        body.step(&n, 0.0, 1e-5, 1.0);
    }
    let up = body.pth_rankl_factor(150.0);
    assert!(up > 1.0, "PTH raised by bone uptake: factor {up}");
    // A half-saturation far above PTH makes the drive proportional to PTH.
    let rel = body.state.pth_rel(&p);
    assert!((body.pth_rankl_factor(1e9) - rel).abs() < 1e-6, "{rel}");
}
