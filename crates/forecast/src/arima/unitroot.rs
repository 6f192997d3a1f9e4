//! How much differencing a series needs: the KPSS test for `d` (Kwiatkowski, Phillips, Schmidt &
//! Shin 1992), as Hyndman & Khandakar (2008) prescribe, and a seasonal-strength measure for `D`
//! (Wang, Smith & Hyndman 2006): difference seasonally when `1 − Var(R)/Var(S + R) > 0.64`, with
//! the seasonal and remainder parts taken from a classical decomposition.

use crate::ets::centred_moving_average;

/// KPSS 5 % critical value for level stationarity (Kwiatkowski et al. 1992, table 1).
pub const KPSS_CRITICAL_5PCT: f64 = 0.463;

/// Seasonal strength above which one seasonal difference is taken.
pub const SEASONAL_STRENGTH_THRESHOLD: f64 = 0.64;

/// KPSS statistic for level stationarity with the Bartlett-window long-run variance at lag
/// `⌊4 (n/100)^{1/4}⌋` (the paper's `l4`). Large values reject stationarity. `None` for a
/// constant series or fewer than 3 points.
pub fn kpss_statistic(y: &[f64]) -> Option<f64> {
    let n = y.len();
    if n < 3 {
        return None;
    }
    let mean = y.iter().sum::<f64>() / n as f64;
    let e: Vec<f64> = y.iter().map(|v| v - mean).collect();
    let lags = ((4.0 * (n as f64 / 100.0).powf(0.25)) as usize).min(n - 1);
    let mut lrv = e.iter().map(|v| v * v).sum::<f64>() / n as f64;
    for s in 1..=lags {
        let weight = 1.0 - s as f64 / (lags as f64 + 1.0);
        let cov: f64 = e[s..]
            .iter()
            .zip(&e[..n - s])
            .map(|(a, b)| a * b)
            .sum::<f64>()
            / n as f64;
        lrv += 2.0 * weight * cov;
    }
    let mut partial = 0.0;
    let mut eta = 0.0;
    for v in &e {
        partial += v;
        eta += partial * partial;
    }
    let scale = y.iter().map(|v| v.abs()).fold(0.0_f64, f64::max);
    if lrv.is_nan() || lrv <= 1e-20 * scale * scale {
        return None;
    }
    Some(eta / (n as f64 * n as f64 * lrv))
}

/// Number of first differences (0..=`max_d`) after which KPSS no longer rejects at 5 %.
pub fn ndiffs(y: &[f64], max_d: usize) -> usize {
    let mut x = y.to_vec();
    for d in 0..max_d {
        match kpss_statistic(&x) {
            Some(stat) if stat > KPSS_CRITICAL_5PCT => {
                x = x.windows(2).map(|s| s[1] - s[0]).collect()
            }
            _ => return d,
        }
    }
    max_d
}

/// Seasonal strength `max(0, 1 − Var(R)/Var(S + R))` in [0, 1] from a classical additive
/// decomposition with period `m`; 0 when there are fewer than two full seasons.
pub fn seasonal_strength(y: &[f64], m: usize) -> f64 {
    if m < 2 || y.len() < 2 * m + 1 {
        return 0.0;
    }
    let trend = centred_moving_average(y, m);
    let detrended: Vec<(usize, f64)> = trend
        .iter()
        .enumerate()
        .filter_map(|(t, tr)| tr.map(|tr| (t, y[t] - tr)))
        .collect();
    let mut sum = vec![0.0; m];
    let mut count = vec![0usize; m];
    for &(t, d) in &detrended {
        sum[t % m] += d;
        count[t % m] += 1;
    }
    let mut season: Vec<f64> = sum
        .iter()
        .zip(&count)
        .map(|(s, &c)| if c > 0 { s / c as f64 } else { 0.0 })
        .collect();
    let mean = season.iter().sum::<f64>() / m as f64;
    season.iter_mut().for_each(|s| *s -= mean);
    let remainder: Vec<f64> = detrended.iter().map(|&(t, d)| d - season[t % m]).collect();
    let s_plus_r: Vec<f64> = detrended.iter().map(|&(_, d)| d).collect();
    let var = |v: &[f64]| {
        let mu = v.iter().sum::<f64>() / v.len() as f64;
        v.iter().map(|x| (x - mu).powi(2)).sum::<f64>() / v.len() as f64
    };
    let total = var(&s_plus_r);
    if total.is_nan() || total <= 0.0 {
        return 0.0;
    }
    (1.0 - var(&remainder) / total).clamp(0.0, 1.0)
}

/// Seasonal differences (0 or 1) by the seasonal-strength rule.
pub fn nsdiffs(y: &[f64], m: usize) -> usize {
    (seasonal_strength(y, m) > SEASONAL_STRENGTH_THRESHOLD) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ets::gauss::NormalRng;

    fn noise(n: usize, seed: u64) -> Vec<f64> {
        let mut rng = NormalRng::new(seed);
        (0..n).map(|_| rng.next()).collect()
    }

    #[test]
    fn white_noise_needs_no_difference_and_a_random_walk_one() {
        let e = noise(400, 1);
        assert_eq!(ndiffs(&e, 2), 0);
        let walk: Vec<f64> = e
            .iter()
            .scan(0.0, |s, v| {
                *s += v;
                Some(*s)
            })
            .collect();
        assert_eq!(ndiffs(&walk, 2), 1);
        assert_eq!(ndiffs(&[3.0; 50], 2), 0);
    }

    #[test]
    fn strong_seasonality_is_detected() {
        let e = noise(240, 2);
        let seasonal: Vec<f64> = e
            .iter()
            .enumerate()
            .map(|(t, v)| 5.0 * ((t % 12) as f64 - 5.5) + 0.5 * v)
            .collect();
        assert_eq!(nsdiffs(&seasonal, 12), 1);
        assert_eq!(nsdiffs(&e, 12), 0);
    }
}
