//! The gold-image loop's configuration.

use std::time::Duration;

use halfhour::config::{CommonConfig, ConfigError, Vars};

pub const ASG_NAME: &str = "HALFHOUR_ASG_NAME";
pub const DB_INSTANCE_ID: &str = "HALFHOUR_DB_INSTANCE_ID";
pub const BAKE_DB_SNAPSHOT: &str = "HALFHOUR_BAKE_DB_SNAPSHOT";
pub const KEEP_IMAGES: &str = "HALFHOUR_KEEP_IMAGES";
pub const MIN_SERVING: &str = "HALFHOUR_MIN_SERVING";
pub const REFRESH_MIN_HEALTHY_PERCENT: &str = "HALFHOUR_REFRESH_MIN_HEALTHY_PERCENT";
pub const INSTANCE_WARMUP_SECONDS: &str = "HALFHOUR_INSTANCE_WARMUP_SECONDS";
pub const BAKE_TIMEOUT_SECONDS: &str = "HALFHOUR_BAKE_TIMEOUT_SECONDS";
pub const REFRESH_HOLD_SECONDS: &str = "HALFHOUR_REFRESH_HOLD_SECONDS";
pub const CANARY_BAKE_SECONDS: &str = "HALFHOUR_CANARY_BAKE_SECONDS";
pub const REFRESH_ALARMS: &str = "HALFHOUR_REFRESH_ALARMS";
/// AWS watches at most 10 alarms during a refresh (API_AlarmSpecification).
const MAX_REFRESH_ALARMS: usize = 10;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoldImageConfig {
    pub common: CommonConfig,
    pub asg_name: String,
    /// The cluster's database; with `db_snapshot`, each image gets a paired DB snapshot.
    pub db_instance: Option<String>,
    pub db_snapshot: bool,
    /// How many halfhour-managed images retention keeps (images still in use are kept anyway).
    pub keep_images: usize,
    /// Serving instances that must remain while the reference instance is out of service.
    pub min_serving: u32,
    pub refresh_min_healthy_percent: u32,
    pub instance_warmup: Duration,
    /// A bake not finished by then fails and puts everything back.
    pub bake_timeout: Duration,
    /// How long the `refreshing` flag holds unless the reconciler sees the refresh end first.
    pub refresh_hold: Duration,
    /// How long the canary serves alone before the rest of the group is replaced (AWS's
    /// CheckpointDelay); None: no canary, one pass.
    pub canary_bake: Option<Duration>,
    /// The CloudWatch alarms AWS watches during a refresh; one in ALARM rolls it back.
    pub refresh_alarms: Vec<String>,
}

impl GoldImageConfig {
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String> + Copy,
    ) -> Result<Self, ConfigError> {
        let vars = Vars::new(lookup);
        let keep_images: usize = vars.parse_or(KEEP_IMAGES, 3)?;
        if !(1..=50).contains(&keep_images) {
            return Err(ConfigError::Invalid {
                var: KEEP_IMAGES,
                value: keep_images.to_string(),
                reason: "must be between 1 and 50".into(),
            });
        }
        let refresh_min_healthy_percent: u32 = vars.parse_or(REFRESH_MIN_HEALTHY_PERCENT, 90)?;
        if refresh_min_healthy_percent > 100 {
            return Err(ConfigError::Invalid {
                var: REFRESH_MIN_HEALTHY_PERCENT,
                value: refresh_min_healthy_percent.to_string(),
                reason: "must be between 0 and 100".into(),
            });
        }
        let min_serving: u32 = vars.parse_or(MIN_SERVING, 2)?;
        if min_serving == 0 {
            return Err(ConfigError::Invalid {
                var: MIN_SERVING,
                value: "0".into(),
                reason: "at least one instance must keep serving".into(),
            });
        }
        let db_instance = vars.optional(DB_INSTANCE_ID);
        let refresh_alarms: Vec<String> = vars
            .optional(REFRESH_ALARMS)
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(str::to_owned)
            .collect();
        if refresh_alarms.len() > MAX_REFRESH_ALARMS {
            return Err(ConfigError::Invalid {
                var: REFRESH_ALARMS,
                value: refresh_alarms.join(","),
                reason: format!("AWS watches at most {MAX_REFRESH_ALARMS} alarms during a refresh"),
            });
        }
        let canary_bake = vars.seconds_or(CANARY_BAKE_SECONDS, 600, 0, 172_800)?;
        Ok(GoldImageConfig {
            common: CommonConfig::from_lookup(lookup)?,
            asg_name: vars.required(ASG_NAME)?,
            db_snapshot: vars.bool_or(BAKE_DB_SNAPSHOT, db_instance.is_some())?
                && db_instance.is_some(),
            db_instance,
            keep_images,
            min_serving,
            refresh_min_healthy_percent,
            instance_warmup: vars.seconds_or(INSTANCE_WARMUP_SECONDS, 300, 0, 3600)?,
            bake_timeout: vars.seconds_or(BAKE_TIMEOUT_SECONDS, 7200, 600, 86_400)?,
            refresh_hold: vars.seconds_or(REFRESH_HOLD_SECONDS, 3600, 300, 86_400)?,
            canary_bake: (!canary_bake.is_zero()).then_some(canary_bake),
            refresh_alarms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &[(&'static str, &'static str)]) -> Result<GoldImageConfig, ConfigError> {
        let base = [
            ("HALFHOUR_TABLE", "state"),
            ("HALFHOUR_CLUSTER", "prod"),
            (ASG_NAME, "web"),
        ];
        GoldImageConfig::from_lookup(halfhour::testing::lookup_over(&base, extra))
    }

    #[test]
    fn defaults_and_db_pairing() {
        let c = config(&[]).unwrap();
        assert_eq!((c.keep_images, c.min_serving, c.db_snapshot), (3, 2, false));
        let c = config(&[(DB_INSTANCE_ID, "prod-db")]).unwrap();
        assert!(
            c.db_snapshot,
            "a DB snapshot is on by default when the cluster has a DB"
        );
        let c = config(&[(DB_INSTANCE_ID, "prod-db"), (BAKE_DB_SNAPSHOT, "false")]).unwrap();
        assert!(!c.db_snapshot);
    }

    #[test]
    fn the_canary_is_on_by_default_and_zero_turns_it_off() {
        let c = config(&[]).unwrap();
        assert_eq!(c.canary_bake, Some(Duration::from_secs(600)));
        assert!(c.refresh_alarms.is_empty());
        let c = config(&[
            (CANARY_BAKE_SECONDS, "0"),
            (REFRESH_ALARMS, " a-5xx, ,b-unhealthy "),
        ])
        .unwrap();
        assert_eq!(c.canary_bake, None);
        assert_eq!(c.refresh_alarms, ["a-5xx", "b-unhealthy"]);
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (var, value) in [
            (KEEP_IMAGES, "0"),
            (KEEP_IMAGES, "many"),
            (MIN_SERVING, "0"),
            (REFRESH_MIN_HEALTHY_PERCENT, "120"),
            (CANARY_BAKE_SECONDS, "172801"),
            (REFRESH_ALARMS, "1,2,3,4,5,6,7,8,9,10,11"),
        ] {
            let err = config(&[(var, value)]).unwrap_err();
            assert!(err.to_string().contains(var), "{var}={value}: {err}");
        }
        assert_eq!(
            config(&[(ASG_NAME, "")]).unwrap_err(),
            ConfigError::Missing { var: ASG_NAME }
        );
    }
}
