//! Standard normal quantiles and a seeded normal generator, shared by the ETS and ARIMA intervals.
//!
//! Written from first principles so the crate needs no statistics dependency: the CDF uses the
//! positive-term series `erf(x) = 2/√π · e^{-x²} · Σ 2ⁿ x^{2n+1} / (1·3·…·(2n+1))` (no cancellation)
//! and the quantile inverts it by Newton's method, which converges monotonically on the concave
//! half of the CDF. The generator is SplitMix64 + Box–Muller, so simulated intervals are
//! reproducible bit for bit.

use std::f64::consts::{FRAC_2_SQRT_PI, SQRT_2};

/// Standard normal CDF Φ(x), accurate to about 1e-14 for |x| ≤ 8.
pub(crate) fn normal_cdf(x: f64) -> f64 {
    if x < 0.0 {
        return 1.0 - normal_cdf(-x);
    }
    let z = x / SQRT_2;
    0.5 + 0.5 * erf_series(z)
}

fn erf_series(z: f64) -> f64 {
    if z > 6.0 {
        return 1.0;
    }
    let z2 = z * z;
    let mut term = z;
    let mut sum = z;
    let mut k = 0.0;
    while term > sum * 1e-17 {
        k += 1.0;
        term *= 2.0 * z2 / (2.0 * k + 1.0);
        sum += term;
    }
    (FRAC_2_SQRT_PI * (-z2).exp() * sum).min(1.0)
}

fn normal_pdf(x: f64) -> f64 {
    (-0.5 * x * x).exp() * FRAC_2_SQRT_PI / (2.0 * SQRT_2)
}

/// Standard normal quantile Φ⁻¹(p) for 0 < p < 1 (clamped to ±8.2 at the extremes).
pub(crate) fn normal_quantile(p: f64) -> f64 {
    if !(p > 0.0 && p < 1.0) {
        return if p >= 1.0 { 8.2 } else { -8.2 };
    }
    if p < 0.5 {
        return -normal_quantile(1.0 - p);
    }
    let mut x = 0.0_f64;
    for _ in 0..100 {
        let next = (x - (normal_cdf(x) - p) / normal_pdf(x)).min(8.2);
        if (next - x).abs() < 1e-13 {
            return next;
        }
        x = next;
    }
    x
}

/// The two-sided multiplier for a central interval at `level` percent (e.g. 1.96 for 95).
pub(crate) fn interval_multiplier(level: f64) -> f64 {
    normal_quantile(0.5 + level / 200.0)
}

/// Reproducible standard normal draws (SplitMix64 + Box–Muller).
pub(crate) struct NormalRng {
    state: u64,
    spare: Option<f64>,
}

impl NormalRng {
    /// A generator whose sequence is fixed by `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        NormalRng {
            state: seed,
            spare: None,
        }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform on the open interval (0, 1).
    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Next standard normal draw.
    pub(crate) fn next(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        let r = (-2.0 * self.uniform().ln()).sqrt();
        let theta = 2.0 * std::f64::consts::PI * self.uniform();
        self.spare = Some(r * theta.sin());
        r * theta.cos()
    }
}

/// Empirical quantile (linear interpolation between order statistics) of an already sorted slice.
pub(crate) fn sorted_quantile(sorted: &[f64], p: f64) -> f64 {
    let pos = p.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (pos - lo as f64) * (sorted[hi] - sorted[lo])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_match_tables() {
        assert!((normal_quantile(0.975) - 1.959_963_984_540_054).abs() < 1e-10);
        assert!((normal_quantile(0.9) - 1.281_551_565_544_601).abs() < 1e-10);
        assert!((normal_quantile(0.025) + 1.959_963_984_540_054).abs() < 1e-10);
        assert!((normal_quantile(0.995) - 2.575_829_303_548_901).abs() < 1e-10);
        assert!((normal_quantile(0.5)).abs() < 1e-15);
    }

    #[test]
    fn generator_has_unit_variance() {
        let mut rng = NormalRng::new(7);
        let n = 200_000;
        let draws: Vec<f64> = (0..n).map(|_| rng.next()).collect();
        let mean = draws.iter().sum::<f64>() / n as f64;
        let var = draws.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(
            mean.abs() < 0.01 && (var - 1.0).abs() < 0.01,
            "{mean} {var}"
        );
    }
}
