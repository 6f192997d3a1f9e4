//! Radix-2 fast Fourier transform, used for the periodogram and the autocorrelation function
//! of long series (18 000 five-minute points would make a direct O(n²) ACF needlessly slow).

/// In-place iterative Cooley–Tukey FFT of `re`/`im` (length a power of two). `inverse` computes
/// the unnormalised inverse transform.
fn fft_in_place(re: &mut [f64], im: &mut [f64], inverse: bool) {
    let n = re.len();
    let mut j = 0usize;
    for i in 1..n {
        let mut bit = n >> 1;
        while j & bit != 0 {
            j ^= bit;
            bit >>= 1;
        }
        j |= bit;
        if i < j {
            re.swap(i, j);
            im.swap(i, j);
        }
    }
    let sign = if inverse { 1.0 } else { -1.0 };
    let mut len = 2;
    while len <= n {
        let ang = sign * 2.0 * std::f64::consts::PI / len as f64;
        let (wr, wi) = (ang.cos(), ang.sin());
        for start in (0..n).step_by(len) {
            let (mut cr, mut ci) = (1.0, 0.0);
            for k in 0..len / 2 {
                let a = start + k;
                let b = a + len / 2;
                let tr = re[b] * cr - im[b] * ci;
                let ti = re[b] * ci + im[b] * cr;
                re[b] = re[a] - tr;
                im[b] = im[a] - ti;
                re[a] += tr;
                im[a] += ti;
                let nr = cr * wr - ci * wi;
                ci = cr * wi + ci * wr;
                cr = nr;
            }
        }
        len <<= 1;
    }
}

/// Power spectrum `|X_k|²` for k = 0..N/2 of `x` zero-padded to N = the next power of two ≥
/// `len(x)`; returns `(power, N)` so callers can convert bin k to period N/k.
pub fn periodogram(x: &[f64]) -> (Vec<f64>, usize) {
    let n = x.len().max(2).next_power_of_two();
    let mut re = vec![0.0; n];
    re[..x.len()].copy_from_slice(x);
    let mut im = vec![0.0; n];
    fft_in_place(&mut re, &mut im, false);
    let power = (0..=n / 2).map(|k| re[k] * re[k] + im[k] * im[k]).collect();
    (power, n)
}

/// Sample autocorrelation of `x` (already centred) at lags 0..=max_lag, via the Wiener–Khinchin
/// theorem on a zero-padded FFT; the standard biased estimator (divide by n), so acf[0] = 1.
pub fn autocorrelation(x: &[f64], max_lag: usize) -> Vec<f64> {
    let n = (2 * x.len()).max(2).next_power_of_two();
    let mut re = vec![0.0; n];
    re[..x.len()].copy_from_slice(x);
    let mut im = vec![0.0; n];
    fft_in_place(&mut re, &mut im, false);
    for k in 0..n {
        re[k] = re[k] * re[k] + im[k] * im[k];
        im[k] = 0.0;
    }
    fft_in_place(&mut re, &mut im, true);
    let c0 = re[0];
    let max_lag = max_lag.min(x.len().saturating_sub(1));
    if c0 <= 0.0 || !c0.is_finite() {
        return vec![0.0; max_lag + 1];
    }
    (0..=max_lag).map(|k| re[k] / c0).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acf_matches_direct_sum() {
        let x: Vec<f64> = (0..50).map(|i| ((i * 7919) % 23) as f64 - 11.0).collect();
        let acf = autocorrelation(&x, 10);
        let c0: f64 = x.iter().map(|v| v * v).sum();
        for k in 0..=10 {
            let ck: f64 = (0..50 - k).map(|t| x[t] * x[t + k]).sum();
            assert!((acf[k] - ck / c0).abs() < 1e-9, "lag {k}");
        }
    }

    #[test]
    fn periodogram_peaks_at_the_frequency() {
        let x: Vec<f64> = (0..256)
            .map(|t| (2.0 * std::f64::consts::PI * t as f64 / 16.0).sin())
            .collect();
        let (p, n) = periodogram(&x);
        let k = (1..p.len()).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap();
        assert_eq!(n / k, 16);
    }
}
