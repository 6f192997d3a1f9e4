//! The policies the simulator compares, by their command-line names.

use std::fmt;
use std::str::FromStr;

use crate::SimError;

/// A policy (or the oracle bound) to simulate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyKind {
    /// Every agent awake: the cost ceiling.
    AlwaysOn,
    /// Kubernetes-HPA-like reactive scaling.
    Reactive,
    /// Knative-KPA-like reactive scaling with panic mode.
    Kpa,
    /// Forecast-plus-reactive (AWS-predictive-scaling-like): max(`reactive`, the need of last
    /// week's peak over the wake lead time). Named after its forecast.
    SeasonalNaive,
    /// Ours: forecast upper quantile, break-even sleeps, every safety behaviour.
    Predictive,
    /// Perfect-foresight lower bound (not a policy).
    Oracle,
}

impl PolicyKind {
    /// Every kind, in report order.
    pub const ALL: [PolicyKind; 6] = [
        PolicyKind::AlwaysOn,
        PolicyKind::Reactive,
        PolicyKind::Kpa,
        PolicyKind::SeasonalNaive,
        PolicyKind::Predictive,
        PolicyKind::Oracle,
    ];

    /// Command-line and report name.
    pub fn name(self) -> &'static str {
        match self {
            PolicyKind::AlwaysOn => "always-on",
            PolicyKind::Reactive => "reactive",
            PolicyKind::Kpa => "kpa",
            PolicyKind::SeasonalNaive => "seasonal-naive",
            PolicyKind::Predictive => "predictive",
            PolicyKind::Oracle => "oracle",
        }
    }

    /// Parses `all` or a comma-separated list of names, keeping the order given.
    pub fn parse_list(spec: &str) -> Result<Vec<PolicyKind>, SimError> {
        if spec.trim() == "all" {
            return Ok(Self::ALL.to_vec());
        }
        let mut out = Vec::new();
        for name in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let kind: PolicyKind = name.parse()?;
            if !out.contains(&kind) {
                out.push(kind);
            }
        }
        if out.is_empty() {
            return Err(SimError::Config("--policy: no policy named".into()));
        }
        Ok(out)
    }
}

impl FromStr for PolicyKind {
    type Err = SimError;

    fn from_str(s: &str) -> Result<Self, SimError> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                let known: Vec<&str> = Self::ALL.iter().map(|k| k.name()).collect();
                SimError::Config(format!(
                    "--policy: unknown policy {s:?}; known: all, {}",
                    known.join(", ")
                ))
            })
    }
}

impl fmt::Display for PolicyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse_and_unknown_names_are_named() {
        assert_eq!(PolicyKind::parse_list("all").unwrap().len(), 6);
        assert_eq!(
            PolicyKind::parse_list("kpa, oracle,kpa").unwrap(),
            vec![PolicyKind::Kpa, PolicyKind::Oracle]
        );
        let e = PolicyKind::parse_list("reactive,hpa")
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"hpa\""), "{e}");
    }
}
