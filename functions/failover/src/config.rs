//! The failover loop's configuration.

use halfhour::config::{CommonConfig, ConfigError, Vars};

use crate::plan::Policy;

pub const HOSTED_ZONE_ID: &str = "HALFHOUR_HOSTED_ZONE_ID";
pub const RECORD_NAME: &str = "HALFHOUR_RECORD_NAME";
pub const SITE_HEALTH_CHECK_ID: &str = "HALFHOUR_SITE_HEALTH_CHECK_ID";
pub const GATE_HEALTH_CHECK_ID: &str = "HALFHOUR_GATE_HEALTH_CHECK_ID";
pub const STATIC_BUCKET: &str = "HALFHOUR_STATIC_BUCKET";
pub const SITE_NAME: &str = "HALFHOUR_SITE_NAME";
pub const HOLD_DOWN_SECONDS: &str = "HALFHOUR_HOLD_DOWN_SECONDS";
pub const HOLD_DOWN_MAX_SECONDS: &str = "HALFHOUR_HOLD_DOWN_MAX_SECONDS";
pub const FLIP_WINDOW_SECONDS: &str = "HALFHOUR_FLIP_WINDOW_SECONDS";
pub const FLIP_BUDGET: &str = "HALFHOUR_FLIP_BUDGET";
pub const DB_GRACE_SECONDS: &str = "HALFHOUR_DB_GRACE_SECONDS";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailoverConfig {
    pub common: CommonConfig,
    pub hosted_zone_id: String,
    pub record_name: String,
    /// The real site check (the gate's only child): halfhour reads health here, never the gate.
    pub site_health_check_id: String,
    /// The CALCULATED check on the PRIMARY record; its HealthThreshold is how DNS is held.
    pub gate_health_check_id: String,
    /// The S3 website bucket; S3 website hosting requires it to be named like the record.
    pub static_bucket: String,
    pub site_name: String,
    pub policy: Policy,
}

impl FailoverConfig {
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String> + Copy,
    ) -> Result<Self, ConfigError> {
        let vars = Vars::new(lookup);
        let record_name = vars.required(RECORD_NAME)?.trim_end_matches('.').to_owned();
        let static_bucket = vars
            .optional(STATIC_BUCKET)
            .unwrap_or_else(|| record_name.clone());
        if static_bucket != record_name {
            return Err(ConfigError::Invalid {
                var: STATIC_BUCKET,
                value: static_bucket,
                reason: format!(
                    "an S3 website bucket behind a Route53 alias must be named like the record ({record_name})"
                ),
            });
        }
        let flip_budget: usize = vars.parse_or(FLIP_BUDGET, 4)?;
        if !(2..=20).contains(&flip_budget) {
            return Err(ConfigError::Invalid {
                var: FLIP_BUDGET,
                value: flip_budget.to_string(),
                reason: "must be between 2 and 20 flips per window".into(),
            });
        }
        let hold_down = vars.seconds_or(HOLD_DOWN_SECONDS, 300, 10, 3600)?;
        let hold_down_max = vars.seconds_or(HOLD_DOWN_MAX_SECONDS, 3600, 10, 86_400)?;
        if hold_down_max < hold_down {
            return Err(ConfigError::Invalid {
                var: HOLD_DOWN_MAX_SECONDS,
                value: hold_down_max.as_secs().to_string(),
                reason: format!(
                    "must be at least {HOLD_DOWN_SECONDS} ({}s)",
                    hold_down.as_secs()
                ),
            });
        }
        Ok(FailoverConfig {
            common: CommonConfig::from_lookup(lookup)?,
            hosted_zone_id: vars.required(HOSTED_ZONE_ID)?,
            site_health_check_id: vars.required(SITE_HEALTH_CHECK_ID)?,
            gate_health_check_id: vars.required(GATE_HEALTH_CHECK_ID)?,
            site_name: vars
                .optional(SITE_NAME)
                .unwrap_or_else(|| record_name.clone()),
            static_bucket,
            record_name,
            policy: Policy {
                hold_down,
                hold_down_max,
                flip_window: vars.seconds_or(FLIP_WINDOW_SECONDS, 3600, 60, 86_400)?,
                flip_budget,
                db_grace: vars.seconds_or(DB_GRACE_SECONDS, 180, 0, 1800)?,
            },
        })
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::time::Duration;

    fn config(extra: &[(&'static str, &'static str)]) -> Result<FailoverConfig, ConfigError> {
        let mut vars: HashMap<&str, &str> = HashMap::from([
            ("HALFHOUR_TABLE", "t"),
            ("HALFHOUR_CLUSTER", "prod"),
            (HOSTED_ZONE_ID, "Z1"),
            (RECORD_NAME, "www.example.com."),
            (SITE_HEALTH_CHECK_ID, "site"),
            (GATE_HEALTH_CHECK_ID, "gate"),
        ]);
        vars.extend(extra.iter().copied());
        let vars: &'static HashMap<&str, &str> = Box::leak(Box::new(vars));
        FailoverConfig::from_lookup(|name| vars.get(name).map(|v| v.to_string()))
    }

    #[test]
    fn defaults_do_not_flap() {
        let c = config(&[]).unwrap();
        assert_eq!(c.static_bucket, "www.example.com");
        assert_eq!(c.policy.hold_down, Duration::from_secs(300));
        assert_eq!(c.policy.flip_budget, 4);
    }

    #[test]
    fn a_bucket_not_named_like_the_record_is_refused() {
        assert!(matches!(
            config(&[(STATIC_BUCKET, "other")]).unwrap_err(),
            ConfigError::Invalid {
                var: STATIC_BUCKET,
                ..
            }
        ));
        assert!(matches!(
            config(&[(FLIP_BUDGET, "1")]).unwrap_err(),
            ConfigError::Invalid {
                var: FLIP_BUDGET,
                ..
            }
        ));
        assert_eq!(
            config(&[(GATE_HEALTH_CHECK_ID, "")]).unwrap_err(),
            ConfigError::Missing {
                var: GATE_HEALTH_CHECK_ID
            }
        );
    }
}
