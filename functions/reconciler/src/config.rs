//! The reconciler's configuration: the loops' functions it asks every tick.

use halfhour::config::{CommonConfig, ConfigError, Vars};

pub const FUNCTIONS: &str = "HALFHOUR_RECONCILE_FUNCTIONS";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconcilerConfig {
    pub common: CommonConfig,
    /// The loops' functions (names or ARNs), each asked to reconcile every tick.
    pub functions: Vec<String>,
}

impl ReconcilerConfig {
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String> + Copy,
    ) -> Result<Self, ConfigError> {
        let vars = Vars::new(lookup);
        let functions: Vec<String> = vars
            .required(FUNCTIONS)?
            .split(',')
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(str::to_owned)
            .collect();
        if functions.is_empty() {
            return Err(ConfigError::Invalid {
                var: FUNCTIONS,
                value: String::new(),
                reason: "names no function".into(),
            });
        }
        Ok(ReconcilerConfig {
            common: CommonConfig::from_lookup(lookup)?,
            functions,
        })
    }
}
