//! The flag definition: what it serves, to whom, and how its rollout may progress.
//!
//! The salt and bucket version are fixed for a flag's life (changing either reshuffles every
//! unit); everything else may be edited between rollouts. Validation names the field.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::FlagError;
use crate::bucket::Percent;
use crate::guardrails::GuardrailConfig;
use crate::targeting::Rule;

/// What a flag serves.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = FlagKind, rename_all = "snake_case"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `true` to treatment, `false` to everybody else.
    Boolean,
    /// A weighted variant to treatment, the off variant to everybody else.
    Variants,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 2] = [Kind::Boolean, Kind::Variants];

    /// The wire name (`boolean`, `variants`).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Boolean => "boolean",
            Kind::Variants => "variants",
        }
    }
}

hivesched_policy::wire_name!(Kind, "boolean or variants");

/// What a rollback does to the treatment share.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = RollbackMode, rename_all = "snake_case"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RollbackMode {
    /// To 0 % at once (the default: a breach means the change is harmful at any share).
    Kill,
    /// Back to the previous stage (0 % from the first); for soft reversals.
    StepDown,
}

impl RollbackMode {
    /// Every mode.
    pub const ALL: [RollbackMode; 2] = [RollbackMode::Kill, RollbackMode::StepDown];

    /// The wire name (`kill`, `step_down`).
    pub fn as_str(self) -> &'static str {
        match self {
            RollbackMode::Kill => "kill",
            RollbackMode::StepDown => "step_down",
        }
    }
}

hivesched_policy::wire_name!(RollbackMode, "kill or step_down");

/// One variant of a variants flag and its relative weight among the treatment's variants.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = FlagVariant))]
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// The value served.
    pub name: String,
    /// Relative weight (> 0).
    pub weight: u32,
}

/// The default stage ladder, in percent.
pub const DEFAULT_LADDER: [u16; 5] = [1, 10, 25, 50, 100];

/// A flag and the rules of its rollout. Defaults are reasoned in docs/rollout.md.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Flag))]
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flag {
    /// Unique key, e.g. `scheduler.acting`.
    pub key: String,
    /// What the flag changes, for people.
    #[serde(default)]
    pub description: String,
    /// Boolean or variants.
    pub kind: Kind,
    /// Variants served to treatment (variants flags only).
    #[serde(default)]
    pub variants: Vec<Variant>,
    /// Value served outside treatment (variants flags only).
    #[serde(default)]
    pub off_variant: Option<String>,
    /// Hash salt; fixed for the flag's life.
    pub salt: String,
    /// Hash seed; bump it only to reshuffle every unit on purpose.
    #[serde(default)]
    pub bucket_version: u32,
    /// The context attribute that names the unit: `agent_id`, `pool`, or any context key.
    pub unit: String,
    /// Every rule must match for a unit to be eligible; units not eligible are in no arm.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// Treatment shares, strictly increasing, ending at 100 %.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<f64>))]
    pub ladder: Vec<Percent>,
    /// Minimum time at each stage before advancing (seconds).
    #[cfg_attr(feature = "openapi", schema(value_type = u64))]
    #[serde(with = "secs")]
    pub min_bake: Duration,
    /// Minimum units seen in each arm at a stage before advancing.
    pub min_units_per_arm: u64,
    /// Minimum time from the start of the rollout to 100 % (seconds); 7 days by default.
    #[cfg_attr(feature = "openapi", schema(value_type = u64))]
    #[serde(with = "secs")]
    pub min_full_rollout: Duration,
    /// Guardrails judged at every check.
    #[serde(default)]
    pub guardrails: GuardrailConfig,
    /// What an automatic rollback does.
    pub rollback: RollbackMode,
    /// When on, everyone gets the off value and the rollout is rolled back.
    #[serde(default)]
    pub kill_switch: bool,
}

impl Flag {
    /// A boolean flag with the defaults: salt = key, unit = `agent_id`, the default ladder,
    /// one hour of bake and 5 units per arm per stage, 7 days to 100 %, kill on breach.
    pub fn boolean(key: &str) -> Flag {
        Flag {
            key: key.to_owned(),
            description: String::new(),
            kind: Kind::Boolean,
            variants: Vec::new(),
            off_variant: None,
            salt: key.to_owned(),
            bucket_version: 0,
            unit: "agent_id".to_owned(),
            rules: Vec::new(),
            ladder: DEFAULT_LADDER
                .iter()
                .filter_map(|&p| Percent::from_percent(p))
                .collect(),
            min_bake: Duration::from_secs(3600),
            min_units_per_arm: 5,
            min_full_rollout: Duration::from_secs(7 * 24 * 3600),
            guardrails: GuardrailConfig::default(),
            rollback: RollbackMode::Kill,
            kill_switch: false,
        }
    }

    /// Checks every field; the error names it.
    pub fn validate(&self) -> Result<(), FlagError> {
        let bad = |field: &'static str, reason: String| Err(FlagError::Invalid { field, reason });
        if self.key.is_empty() || self.key.len() > 200 {
            return bad("key", "must be 1 to 200 characters".into());
        }
        if self.salt.is_empty() {
            return bad("salt", "must not be empty".into());
        }
        if self.unit.is_empty() {
            return bad("unit", "must name a context attribute".into());
        }
        match self.kind {
            Kind::Boolean => {
                if !self.variants.is_empty() || self.off_variant.is_some() {
                    return bad("variants", "a boolean flag has no variants".into());
                }
            }
            Kind::Variants => {
                if self.variants.is_empty() {
                    return bad("variants", "a variants flag needs at least one".into());
                }
                let mut names = BTreeSet::new();
                for v in &self.variants {
                    if v.weight == 0 {
                        return bad("variants", format!("{:?} has weight 0", v.name));
                    }
                    if !names.insert(v.name.as_str()) {
                        return bad("variants", format!("{:?} appears twice", v.name));
                    }
                }
                if self.off_variant.is_none() {
                    return bad("off_variant", "a variants flag needs one".into());
                }
            }
        }
        if self.ladder.last() != Some(&Percent::FULL) {
            return bad("ladder", "must end at 100".into());
        }
        if self.ladder.first() == Some(&Percent::ZERO) {
            return bad("ladder", "stages must be above 0".into());
        }
        if self.ladder.windows(2).any(|w| w[0] >= w[1]) {
            return bad("ladder", "must be strictly increasing".into());
        }
        for rule in &self.rules {
            rule.validate()?;
        }
        self.guardrails.validate()
    }

    /// The variant a treatment unit gets, chosen by weight on a hash separate from enrollment
    /// (seed 86028157, Unleash's variant seed), so changing weights never changes who is
    /// enrolled. `None` for a boolean flag.
    pub fn variant_for(&self, unit: &str) -> Option<&str> {
        let total: u64 = self.variants.iter().map(|v| u64::from(v.weight)).sum();
        if total == 0 {
            return None;
        }
        let h = crate::bucket::murmur3_32(format!("{}:{unit}", self.salt).as_bytes(), 86_028_157);
        let mut point = (u64::from(h) * total) >> 32;
        for v in &self.variants {
            if point < u64::from(v.weight) {
                return Some(&v.name);
            }
            point -= u64::from(v.weight);
        }
        None
    }
}

/// A ladder for a fleet of `units` units: the default stages at which each arm can expect at
/// least `min_units` units, then 100 %. At 1 % a 20-agent fleet has 0.2 expected units per
/// arm, so a stage like that could never collect its minimum and the rollout would hold there
/// forever; this drops it.
pub fn fleet_ladder(units: u64, min_units: u64) -> Vec<Percent> {
    DEFAULT_LADDER
        .iter()
        .filter(|&&p| p == 100 || units * u64::from(p) >= min_units * 100)
        .filter_map(|&p| Percent::from_percent(p))
        .collect()
}

mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_flag_is_valid_and_round_trips() {
        let f = Flag::boolean("scheduler.acting");
        f.validate().unwrap();
        let json = serde_json::to_string(&f).unwrap();
        assert!(
            json.contains(r#""ladder":[1.0,10.0,25.0,50.0,100.0]"#),
            "{json}"
        );
        assert!(json.contains(r#""rollback":"kill""#), "{json}");
        let back: Flag = serde_json::from_str(&json).unwrap();
        assert_eq!(back, f);
    }

    #[test]
    fn validation_names_the_field() {
        let field = |f: Flag| match f.validate() {
            Err(FlagError::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        let mut f = Flag::boolean("x");
        f.ladder = vec![
            Percent::from_percent(10).unwrap(),
            Percent::from_percent(50).unwrap(),
        ];
        assert_eq!(field(f), "ladder");
        let mut f = Flag::boolean("x");
        f.ladder = vec![
            Percent::from_percent(10).unwrap(),
            Percent::from_percent(10).unwrap(),
            Percent::FULL,
        ];
        assert_eq!(field(f), "ladder");
        let mut f = Flag::boolean("x");
        f.kind = Kind::Variants;
        assert_eq!(field(f), "variants");
        let mut f = Flag::boolean("x");
        f.salt.clear();
        assert_eq!(field(f), "salt");
        let mut f = Flag::boolean("x");
        f.guardrails.alpha = 0.7;
        assert_eq!(field(f), "guardrails.alpha");
    }

    #[test]
    fn variants_follow_their_weights() {
        let mut f = Flag::boolean("model");
        f.kind = Kind::Variants;
        f.off_variant = Some("old".into());
        f.variants = vec![
            Variant {
                name: "a".into(),
                weight: 3,
            },
            Variant {
                name: "b".into(),
                weight: 1,
            },
        ];
        f.validate().unwrap();
        let a = (0..20_000)
            .filter(|i| f.variant_for(&format!("u{i}")) == Some("a"))
            .count();
        assert!((14_500..15_500).contains(&a), "{a}");
        assert_eq!(Flag::boolean("b").variant_for("u1"), None);
    }

    #[test]
    fn a_fleet_ladder_drops_stages_that_cannot_fill_an_arm() {
        let pct = |l: Vec<Percent>| l.iter().map(|p| p.as_percent()).collect::<Vec<_>>();
        assert_eq!(pct(fleet_ladder(20, 2)), [10.0, 25.0, 50.0, 100.0]);
        assert_eq!(pct(fleet_ladder(20, 5)), [25.0, 50.0, 100.0]);
        assert_eq!(pct(fleet_ladder(1000, 5)), [1.0, 10.0, 25.0, 50.0, 100.0]);
        assert_eq!(pct(fleet_ladder(3, 5)), [100.0]);
    }
}
