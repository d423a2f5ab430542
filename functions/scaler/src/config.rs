//! The scaler's configuration: which alarms it answers and how far each one steps.

use std::collections::BTreeMap;
use std::time::Duration;

use halfhour::config::{CommonConfig, ConfigError, Vars};
use halfhour::domain::Bounds;

pub const ASG_NAME: &str = "HALFHOUR_ASG_NAME";
pub const MIN_SIZE: &str = "HALFHOUR_MIN_SIZE";
pub const MAX_SIZE: &str = "HALFHOUR_MAX_SIZE";
/// `alarm-name=+2,other-alarm=-1`: each alarm this deployment's cluster scales on, with its step.
pub const SCALING_ALARMS: &str = "HALFHOUR_SCALING_ALARMS";
pub const SCALE_OUT_COOLDOWN: &str = "HALFHOUR_SCALE_OUT_COOLDOWN_SECONDS";
pub const SCALE_IN_COOLDOWN: &str = "HALFHOUR_SCALE_IN_COOLDOWN_SECONDS";
/// How long a scale-in alarm may stay refused (a bake, a refresh, a DB failover, launches
/// waiting) before the operator is told.
pub const REFUSED_SCALE_IN_NOTICE: &str = "HALFHOUR_REFUSED_SCALE_IN_NOTICE_SECONDS";

/// The largest step one alarm may take, so a typo cannot double the fleet at once.
const MAX_STEP: i32 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cooldowns {
    /// After a scale-out, no further scale-out for this long.
    pub scale_out: Duration,
    /// After any scaling, no scale-in for this long (longer: adding is cheap, removing hurts).
    pub scale_in: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScalerConfig {
    pub common: CommonConfig,
    pub asg_name: String,
    pub bounds: Bounds,
    pub steps: BTreeMap<String, i32>,
    pub cooldowns: Cooldowns,
    pub refused_scale_in_notice: Duration,
}

impl ScalerConfig {
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String> + Copy,
    ) -> Result<Self, ConfigError> {
        let vars = Vars::new(lookup);
        let min = vars.parse_or(MIN_SIZE, 2u32)?;
        let max = vars.parse_or(MAX_SIZE, 10u32)?;
        let bounds = Bounds::new(min, max)
            .ok()
            .filter(|b| b.min >= 1)
            .ok_or_else(|| ConfigError::Invalid {
                var: MAX_SIZE,
                value: format!("{min}..{max}"),
                reason: "bounds must satisfy 1 <= min <= max".into(),
            })?;
        Ok(ScalerConfig {
            common: CommonConfig::from_lookup(lookup)?,
            asg_name: vars.required(ASG_NAME)?,
            bounds,
            steps: parse_steps(&vars.required(SCALING_ALARMS)?)?,
            cooldowns: Cooldowns {
                scale_out: vars.seconds_or(SCALE_OUT_COOLDOWN, 120, 0, 3600)?,
                scale_in: vars.seconds_or(SCALE_IN_COOLDOWN, 600, 0, 7200)?,
            },
            refused_scale_in_notice: vars.seconds_or(REFUSED_SCALE_IN_NOTICE, 3600, 60, 86_400)?,
        })
    }

    pub fn step_for(&self, alarm_name: &str) -> Option<i32> {
        self.steps.get(alarm_name).copied()
    }
}

fn parse_steps(value: &str) -> Result<BTreeMap<String, i32>, ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid {
        var: SCALING_ALARMS,
        value: value.to_owned(),
        reason,
    };
    let mut steps = BTreeMap::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (name, step) = entry
            .split_once('=')
            .ok_or_else(|| invalid(format!("`{entry}` is not alarm-name=step")))?;
        let step: i32 = step
            .trim()
            .trim_start_matches('+')
            .parse()
            .map_err(|_| invalid(format!("step of `{name}` is not a whole number")))?;
        if step == 0 || step.abs() > MAX_STEP {
            return Err(invalid(format!(
                "step of `{name}` must be between -{MAX_STEP} and +{MAX_STEP}, not 0"
            )));
        }
        if steps.insert(name.trim().to_owned(), step).is_some() {
            return Err(invalid(format!("alarm `{name}` is listed twice")));
        }
    }
    if steps.is_empty() {
        return Err(invalid("no alarms listed".into()));
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &[(&'static str, &'static str)]) -> Result<ScalerConfig, ConfigError> {
        let base = [
            ("HALFHOUR_TABLE", "state"),
            ("HALFHOUR_CLUSTER", "prod"),
            (ASG_NAME, "web"),
            (SCALING_ALARMS, "cpu-high=+2, cpu-low=-1"),
        ];
        ScalerConfig::from_lookup(halfhour::testing::lookup_over(&base, extra))
    }

    #[test]
    fn steps_and_defaults_parse() {
        let c = config(&[]).unwrap();
        assert_eq!(c.step_for("cpu-high"), Some(2));
        assert_eq!(c.step_for("cpu-low"), Some(-1));
        assert_eq!(c.bounds, Bounds::new(2, 10).unwrap());
        assert_eq!(c.cooldowns.scale_in, Duration::from_secs(600));
    }

    #[test]
    fn malformed_steps_name_the_variable() {
        for bad in [
            "cpu-high",
            "cpu-high=two",
            "cpu-high=0",
            "cpu-high=+9",
            "a=1,a=2",
            " , ",
        ] {
            let err = config(&[(SCALING_ALARMS, bad)]).unwrap_err();
            assert!(
                matches!(
                    err,
                    ConfigError::Invalid {
                        var: SCALING_ALARMS,
                        ..
                    }
                ),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn missing_group_and_inverted_bounds_are_refused() {
        let err = config(&[(ASG_NAME, "")]).unwrap_err();
        assert_eq!(err, ConfigError::Missing { var: ASG_NAME });
        assert!(config(&[(MIN_SIZE, "5"), (MAX_SIZE, "3")]).is_err());
        assert!(config(&[(MIN_SIZE, "0")]).is_err());
    }
}
