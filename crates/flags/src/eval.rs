//! Evaluating a flag for one unit: eligibility, arm and served value, with the reason.

use std::collections::BTreeMap;

use crate::bucket::{Arm, Percent, arm_of, bucket};
use crate::flag::{Flag, Kind};

/// The value a flag serves.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum Value {
    /// A boolean flag's value.
    Bool(bool),
    /// A variants flag's variant.
    Variant(String),
}

/// Why a unit got its value (OpenFeature's resolution reasons, plus the missing-key error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Kill switch on: everybody gets the off value.
    Disabled,
    /// The context lacks the unit attribute: not enrolled, never a random bucket.
    TargetingKeyMissing,
    /// A targeting rule left the unit out.
    TargetingMatch,
    /// The unit's bucket put it in an arm (or in neither).
    Split,
}

impl Reason {
    /// Every reason.
    pub const ALL: [Reason; 4] = [
        Reason::Disabled,
        Reason::TargetingKeyMissing,
        Reason::TargetingMatch,
        Reason::Split,
    ];

    /// The wire name (`disabled`, `targeting_key_missing`, `targeting_match`, `split`).
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Disabled => "disabled",
            Reason::TargetingKeyMissing => "targeting_key_missing",
            Reason::TargetingMatch => "targeting_match",
            Reason::Split => "split",
        }
    }
}

hivesched_policy::wire_name!(Reason, "an evaluation reason");

/// The result of evaluating a flag for one unit.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Evaluation {
    /// What the unit gets.
    pub value: Value,
    /// Its arm.
    pub arm: Arm,
    /// Why.
    pub reason: Reason,
    /// Its bucket, when it has a unit key.
    pub bucket: Option<u16>,
}

/// Evaluates `flag` for the unit described by `context` when treatment has `share`.
pub fn evaluate(flag: &Flag, share: Percent, context: &BTreeMap<String, String>) -> Evaluation {
    let off = match flag.kind {
        Kind::Boolean => Value::Bool(false),
        Kind::Variants => Value::Variant(flag.off_variant.clone().unwrap_or_default()),
    };
    let out = |reason, bucket| Evaluation {
        value: off.clone(),
        arm: Arm::Out,
        reason,
        bucket,
    };
    if flag.kill_switch {
        return out(Reason::Disabled, None);
    }
    let Some(unit) = context.get(&flag.unit).filter(|u| !u.is_empty()) else {
        return out(Reason::TargetingKeyMissing, None);
    };
    if !flag.rules.iter().all(|r| r.matches(context)) {
        return out(Reason::TargetingMatch, None);
    }
    let b = bucket(&flag.salt, flag.bucket_version, unit);
    let arm = arm_of(b, share);
    let value = match (arm, flag.kind) {
        (Arm::Treatment, Kind::Boolean) => Value::Bool(true),
        (Arm::Treatment, Kind::Variants) => flag
            .variant_for(unit)
            .map_or_else(|| off.clone(), |v| Value::Variant(v.to_owned())),
        _ => off.clone(),
    };
    Evaluation {
        value,
        arm,
        reason: Reason::Split,
        bucket: Some(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::targeting::{Op, Rule};

    fn ctx(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn missing_unit_key_is_not_enrolled() {
        let f = Flag::boolean("f");
        let e = evaluate(&f, Percent::FULL, &ctx(&[("pool", "a")]));
        assert_eq!(
            (e.arm, e.reason, e.value),
            (Arm::Out, Reason::TargetingKeyMissing, Value::Bool(false))
        );
        let e = evaluate(&f, Percent::FULL, &ctx(&[("agent_id", "")]));
        assert_eq!(e.reason, Reason::TargetingKeyMissing);
    }

    #[test]
    fn kill_switch_and_rules_leave_units_out() {
        let mut f = Flag::boolean("f");
        f.rules = vec![Rule {
            attribute: "pool".into(),
            op: Op::In,
            values: vec!["gpu".into()],
        }];
        let e = evaluate(
            &f,
            Percent::FULL,
            &ctx(&[("agent_id", "a1"), ("pool", "cpu")]),
        );
        assert_eq!((e.arm, e.reason), (Arm::Out, Reason::TargetingMatch));
        let e = evaluate(
            &f,
            Percent::FULL,
            &ctx(&[("agent_id", "a1"), ("pool", "gpu")]),
        );
        assert_eq!((e.arm, e.value), (Arm::Treatment, Value::Bool(true)));
        f.kill_switch = true;
        let e = evaluate(
            &f,
            Percent::FULL,
            &ctx(&[("agent_id", "a1"), ("pool", "gpu")]),
        );
        assert_eq!((e.arm, e.reason), (Arm::Out, Reason::Disabled));
    }

    #[test]
    fn the_unit_attribute_can_be_any_context_key() {
        let mut f = Flag::boolean("f");
        f.unit = "pool".into();
        let a = evaluate(
            &f,
            Percent::from_percent(50).unwrap(),
            &ctx(&[("pool", "p7"), ("agent_id", "x")]),
        );
        let b = evaluate(
            &f,
            Percent::from_percent(50).unwrap(),
            &ctx(&[("pool", "p7"), ("agent_id", "y")]),
        );
        assert_eq!(a, b, "every agent of a pool shares its pool's arm");
        assert_eq!(a.bucket, Some(bucket("f", 0, "p7")));
    }

    #[test]
    fn variants_go_to_treatment_and_the_off_variant_elsewhere() {
        let mut f = Flag::boolean("m");
        f.kind = crate::flag::Kind::Variants;
        f.off_variant = Some("old".into());
        f.variants = vec![crate::flag::Variant {
            name: "new".into(),
            weight: 1,
        }];
        let half = Percent::from_percent(50).unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..200 {
            let e = evaluate(&f, half, &ctx(&[("agent_id", &format!("a{i}"))]));
            let want = if e.arm == Arm::Treatment {
                "new"
            } else {
                "old"
            };
            assert_eq!(e.value, Value::Variant(want.into()));
            seen.insert(e.arm);
        }
        assert_eq!(seen.len(), 2);
    }
}
