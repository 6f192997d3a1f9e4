//! Targeting rules: which units are eligible for a flag at all. Every rule must match; a unit
//! that is not eligible is in no arm and gets the off value.

use std::collections::BTreeMap;

use crate::FlagError;

/// How a rule compares a context attribute with its values.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = TargetingOp, rename_all = "snake_case"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// The attribute equals one of the values.
    In,
    /// The attribute is present and equals none of the values.
    NotIn,
    /// The attribute starts with one of the values.
    StartsWith,
}

impl Op {
    /// Every operator.
    pub const ALL: [Op; 3] = [Op::In, Op::NotIn, Op::StartsWith];

    /// The wire name (`in`, `not_in`, `starts_with`).
    pub fn as_str(self) -> &'static str {
        match self {
            Op::In => "in",
            Op::NotIn => "not_in",
            Op::StartsWith => "starts_with",
        }
    }
}

hivesched_policy::wire_name!(Op, "in, not_in or starts_with");

/// One condition on a context attribute.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = TargetingRule))]
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// The context attribute, e.g. `pool`.
    pub attribute: String,
    /// How it is compared.
    pub op: Op,
    /// What it is compared with.
    pub values: Vec<String>,
}

impl Rule {
    /// Whether the context satisfies the rule. A missing attribute never matches, not even
    /// `not_in`: a unit we know nothing about is left out rather than enrolled by accident.
    pub fn matches(&self, context: &BTreeMap<String, String>) -> bool {
        let Some(v) = context.get(&self.attribute) else {
            return false;
        };
        match self.op {
            Op::In => self.values.iter().any(|x| x == v),
            Op::NotIn => !self.values.iter().any(|x| x == v),
            Op::StartsWith => self.values.iter().any(|x| v.starts_with(x.as_str())),
        }
    }

    /// Checks the rule; the error names the field.
    pub fn validate(&self) -> Result<(), FlagError> {
        if self.attribute.is_empty() {
            return Err(FlagError::Invalid {
                field: "rules.attribute",
                reason: "must name a context attribute".into(),
            });
        }
        if self.values.is_empty() {
            return Err(FlagError::Invalid {
                field: "rules.values",
                reason: format!("the rule on {:?} has no values", self.attribute),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn operators() {
        let rule = |op, values: &[&str]| Rule {
            attribute: "pool".into(),
            op,
            values: values.iter().map(|s| s.to_string()).collect(),
        };
        let gpu = ctx(&[("pool", "gpu-a")]);
        assert!(rule(Op::In, &["gpu-a", "x"]).matches(&gpu));
        assert!(!rule(Op::In, &["gpu"]).matches(&gpu));
        assert!(rule(Op::StartsWith, &["gpu"]).matches(&gpu));
        assert!(rule(Op::NotIn, &["cpu"]).matches(&gpu));
        assert!(!rule(Op::NotIn, &["gpu-a"]).matches(&gpu));
        assert!(
            !rule(Op::NotIn, &["cpu"]).matches(&ctx(&[])),
            "missing never matches"
        );
        assert!(rule(Op::In, &[]).validate().is_err());
    }

    #[test]
    fn wire_names() {
        let r: Rule =
            serde_json::from_str(r#"{"attribute":"pool","op":"starts_with","values":["a"]}"#)
                .unwrap();
        assert_eq!(r.op, Op::StartsWith);
        assert!(serde_json::from_str::<Op>(r#""like""#).is_err());
    }
}
