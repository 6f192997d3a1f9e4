//! Lag polynomials: seasonal expansion, differencing, stationarity tests and the PACF transform.
//!
//! Conventions: an AR polynomial is stored as `a` with `φ(B) = 1 − a₁B − … − a_pB^p` (so
//! `w_t = Σ aᵢ w_{t−i} + …`), an MA polynomial as `b` with `θ(B) = 1 + b₁B + … + b_qB^q`.
//! Index 0 of a stored vector is lag 1.

/// Multiply `1 − Σ aᵢBⁱ` by `1 − Σ Aⱼ B^{mj}`; returns the coefficients of the product in the same
/// `1 − Σ` convention (length `p + mP`).
pub(crate) fn expand_ar(a: &[f64], seasonal: &[f64], m: usize) -> Vec<f64> {
    let len = a.len() + m * seasonal.len();
    let mut out = vec![0.0; len];
    out[..a.len()].copy_from_slice(a);
    for (j, &s) in seasonal.iter().enumerate() {
        let lag = m * (j + 1);
        out[lag - 1] += s;
        for (i, &ai) in a.iter().enumerate() {
            out[lag + i] -= ai * s;
        }
    }
    out
}

/// Multiply `1 + Σ bᵢBⁱ` by `1 + Σ Bⱼ B^{mj}` (length `q + mQ`).
pub(crate) fn expand_ma(b: &[f64], seasonal: &[f64], m: usize) -> Vec<f64> {
    let len = b.len() + m * seasonal.len();
    let mut out = vec![0.0; len];
    out[..b.len()].copy_from_slice(b);
    for (j, &s) in seasonal.iter().enumerate() {
        let lag = m * (j + 1);
        out[lag - 1] += s;
        for (i, &bi) in b.iter().enumerate() {
            out[lag + i] += bi * s;
        }
    }
    out
}

/// Product of two polynomials in the `1 − Σ` convention (e.g. the ARMA AR part and differencing).
pub(crate) fn multiply_ar(x: &[f64], y: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; x.len() + y.len()];
    out[..x.len()].copy_from_slice(x);
    for (j, &yj) in y.iter().enumerate() {
        out[j] += yj;
        for (i, &xi) in x.iter().enumerate() {
            out[i + j + 1] -= xi * yj;
        }
    }
    out
}

/// The differencing operator `(1 − B)^d (1 − B^m)^D` in the `1 − Σ` convention.
pub(crate) fn differencing(d: usize, sd: usize, m: usize) -> Vec<f64> {
    // Multiply full polynomials (index 0 = lag 0) and convert at the end.
    let mut poly = vec![1.0];
    let mut times = |factor: &[(usize, f64)]| {
        let deg = factor.iter().map(|f| f.0).max().unwrap_or(0);
        let mut next = vec![0.0; poly.len() + deg];
        for (i, &c) in poly.iter().enumerate() {
            for &(lag, f) in factor {
                next[i + lag] += c * f;
            }
        }
        poly = next;
    };
    for _ in 0..d {
        times(&[(0, 1.0), (1, -1.0)]);
    }
    for _ in 0..sd {
        times(&[(0, 1.0), (m, -1.0)]);
    }
    poly[1..].iter().map(|c| -c).collect()
}

/// Apply `(1 − B)^d (1 − B^m)^D` to `y` (the result is `d + mD` shorter).
pub(crate) fn difference(y: &[f64], d: usize, sd: usize, m: usize) -> Vec<f64> {
    let mut w = y.to_vec();
    for _ in 0..sd {
        w = w.windows(m + 1).map(|s| s[m] - s[0]).collect();
    }
    for _ in 0..d {
        w = w.windows(2).map(|s| s[1] - s[0]).collect();
    }
    w
}

/// Whether all roots of `1 − Σ aᵢ zⁱ` lie outside the circle of radius `radius` (≥ 1), by the
/// step-down (reverse Levinson–Durbin) recursion: the polynomial is stable iff every reflection
/// coefficient of `aᵢ radiusⁱ` is inside (−1, 1).
pub(crate) fn roots_outside(a: &[f64], radius: f64) -> bool {
    let mut k: Vec<f64> = a
        .iter()
        .enumerate()
        .map(|(i, c)| c * radius.powi(i as i32 + 1))
        .collect();
    while let Some(&last) = k.last() {
        if !last.is_finite() || last.abs() >= 1.0 {
            return false;
        }
        let p = k.len();
        let denom = 1.0 - last * last;
        let prev: Vec<f64> = (0..p - 1)
            .map(|j| (k[j] + last * k[p - 2 - j]) / denom)
            .collect();
        k = prev;
    }
    true
}

/// Map unconstrained values to the coefficients of a stationary AR polynomial (Jones 1980):
/// `tanh` gives partial autocorrelations in (−1, 1), Levinson–Durbin turns them into coefficients.
pub(crate) fn pacf_to_ar(raw: &[f64]) -> Vec<f64> {
    let mut a: Vec<f64> = Vec::with_capacity(raw.len());
    for (k, r) in raw.iter().enumerate() {
        let pk = r.tanh();
        let prev = a.clone();
        for j in 0..k {
            a[j] = prev[j] - pk * prev[k - 1 - j];
        }
        a.push(pk);
    }
    a
}

/// Inverse of [`pacf_to_ar`] for a stationary polynomial (`None` if it is not stationary).
pub(crate) fn ar_to_pacf(a: &[f64]) -> Option<Vec<f64>> {
    let mut k = a.to_vec();
    let mut raw = vec![0.0; a.len()];
    while let Some(&last) = k.last() {
        if last.abs() >= 1.0 {
            return None;
        }
        let p = k.len();
        raw[p - 1] = last.atanh();
        let denom = 1.0 - last * last;
        k = (0..p - 1)
            .map(|j| (k[j] + last * k[p - 2 - j]) / denom)
            .collect();
    }
    Some(raw)
}

/// Psi-weights ψ₀ … ψ_{h−1} of `θ(B)/φ(B)` (ψ₀ = 1), in the conventions above.
pub(crate) fn psi_weights(ar: &[f64], ma: &[f64], h: usize) -> Vec<f64> {
    let mut psi = vec![0.0; h];
    for j in 0..h {
        let mut v = if j == 0 {
            1.0
        } else {
            ma.get(j - 1).copied().unwrap_or(0.0)
        };
        for (i, &a) in ar.iter().enumerate().take(j) {
            v += a * psi[j - 1 - i];
        }
        psi[j] = v;
    }
    psi
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seasonal_expansion_matches_hand_multiplication() {
        // (1 − 0.5B)(1 − 0.3B²) = 1 − 0.5B − 0.3B² + 0.15B³
        assert_eq!(expand_ar(&[0.5], &[0.3], 2), vec![0.5, 0.3, -0.15]);
        // (1 + 0.5B)(1 + 0.3B²) = 1 + 0.5B + 0.3B² + 0.15B³
        assert_eq!(expand_ma(&[0.5], &[0.3], 2), vec![0.5, 0.3, 0.15]);
    }

    #[test]
    fn products_match_seasonal_expansion() {
        let direct = multiply_ar(&[0.5], &[0.0, 0.3]);
        assert_eq!(direct, expand_ar(&[0.5], &[0.3], 2));
    }

    #[test]
    fn differencing_operator_and_data_agree() {
        // (1 − B)(1 − B⁴) = 1 − B − B⁴ + B⁵
        assert_eq!(differencing(1, 1, 4), vec![1.0, 0.0, 0.0, 1.0, -1.0]);
        let y: Vec<f64> = (0..20).map(|t| (t * t) as f64 + (t % 4) as f64).collect();
        let w = difference(&y, 1, 1, 4);
        let op = differencing(1, 1, 4);
        for (i, wi) in w.iter().enumerate() {
            let t = i + 5;
            let direct = y[t]
                - op.iter()
                    .enumerate()
                    .map(|(k, c)| c * y[t - k - 1])
                    .sum::<f64>();
            assert!((direct - wi).abs() < 1e-9);
        }
    }

    #[test]
    fn stationarity_and_pacf_round_trip() {
        assert!(roots_outside(&[0.5, 0.3], 1.0));
        assert!(!roots_outside(&[1.0], 1.0));
        assert!(!roots_outside(&[0.5, 0.6], 1.0));
        assert!(!roots_outside(&[0.995], 1.01));
        let a = pacf_to_ar(&[0.7, -1.2, 0.4]);
        assert!(roots_outside(&a, 1.0));
        let back = ar_to_pacf(&a).unwrap();
        for (x, y) in back.iter().zip([0.7, -1.2, 0.4]) {
            assert!((x - y).abs() < 1e-9);
        }
    }

    #[test]
    fn psi_weights_of_an_ar1_are_powers() {
        let psi = psi_weights(&[0.5], &[], 4);
        assert_eq!(psi, vec![1.0, 0.5, 0.25, 0.125]);
        let psi = psi_weights(&[1.0], &[-0.4], 3);
        assert!((psi[1] - 0.6).abs() < 1e-12 && (psi[2] - 0.6).abs() < 1e-12);
    }
}
