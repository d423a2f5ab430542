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

    fn config(extra: &[(&'static str, &'static str)]) -> Result<GoldImageConfig, ConfigError> {
        let mut vars: HashMap<&str, &str> = HashMap::from([
            ("HALFHOUR_TABLE", "state"),
            ("HALFHOUR_CLUSTER", "prod"),
            (ASG_NAME, "web"),
        ]);
        vars.extend(extra.iter().copied());
        let vars: &'static HashMap<&str, &str> = Box::leak(Box::new(vars));
        GoldImageConfig::from_lookup(|name| vars.get(name).map(|v| v.to_string()))
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
    fn bad_values_name_their_variable() {
        for (var, value) in [
            (KEEP_IMAGES, "0"),
            (KEEP_IMAGES, "many"),
            (MIN_SERVING, "0"),
            (REFRESH_MIN_HEALTHY_PERCENT, "120"),
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
