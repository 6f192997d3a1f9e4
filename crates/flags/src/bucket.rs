//! Sticky, monotone bucketing with a concurrent control arm.
//!
//! A unit's bucket depends only on the flag's salt, its bucket version and the unit's key, never
//! on the percentage: `murmur3_x86_32("{salt}:{unit}", seed = bucket_version)`, taken as an
//! unsigned 32-bit number and mapped onto [`BUCKETS`] buckets by `(h · B) >> 32` (integer only,
//! no modulo bias — flagd's mapping; Unleash's key format). Seed 0 (bucket version 0) gives the
//! same hash as Unleash and flagd compute for the same key.
//!
//! Treatment is enrolled from the bottom of the range (`b < T`), the control arm from the top
//! (`b ≥ B − T`), so up to 50 % both arms only grow as the percentage rises and nobody ever moves
//! between them; lowering the percentage removes the highest treatment buckets first — the
//! last enrolled (FILO). Above 50 % the control is what is left (`b ≥ T`): it can only shrink,
//! its units move to treatment and never back.

use std::fmt;

/// Number of buckets: 10 000, so the resolution is 0.01 % (one basis point).
pub const BUCKETS: u16 = 10_000;

/// A share of the units in basis points (0..=10 000, so 1 % is 100). On the wire it is a
/// number of percent (`2.5` is 250 basis points); finer than 0.01 % is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Percent(u16);

impl Percent {
    /// Nobody.
    pub const ZERO: Percent = Percent(0);
    /// Everybody.
    pub const FULL: Percent = Percent(BUCKETS);

    /// A share in basis points; `None` above 10 000.
    pub const fn from_basis_points(bp: u16) -> Option<Percent> {
        if bp <= BUCKETS {
            Some(Percent(bp))
        } else {
            None
        }
    }

    /// A whole number of percent; `None` above 100.
    pub const fn from_percent(p: u16) -> Option<Percent> {
        if p <= 100 {
            Some(Percent(p * 100))
        } else {
            None
        }
    }

    /// The share in basis points.
    pub const fn basis_points(self) -> u16 {
        self.0
    }

    /// The share in percent.
    pub fn as_percent(self) -> f64 {
        f64::from(self.0) / 100.0
    }

    /// Number of buckets given to the concurrent control arm at this treatment share: as many
    /// as treatment up to 50 %, what is left above.
    pub const fn control_buckets(self) -> u16 {
        let rest = BUCKETS - self.0;
        if self.0 < rest { self.0 } else { rest }
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.as_percent())
    }
}

impl serde::Serialize for Percent {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.as_percent())
    }
}

impl<'de> serde::Deserialize<'de> for Percent {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let p = f64::deserialize(d)?;
        let bp = (p * 100.0).round();
        if !(0.0..=100.0).contains(&p) || (p * 100.0 - bp).abs() > 1e-6 {
            return Err(serde::de::Error::invalid_value(
                serde::de::Unexpected::Float(p),
                &"a percentage between 0 and 100 in steps of 0.01",
            ));
        }
        Ok(Percent(bp as u16))
    }
}

/// Which arm of a rollout a unit is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Arm {
    /// Gets the new behaviour.
    Treatment,
    /// Held on the old behaviour and observed as the comparison.
    Control,
    /// Neither: not enrolled (old behaviour, not compared).
    Out,
}

impl Arm {
    /// Every arm.
    pub const ALL: [Arm; 3] = [Arm::Treatment, Arm::Control, Arm::Out];

    /// The wire name (`treatment`, `control`, `out`).
    pub fn as_str(self) -> &'static str {
        match self {
            Arm::Treatment => "treatment",
            Arm::Control => "control",
            Arm::Out => "out",
        }
    }
}

hivesched_policy::wire_name!(Arm, "treatment, control or out");

/// MurmurHash3 x86_32 of `bytes` with `seed`, unsigned.
pub fn murmur3_32(bytes: &[u8], seed: u32) -> u32 {
    // The crate hashes any `Read`; reading from a byte slice cannot fail.
    match murmur3::murmur3_32(&mut &bytes[..], seed) {
        Ok(h) => h,
        Err(e) => unreachable!("reading a byte slice failed: {e}"),
    }
}

/// The bucket (0..[`BUCKETS`]) of `unit` under `salt` and `bucket_version`.
pub fn bucket(salt: &str, bucket_version: u32, unit: &str) -> u16 {
    let h = murmur3_32(format!("{salt}:{unit}").as_bytes(), bucket_version);
    // (h · B) >> 32 < B because h < 2^32, so the cast cannot truncate.
    ((u64::from(h) * u64::from(BUCKETS)) >> 32) as u16
}

/// The arm of a unit in `bucket` when treatment has `share` of the units.
pub fn arm_of(bucket: u16, share: Percent) -> Arm {
    if bucket < share.0 {
        Arm::Treatment
    } else if bucket >= BUCKETS - share.control_buckets() {
        Arm::Control
    } else {
        Arm::Out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur3_matches_the_published_reference_values() {
        // SMHasher's MurmurHash3_x86_32 and the values every port checks itself against
        // (e.g. the Wikipedia table, Guava's and mmh3's test suites).
        assert_eq!(murmur3_32(b"", 0), 0);
        assert_eq!(murmur3_32(b"", 1), 0x514e_28b7);
        assert_eq!(murmur3_32(b"", 0xffff_ffff), 0x81f1_6f39);
        assert_eq!(murmur3_32(b"hello", 0), 0x248b_fa47);
        assert_eq!(murmur3_32(b"Hello, world!", 1234), 0xfaf6_cdb3);
        assert_eq!(
            murmur3_32(b"The quick brown fox jumps over the lazy dog", 0),
            0x2e4f_f723
        );
        assert_eq!(murmur3_32(b"aaaa", 0x9747_b28c), 0x5a97_808a);
        assert_eq!(murmur3_32(b"abc", 0), 0xb3dd_93fa);
    }

    #[test]
    fn agrees_with_unleash_on_its_published_vectors() {
        // Unleash: normalizedValue = murmur3("{groupId}:{id}", 0) % 100 + 1.
        let unleash =
            |group: &str, id: &str| murmur3_32(format!("{group}:{id}").as_bytes(), 0) % 100 + 1;
        assert_eq!(unleash("Feature.flexibleRollout.10", "174"), 10);
        assert_eq!(unleash("Feature.flexibleRollout.10", "499"), 32);
    }

    #[test]
    fn buckets_are_uniform_enough() {
        let mut counts = [0u32; 10];
        for i in 0..100_000 {
            counts[usize::from(bucket("flag", 0, &format!("agent-{i}")) / 1000)] += 1;
        }
        for c in counts {
            assert!((9_500..10_500).contains(&c), "{counts:?}");
        }
    }

    #[test]
    fn bucket_version_reshuffles() {
        let moved = (0..1000)
            .filter(|i| {
                let u = format!("u{i}");
                bucket("s", 0, &u) != bucket("s", 1, &u)
            })
            .count();
        assert!(moved > 990, "{moved}");
    }

    #[test]
    fn arms_at_the_edges() {
        let ten = Percent::from_percent(10).unwrap();
        assert_eq!(arm_of(0, ten), Arm::Treatment);
        assert_eq!(arm_of(999, ten), Arm::Treatment);
        assert_eq!(arm_of(1000, ten), Arm::Out);
        assert_eq!(arm_of(8999, ten), Arm::Out);
        assert_eq!(arm_of(9000, ten), Arm::Control);
        assert_eq!(arm_of(9999, ten), Arm::Control);
        assert_eq!(arm_of(9999, Percent::FULL), Arm::Treatment);
        assert_eq!(arm_of(0, Percent::ZERO), Arm::Out);
        let seventy = Percent::from_percent(70).unwrap();
        assert_eq!(seventy.control_buckets(), 3000);
        assert_eq!(arm_of(7000, seventy), Arm::Control);
    }

    #[test]
    fn percent_wire_form() {
        let p: Percent = serde_json::from_str("2.5").unwrap();
        assert_eq!(p.basis_points(), 250);
        assert_eq!(serde_json::to_string(&p).unwrap(), "2.5");
        assert!(serde_json::from_str::<Percent>("100.5").is_err());
        assert!(serde_json::from_str::<Percent>("0.001").is_err());
        assert!(serde_json::from_str::<Percent>("-1").is_err());
    }
}
