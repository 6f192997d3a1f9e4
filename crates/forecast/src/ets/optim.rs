//! Derivative-free minimisation (Nelder–Mead) shared by the ETS and ARIMA fitters.
//!
//! Both likelihoods are cheap to evaluate but awkward to differentiate (ETS states are bounded
//! and multiplicative, ARIMA parameters live in a transformed space), so a simplex search with
//! the dimension-adaptive coefficients of Gao & Han (2012, "Implementing the Nelder–Mead simplex
//! algorithm with adaptive parameters") is a good fit. Infeasible points return `+inf` and the
//! simplex simply moves away from them.

/// Stopping rules for [`minimize`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Options {
    /// Hard cap on objective evaluations (over all restarts).
    pub max_evals: usize,
    /// Relative spread of objective values across the simplex below which a run has converged.
    pub ftol: f64,
    /// Simplex size, as a fraction of the initial step of each coordinate, below which it has converged.
    pub xtol: f64,
    /// Restarts from the best point after convergence (guards against a collapsed simplex).
    pub restarts: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_evals: 2_000,
            ftol: 1e-9,
            xtol: 1e-6,
            restarts: 1,
        }
    }
}

/// Result of a minimisation: the best point seen and its value.
#[derive(Debug, Clone)]
pub(crate) struct Minimum {
    pub x: Vec<f64>,
    pub value: f64,
}

/// Minimise `f` starting from `x0` with initial simplex steps `step` (one per coordinate, non-zero).
///
/// Non-finite values of `f` are treated as `+inf`. Returns the best point seen.
pub(crate) fn minimize(
    mut f: impl FnMut(&[f64]) -> f64,
    x0: &[f64],
    step: &[f64],
    opts: Options,
) -> Minimum {
    let mut eval = |x: &[f64]| {
        let v = f(x);
        if v.is_finite() { v } else { f64::INFINITY }
    };
    let n = x0.len();
    let mut best = Minimum {
        x: x0.to_vec(),
        value: eval(x0),
    };
    if n == 0 {
        return best;
    }
    let mut evals = 1;
    for _ in 0..=opts.restarts {
        let before = best.value;
        let run = simplex_run(&mut eval, &best.x, best.value, step, opts, &mut evals);
        if run.value < best.value {
            best = run;
        }
        let improved =
            before.is_infinite() || before - best.value > opts.ftol * (before.abs() + 1e-12);
        if evals >= opts.max_evals || !improved {
            break;
        }
    }
    best
}

fn simplex_run(
    eval: &mut impl FnMut(&[f64]) -> f64,
    x0: &[f64],
    f0: f64,
    step: &[f64],
    opts: Options,
    evals: &mut usize,
) -> Minimum {
    let n = x0.len();
    let nf = n as f64;
    let (alpha, gamma, rho, sigma) = (1.0, 1.0 + 2.0 / nf, 0.75 - 1.0 / (2.0 * nf), 1.0 - 1.0 / nf);
    let mut pts: Vec<Vec<f64>> = vec![x0.to_vec()];
    let mut vals = vec![f0];
    for (i, s) in step.iter().enumerate() {
        let mut x = x0.to_vec();
        x[i] += s;
        vals.push(eval(&x));
        pts.push(x);
        *evals += 1;
    }
    let mut order: Vec<usize> = (0..=n).collect();
    let mut centroid = vec![0.0; n];
    let mut trial = vec![0.0; n];
    let mut trial2 = vec![0.0; n];
    while *evals < opts.max_evals {
        order.sort_by(|&a, &b| vals[a].total_cmp(&vals[b]));
        let (ib, iw, isw) = (order[0], order[n], order[n - 1]);
        let (fb, fw) = (vals[ib], vals[iw]);
        if converged(&pts, &vals, ib, step, opts) {
            break;
        }
        centroid.iter_mut().for_each(|c| *c = 0.0);
        for &i in &order[..n] {
            for (c, x) in centroid.iter_mut().zip(&pts[i]) {
                *c += x / nf;
            }
        }
        let toward = |out: &mut [f64], coef: f64, from: &[f64], c: &[f64]| {
            for ((o, ci), fi) in out.iter_mut().zip(c).zip(from) {
                *o = ci + coef * (ci - fi);
            }
        };
        toward(&mut trial, alpha, &pts[iw], &centroid);
        let fr = eval(&trial);
        *evals += 1;
        if fr < fb {
            toward(&mut trial2, gamma, &pts[iw], &centroid);
            let fe = eval(&trial2);
            *evals += 1;
            if fe < fr {
                pts[iw].copy_from_slice(&trial2);
                vals[iw] = fe;
            } else {
                pts[iw].copy_from_slice(&trial);
                vals[iw] = fr;
            }
            continue;
        }
        if fr < vals[isw] {
            pts[iw].copy_from_slice(&trial);
            vals[iw] = fr;
            continue;
        }
        // Outside contraction when the reflection helped a little, inside when it did not.
        let outside = fr < fw;
        toward(
            &mut trial2,
            if outside { rho } else { -rho },
            &pts[iw],
            &centroid,
        );
        let fc = eval(&trial2);
        *evals += 1;
        if (outside && fc <= fr) || (!outside && fc < fw) {
            pts[iw].copy_from_slice(&trial2);
            vals[iw] = fc;
            continue;
        }
        let best = pts[ib].clone();
        for &i in &order[1..] {
            for (x, b) in pts[i].iter_mut().zip(&best) {
                *x = b + sigma * (*x - b);
            }
            vals[i] = eval(&pts[i]);
            *evals += 1;
        }
    }
    let ib = (0..=n)
        .min_by(|&a, &b| vals[a].total_cmp(&vals[b]))
        .unwrap_or(0);
    Minimum {
        x: pts[ib].clone(),
        value: vals[ib],
    }
}

fn converged(pts: &[Vec<f64>], vals: &[f64], ib: usize, step: &[f64], opts: Options) -> bool {
    let fb = vals[ib];
    if !fb.is_finite() {
        return false;
    }
    let fspread = vals.iter().fold(0.0_f64, |m, v| m.max(v - fb));
    if fspread > opts.ftol * (fb.abs() + 1e-12) {
        return false;
    }
    pts.iter().all(|p| {
        p.iter()
            .zip(&pts[ib])
            .zip(step)
            .all(|((x, b), s)| (x - b).abs() <= opts.xtol * s.abs().max(1e-12))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_rosenbrock_minimum() {
        let f = |x: &[f64]| (1.0 - x[0]).powi(2) + 100.0 * (x[1] - x[0] * x[0]).powi(2);
        let opts = Options {
            max_evals: 5_000,
            ..Options::default()
        };
        let m = minimize(f, &[-1.2, 1.0], &[0.1, 0.1], opts);
        assert!(
            (m.x[0] - 1.0).abs() < 1e-3 && (m.x[1] - 1.0).abs() < 1e-3,
            "{m:?}"
        );
    }

    #[test]
    fn steps_away_from_infeasible_points() {
        let f = |x: &[f64]| {
            if x[0] < 0.0 {
                f64::NAN
            } else {
                (x[0] - 0.5).powi(2)
            }
        };
        let m = minimize(f, &[0.05], &[-0.1], Options::default());
        assert!((m.x[0] - 0.5).abs() < 1e-3, "{m:?}");
    }
}
