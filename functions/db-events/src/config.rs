//! The database loop's configuration: the cluster's DB and the window's bounds.

use std::time::Duration;

use halfhour::config::{CommonConfig, ConfigError, Vars};

pub const DB_INSTANCE_ID: &str = "HALFHOUR_DB_INSTANCE_ID";
pub const WINDOW_MAX_SECONDS: &str = "HALFHOUR_DB_WINDOW_MAX_SECONDS";
pub const CLOSE_GRACE_SECONDS: &str = "HALFHOUR_DB_CLOSE_GRACE_SECONDS";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbEventsConfig {
    pub common: CommonConfig,
    pub db_instance: String,
    /// The longest a failover window stays open, even if the completion event is lost.
    pub window_max: Duration,
    /// How long the window stays open after the failover completed (DNS settling, reconnects).
    pub close_grace: Duration,
}

impl DbEventsConfig {
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String> + Copy,
    ) -> Result<Self, ConfigError> {
        let vars = Vars::new(lookup);
        Ok(DbEventsConfig {
            common: CommonConfig::from_lookup(lookup)?,
            db_instance: vars.required(DB_INSTANCE_ID)?,
            window_max: vars.seconds_or(WINDOW_MAX_SECONDS, 600, 60, 3600)?,
            close_grace: vars.seconds_or(CLOSE_GRACE_SECONDS, 60, 0, 600)?,
        })
    }
}
