//! The statistics behind the guardrails: an always-valid one-sided confidence sequence on the
//! difference of two rates, and the sample-ratio-mismatch test.
//!
//! The confidence sequence is the asymptotic normal-mixture mSPRT (Johari, Koomen, Pekelis,
//! Walsh; as GrowthBook implements it for safe rollouts). With `N = n_t + n_c` tasks,
//! `Δ̂ = p̂_t − p̂_c`, `SE² = p̂_t(1−p̂_t)/n_t + p̂_c(1−p̂_c)/n_c` and `σ̂² = SE²·N`:
//!
//! ```text
//! ρ²      = ( −2 ln(2α) + ln(1 − 2 ln(2α)) ) / N*
//! h(N)    = σ̂ · sqrt( 2(Nρ²+1)/(N²ρ²) · ln( 1 + sqrt(Nρ²+1)/(2α) ) )
//! harm   ⇔ Δ̂ − h(N) > δ
//! ```
//!
//! `ρ² = τ²/σ̂²` is the mixing variance relative to the data's; this choice of ρ² makes the
//! sequence tightest around `N*` total tasks. The bound holds at every `N` at once with
//! probability ≥ 1 − α, so it may be looked at after every task without inflating false
//! rollbacks — unlike a z-test repeated at each look, which at 100 looks rolls back an
//! identical arm about a third of the time (measured in docs/rollout.md).
//!
//! It assumes tasks are independent given the arm. Tasks of one agent are not quite (a broken
//! agent fails many in a row), which makes the bound somewhat optimistic; the unit-level
//! guardrails (throughput per unit, SRM) and the minimum units per arm cover that side.

/// The lower end of the one-sided confidence sequence on `p_t − p_c` at the current sample.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HarmBound {
    /// Observed difference `p̂_t − p̂_c`.
    pub difference: f64,
    /// Half-width `h(N)` of the sequence.
    pub half_width: f64,
    /// `difference − half_width`: the difference is above this with probability ≥ 1 − α,
    /// uniformly over time.
    pub lower: f64,
}

/// `ρ²` of the one-sided sequence with level `alpha`, tuned for `n_star` total tasks.
pub fn one_sided_rho2(alpha: f64, n_star: f64) -> f64 {
    let a = 2.0 * alpha;
    (-2.0 * a.ln() + (1.0 - 2.0 * a.ln()).ln()) / n_star
}

/// The confidence sequence on the difference of the failure rates, treatment minus control.
/// `None` until each arm has at least one task.
pub fn error_rate_bound(
    treatment: (u64, u64),
    control: (u64, u64),
    alpha: f64,
    n_star: f64,
) -> Option<HarmBound> {
    let ((n_t, x_t), (n_c, x_c)) = (treatment, control);
    if n_t == 0 || n_c == 0 {
        return None;
    }
    let (nt, nc) = (n_t as f64, n_c as f64);
    let (pt, pc) = (x_t as f64 / nt, x_c as f64 / nc);
    let se2 = pt * (1.0 - pt) / nt + pc * (1.0 - pc) / nc;
    let n = nt + nc;
    let sigma = (se2 * n).sqrt();
    let rho2 = one_sided_rho2(alpha, n_star);
    let nr = n * rho2 + 1.0;
    let half_width =
        sigma * (2.0 * nr / (n * n * rho2) * (1.0 + nr.sqrt() / (2.0 * alpha)).ln()).sqrt();
    let difference = pt - pc;
    Some(HarmBound {
        difference,
        half_width,
        lower: difference - half_width,
    })
}

/// `erfc(x)`, fractional error below 1.2·10⁻⁷ (the Chebyshev fit of Numerical Recipes §6.2),
/// enough for a p-value compared with 0.001.
pub fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// Pearson's χ² test (one degree of freedom) of `treatment : control` units against the
/// expected share of treatment. Returns `(χ², p)`.
pub fn sample_ratio(treatment: u64, control: u64, expected_treatment_share: f64) -> (f64, f64) {
    let total = (treatment + control) as f64;
    let e_t = total * expected_treatment_share;
    let e_c = total - e_t;
    if e_t <= 0.0 || e_c <= 0.0 {
        return (0.0, 1.0);
    }
    let chi2 = (treatment as f64 - e_t).powi(2) / e_t + (control as f64 - e_c).powi(2) / e_c;
    // erfc(0) comes out at 1 + 3·10⁻⁸ from the fit; a p-value is at most 1.
    (chi2, erfc((chi2 / 2.0).sqrt()).min(1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erfc_reference_values() {
        for (x, want) in [
            (0.0, 1.0),
            (0.5, 0.479_500_122),
            (1.0, 0.157_299_207),
            (2.0, 0.004_677_735),
            (-1.0, 1.842_700_793),
            // P(|Z| > 3.290527) = 0.001 for a standard normal Z, and that is erfc(z/√2).
            (3.290_526_731 / std::f64::consts::SQRT_2, 0.001),
        ] {
            let got = erfc(x);
            assert!((got - want).abs() < 2e-7 * want, "erfc({x}) = {got}");
        }
    }

    #[test]
    fn sample_ratio_p_values() {
        // χ² = 10.828 is the 0.001 critical value of one degree of freedom.
        let (chi2, p) = sample_ratio(500, 500, 0.5);
        assert_eq!((chi2, p), (0.0, 1.0));
        let (chi2, p) = sample_ratio(1000 + 52, 1000 - 52, 0.5);
        assert!((chi2 - 5.408).abs() < 1e-3, "{chi2}");
        assert!((p - 0.020).abs() < 1e-3, "{p}");
        let (_, p) = sample_ratio(600, 400, 0.5);
        assert!(p < 1e-9, "{p}");
        let (_, p) = sample_ratio(300, 700, 0.3);
        assert!(p > 0.99, "{p}");
    }

    #[test]
    fn rho2_matches_the_closed_form() {
        // α = 0.05 one-sided: a = 0.1, −2 ln 0.1 = 4.60517, ln(1 + 4.60517) = 1.72369.
        let r = one_sided_rho2(0.05, 1.0);
        assert!((r - 6.328_86).abs() < 1e-4, "{r}");
    }

    #[test]
    fn the_sequence_is_wider_than_a_single_look_and_narrows_with_data() {
        let b1 = error_rate_bound((1000, 20), (1000, 10), 0.05, 5000.0).unwrap();
        let b2 = error_rate_bound((10_000, 200), (10_000, 100), 0.05, 5000.0).unwrap();
        assert!((b1.difference - 0.01).abs() < 1e-12);
        let z_half = 1.645 * (0.02 * 0.98 / 1000.0 + 0.01 * 0.99 / 1000.0_f64).sqrt();
        assert!(b1.half_width > 1.3 * z_half, "{b1:?} vs {z_half}");
        assert!(b2.half_width < b1.half_width / 2.0, "{b2:?}");
        assert!(b1.lower < 0.0 && b2.lower > 0.0, "{b1:?} {b2:?}");
        assert_eq!(error_rate_bound((0, 0), (10, 1), 0.05, 5000.0), None);
    }

    #[test]
    fn identical_arms_without_failures_show_no_harm() {
        let b = error_rate_bound((500, 0), (500, 0), 0.05, 5000.0).unwrap();
        assert_eq!(b.lower, 0.0);
    }
}
