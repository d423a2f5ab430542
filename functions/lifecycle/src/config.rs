//! The lifecycle loop's configuration.

use std::time::Duration;

use halfhour::config::{CommonConfig, ConfigError, Vars};

pub const ASG_NAME: &str = "HALFHOUR_ASG_NAME";
pub const LAUNCH_HOOK: &str = "HALFHOUR_LAUNCH_HOOK";
pub const TERMINATE_HOOK: &str = "HALFHOUR_TERMINATE_HOOK";
pub const HEALTH_PATH: &str = "HALFHOUR_HEALTH_PATH";
pub const READINESS_BUDGET_SECONDS: &str = "HALFHOUR_READINESS_BUDGET_SECONDS";
pub const DRAIN_MAX_SECONDS: &str = "HALFHOUR_DRAIN_MAX_SECONDS";
pub const BREAKER_ABANDONS: &str = "HALFHOUR_BREAKER_ABANDONS";
pub const BREAKER_WINDOW_SECONDS: &str = "HALFHOUR_BREAKER_WINDOW_SECONDS";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleConfig {
    pub common: CommonConfig,
    pub asg_name: String,
    pub launch_hook: String,
    pub terminate_hook: String,
    /// Asked on the instance: `curl -fsS http://localhost<path>`.
    pub health_path: String,
    /// How long a launching instance may take to become healthy before it is abandoned.
    pub readiness_budget: Duration,
    /// The longest a terminating instance waits for its connections to drain.
    pub drain_max: Duration,
    /// This many abandons within the window mean the image is broken, not the instances.
    pub breaker_abandons: usize,
    pub breaker_window: Duration,
}

impl LifecycleConfig {
    pub fn breaker(&self) -> crate::plan::Breaker {
        crate::plan::Breaker {
            window: self.breaker_window,
            abandons: self.breaker_abandons,
        }
    }

    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String> + Copy,
    ) -> Result<Self, ConfigError> {
        let vars = Vars::new(lookup);
        let health_path = vars
            .optional(HEALTH_PATH)
            .unwrap_or_else(|| "/health".into());
        let path_ok = health_path.starts_with('/')
            && health_path
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "/-._~%?=&".contains(c));
        if !path_ok {
            // The path ends up in a shell command on the instance: refuse anything else.
            return Err(ConfigError::Invalid {
                var: HEALTH_PATH,
                value: health_path,
                reason: "must start with / and use only URL path characters".into(),
            });
        }
        let breaker_abandons: usize = vars.parse_or(BREAKER_ABANDONS, 3)?;
        if !(1..=20).contains(&breaker_abandons) {
            return Err(ConfigError::Invalid {
                var: BREAKER_ABANDONS,
                value: breaker_abandons.to_string(),
                reason: "must be between 1 and 20".into(),
            });
        }
        Ok(LifecycleConfig {
            common: CommonConfig::from_lookup(lookup)?,
            asg_name: vars.required(ASG_NAME)?,
            launch_hook: vars
                .optional(LAUNCH_HOOK)
                .unwrap_or_else(|| "halfhour-launch".into()),
            terminate_hook: vars
                .optional(TERMINATE_HOOK)
                .unwrap_or_else(|| "halfhour-terminate".into()),
            health_path,
            readiness_budget: vars.seconds_or(READINESS_BUDGET_SECONDS, 600, 30, 7200)?,
            drain_max: vars.seconds_or(DRAIN_MAX_SECONDS, 300, 0, 7200)?,
            breaker_abandons,
            breaker_window: vars.seconds_or(BREAKER_WINDOW_SECONDS, 1800, 60, 86_400)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &[(&'static str, &'static str)]) -> Result<LifecycleConfig, ConfigError> {
        let base = [
            ("HALFHOUR_TABLE", "t"),
            ("HALFHOUR_CLUSTER", "prod"),
            (ASG_NAME, "web"),
        ];
        LifecycleConfig::from_lookup(halfhour::testing::lookup_over(&base, extra))
    }

    #[test]
    fn defaults() {
        let c = config(&[]).unwrap();
        assert_eq!((c.health_path.as_str(), c.breaker_abandons), ("/health", 3));
        assert_eq!(c.readiness_budget, Duration::from_secs(600));
    }

    #[test]
    fn a_health_path_that_could_inject_shell_is_refused() {
        for bad in ["health", "/health; rm -rf /", "/$(reboot)", "/a b"] {
            let err = config(&[(HEALTH_PATH, bad)]).unwrap_err();
            assert!(
                matches!(
                    err,
                    ConfigError::Invalid {
                        var: HEALTH_PATH,
                        ..
                    }
                ),
                "{bad}"
            );
        }
    }
}
