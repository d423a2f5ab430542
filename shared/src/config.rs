//! Typed configuration, parsed from a lookup function so tests need no `set_var`.
//! SAM's `Environment.Variables` is the single list of names; each is a constant here.

use std::str::FromStr;
use std::time::Duration;

use crate::domain::ClusterName;

pub const TABLE_NAME: &str = "HALFHOUR_TABLE";
pub const CLUSTER_NAME: &str = "HALFHOUR_CLUSTER";
pub const DRY_RUN: &str = "HALFHOUR_DRY_RUN";
/// Observe mode's name before it took the `HALFHOUR_` prefix: still read.
pub const LEGACY_DRY_RUN: &str = "DRY_RUN";
pub const LEASE_SECONDS: &str = "HALFHOUR_LEASE_SECONDS";
pub const IDEMPOTENCY_TTL_SECONDS: &str = "HALFHOUR_IDEMPOTENCY_TTL_SECONDS";
pub const NOTIFY_TOPIC_ARN: &str = "HALFHOUR_NOTIFY_TOPIC_ARN";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration variable {var} is missing")]
    Missing { var: &'static str },
    #[error("configuration variable {var}={value:?} is invalid: {reason}")]
    Invalid {
        var: &'static str,
        value: String,
        reason: String,
    },
}

/// Reads variables through a lookup function (`std::env::var` in Lambda, a map in tests).
pub struct Vars<F>(F);

impl<F: Fn(&str) -> Option<String>> Vars<F> {
    pub fn new(lookup: F) -> Self {
        Vars(lookup)
    }

    /// A set, non-blank value, trimmed.
    pub fn optional(&self, var: &'static str) -> Option<String> {
        (self.0)(var)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    pub fn required(&self, var: &'static str) -> Result<String, ConfigError> {
        self.optional(var).ok_or(ConfigError::Missing { var })
    }

    pub fn parse_or<T>(&self, var: &'static str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        match self.optional(var) {
            None => Ok(default),
            Some(value) => value.parse().map_err(|e: T::Err| ConfigError::Invalid {
                var,
                reason: e.to_string(),
                value,
            }),
        }
    }

    pub fn bool_or(&self, var: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.optional(var).map(|v| v.to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if v == "true" || v == "1" => Ok(true),
            Some(v) if v == "false" || v == "0" => Ok(false),
            Some(value) => Err(ConfigError::Invalid {
                var,
                value,
                reason: "expected true or false".into(),
            }),
        }
    }

    /// Seconds within `min..=max`, as a [`Duration`].
    pub fn seconds_or(
        &self,
        var: &'static str,
        default: u64,
        min: u64,
        max: u64,
    ) -> Result<Duration, ConfigError> {
        let secs: u64 = self.parse_or(var, default)?;
        if !(min..=max).contains(&secs) {
            return Err(ConfigError::Invalid {
                var,
                value: secs.to_string(),
                reason: format!("must be between {min} and {max} seconds"),
            });
        }
        Ok(Duration::from_secs(secs))
    }

    pub fn cluster(&self, var: &'static str) -> Result<ClusterName, ConfigError> {
        let value = self.required(var)?;
        ClusterName::new(&value).map_err(|reason| ConfigError::Invalid { var, value, reason })
    }
}

/// What every function needs: where the brain lives, which cluster it keeps, whether it may act.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommonConfig {
    pub table: String,
    pub cluster: ClusterName,
    pub dry_run: bool,
    /// How long a lease holds before another writer may take it over.
    pub lease: Duration,
    /// How long a COMPLETED idempotency record answers duplicates.
    pub idempotency_ttl: Duration,
    /// The SNS topic for operator-visible notifications; none: they are logged only.
    pub notify_topic_arn: Option<String>,
}

impl CommonConfig {
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let vars = Vars::new(lookup);
        Ok(CommonConfig {
            table: vars.required(TABLE_NAME)?,
            cluster: vars.cluster(CLUSTER_NAME)?,
            dry_run: dry_run(&vars)?,
            lease: vars.seconds_or(LEASE_SECONDS, 300, 10, 900)?,
            idempotency_ttl: vars.seconds_or(IDEMPOTENCY_TTL_SECONDS, 3600, 60, 86_400 * 7)?,
            notify_topic_arn: vars.optional(NOTIFY_TOPIC_ARN),
        })
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }
}

/// Observe mode, under its name or its old one (`DRY_RUN`); both set, they must agree.
fn dry_run<F: Fn(&str) -> Option<String>>(vars: &Vars<F>) -> Result<bool, ConfigError> {
    match (vars.optional(DRY_RUN), vars.optional(LEGACY_DRY_RUN)) {
        (None, Some(_)) => vars.bool_or(LEGACY_DRY_RUN, false),
        (Some(value), Some(_)) => {
            let (new, old) = (
                vars.bool_or(DRY_RUN, false)?,
                vars.bool_or(LEGACY_DRY_RUN, false)?,
            );
            if new != old {
                return Err(ConfigError::Invalid {
                    var: DRY_RUN,
                    value,
                    reason: format!("disagrees with {LEGACY_DRY_RUN}={old}; set one of them"),
                });
            }
            Ok(new)
        }
        _ => vars.bool_or(DRY_RUN, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn missing_table_name_is_named() {
        let err = CommonConfig::from_lookup(lookup(&[(CLUSTER_NAME, "prod")])).unwrap_err();
        assert_eq!(err, ConfigError::Missing { var: TABLE_NAME });
        assert_eq!(
            err.to_string(),
            "configuration variable HALFHOUR_TABLE is missing"
        );
    }

    #[test]
    fn blank_value_counts_as_missing() {
        let err = CommonConfig::from_lookup(lookup(&[(TABLE_NAME, "  "), (CLUSTER_NAME, "prod")]))
            .unwrap_err();
        assert_eq!(err, ConfigError::Missing { var: TABLE_NAME });
    }

    #[test]
    fn malformed_dry_run_is_named_with_its_value() {
        let err = CommonConfig::from_lookup(lookup(&[
            (TABLE_NAME, "t"),
            (CLUSTER_NAME, "prod"),
            (DRY_RUN, "maybe"),
        ]))
        .unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { var: DRY_RUN, .. }));
        assert!(err.to_string().contains("DRY_RUN=\"maybe\""));
    }

    #[test]
    fn observe_mode_is_read_under_its_name_and_its_old_one() {
        let dry = |pairs: &[(&str, &str)]| {
            let mut all = vec![(TABLE_NAME, "t"), (CLUSTER_NAME, "prod")];
            all.extend_from_slice(pairs);
            CommonConfig::from_lookup(lookup(&all)).map(|c| c.dry_run)
        };
        assert_eq!(dry(&[]), Ok(false));
        assert_eq!(dry(&[(DRY_RUN, "true")]), Ok(true));
        assert_eq!(
            dry(&[(LEGACY_DRY_RUN, "true")]),
            Ok(true),
            "the old name is accepted"
        );
        assert_eq!(
            dry(&[(DRY_RUN, "true"), (LEGACY_DRY_RUN, "true")]),
            Ok(true)
        );
        let err = dry(&[(DRY_RUN, "false"), (LEGACY_DRY_RUN, "true")]).unwrap_err();
        assert!(
            err.to_string().contains("HALFHOUR_DRY_RUN")
                && err.to_string().contains("DRY_RUN=true"),
            "{err}"
        );
    }

    #[test]
    fn lease_out_of_range_is_refused() {
        let err = CommonConfig::from_lookup(lookup(&[
            (TABLE_NAME, "t"),
            (CLUSTER_NAME, "prod"),
            (LEASE_SECONDS, "5"),
        ]))
        .unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Invalid {
                var: LEASE_SECONDS,
                ..
            }
        ));
    }

    #[test]
    fn non_numeric_lease_is_refused() {
        let err = CommonConfig::from_lookup(lookup(&[
            (TABLE_NAME, "t"),
            (CLUSTER_NAME, "prod"),
            (LEASE_SECONDS, "ten"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("HALFHOUR_LEASE_SECONDS=\"ten\""));
    }

    #[test]
    fn invalid_cluster_name_is_refused() {
        let err = CommonConfig::from_lookup(lookup(&[(TABLE_NAME, "t"), (CLUSTER_NAME, "a#b")]))
            .unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Invalid {
                var: CLUSTER_NAME,
                ..
            }
        ));
    }

    #[test]
    fn defaults_apply() {
        let config =
            CommonConfig::from_lookup(lookup(&[(TABLE_NAME, "t"), (CLUSTER_NAME, "prod")]))
                .unwrap();
        assert!(!config.dry_run);
        assert_eq!(config.lease, Duration::from_secs(300));
        assert_eq!(config.idempotency_ttl, Duration::from_secs(3600));
    }
}
