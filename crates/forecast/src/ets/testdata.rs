//! Classic series for known-answer tests (shared by the ETS and ARIMA tests).

/// Monthly international airline passengers (thousands), January 1949 – December 1960;
/// Box & Jenkins (1976), series G. Public domain.
pub(crate) const AIR_PASSENGERS: [f64; 144] = [
    112., 118., 132., 129., 121., 135., 148., 148., 136., 119., 104., 118., //
    115., 126., 141., 135., 125., 149., 170., 170., 158., 133., 114., 140., //
    145., 150., 178., 163., 172., 178., 199., 199., 184., 162., 146., 166., //
    171., 180., 193., 181., 183., 218., 230., 242., 209., 191., 172., 194., //
    196., 196., 236., 235., 229., 243., 264., 272., 237., 211., 180., 201., //
    204., 188., 235., 227., 234., 264., 302., 293., 259., 229., 203., 229., //
    242., 233., 267., 269., 270., 315., 364., 347., 312., 274., 237., 278., //
    284., 277., 317., 313., 318., 374., 413., 405., 355., 306., 271., 306., //
    315., 301., 356., 348., 355., 422., 465., 467., 404., 347., 305., 336., //
    340., 318., 362., 348., 363., 435., 491., 505., 404., 359., 310., 337., //
    360., 342., 406., 396., 420., 472., 548., 559., 463., 407., 362., 405., //
    417., 391., 419., 461., 472., 535., 622., 606., 508., 461., 390., 432., //
];

#[test]
fn air_passengers_total_matches_the_published_mean() {
    // The published mean of the series is 280.2986 (total 40 363).
    assert_eq!(AIR_PASSENGERS.iter().sum::<f64>(), 40_363.0);
}

/// A hostile input for robustness tests: seeded, covering constant, short, empty, huge, tiny,
/// zero-with-spikes, negative, random-walk and seasonal series. Returns (description, series).
pub(crate) fn hostile_series(seed: u64) -> (String, Vec<f64>) {
    let mut rng = super::gauss::NormalRng::new(seed);
    let len = [0usize, 1, 2, 3, 5, 8, 13, 25, 40, 64, 97][(seed % 11) as usize];
    let len = if seed.is_multiple_of(3) {
        len
    } else {
        len.max(25)
    };
    let kind = (seed / 11) % 8;
    let y: Vec<f64> = match kind {
        0 => vec![[0.0, 1.0, -3.5, 1e9][(seed % 4) as usize]; len],
        1 => (0..len).map(|_| 1e12 * (1.0 + rng.next().abs())).collect(),
        2 => (0..len).map(|_| 1e-12 * rng.next()).collect(),
        3 => (0..len)
            .map(|t| {
                if t % 17 == 3 {
                    1e6 * (1.0 + rng.next().abs())
                } else {
                    0.0
                }
            })
            .collect(),
        4 => (0..len)
            .map(|t| if t % 2 == 0 { -1.0 } else { 1.0 } * (1.0 + rng.next().abs()))
            .collect(),
        5 => (0..len)
            .scan(0.0, |s, _| {
                *s += rng.next();
                Some(*s)
            })
            .collect(),
        6 => (0..len)
            .map(|t| 10.0 + 5.0 * ((t % 12) as f64 - 5.5) + rng.next())
            .collect(),
        _ => (0..len)
            .map(|t| {
                if t == len / 2 {
                    1e15
                } else {
                    1.0 + 0.1 * rng.next()
                }
            })
            .collect(),
    };
    (format!("seed {seed} kind {kind} len {len}"), y)
}

/// Whether a fit-and-forecast outcome honours the contract: an error, or finite forecasts with
/// ordered interval bounds.
pub(crate) fn honours_contract(
    fitted: Result<Box<dyn crate::Fitted>, crate::ForecastError>,
) -> bool {
    let Ok(f) = fitted else { return true };
    match f.forecast(13, &[80.0, 95.0]) {
        Err(_) => true,
        Ok(fc) => {
            fc.mean.len() == 13
                && fc.mean.iter().all(|v| v.is_finite())
                && fc.intervals.iter().all(|i| {
                    i.lo.iter()
                        .zip(&i.hi)
                        .all(|(l, h)| l.is_finite() && h.is_finite() && l <= h)
                })
        }
    }
}
