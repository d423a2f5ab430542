//! Value types and decision rules shared by the loops. Pure: no async, no SDK types, no clock.

pub mod alarm;
pub mod capacity;
pub mod command;
pub mod custom_resource;
pub mod dns;
pub mod flags;
pub mod idempotency;
pub mod ids;
pub mod image;
pub mod instance;
pub mod lease;
pub mod loops;
pub mod notice;
mod time;

pub use alarm::{AlarmState, AlarmStatus, AlarmTransition};
pub use capacity::{Bounds, CapacityWriter, GroupInstance, GroupSnapshot, LifecycleState};
pub use command::{Command, CommandError};
pub use flags::{Flag, FlagHold, HandsOff, ModeFlags, PAUSE_OWNER};
pub use idempotency::{IdempotencyRecord, IdempotencyStatus, PriorAttempt};
pub use ids::{GroupName, ImageId, InstanceId, LaunchTemplateId};
pub use image::{
    Canary, GroupTemplate, ImageInfo, ImageRequest, ImageState, LaunchTemplateVersion,
    RefreshRequest, RefreshStatus, RefreshView, TemplateVersion,
};
pub use instance::{
    DbInfo, InstanceStatus, LifecycleAction, LifecycleResult, LifecycleTransition, ProbeOutcome,
    StatusChecks, WarmPoolMove,
};
pub use lease::Lease;
pub use loops::Loop;
pub use notice::{Delivery, Notice, NoticeLedger};
pub use time::{Millis, format_utc, parse_timestamp};

use std::fmt;

/// What S3 says of a bucket halfhour wants to serve the static page from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum BucketFound {
    Missing,
    /// Ours to see, with its `halfhour:cluster` tag if it has one.
    Exists {
        cluster_tag: Option<String>,
    },
    /// S3 refused to say (403): another account owns the name.
    OwnedElsewhere,
}

/// The tag that marks a resource as halfhour's for one cluster.
pub const CLUSTER_TAG: &str = "halfhour:cluster";

/// The name of a cluster halfhour keeps; the partition of everything in the state table.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClusterName(String);

impl ClusterName {
    /// 1..=64 characters of letters, digits, `-`, `_` and `.` (it is part of table keys).
    pub fn new(name: &str) -> Result<Self, String> {
        let valid_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
        if name.is_empty() || name.len() > 64 {
            return Err("must be 1 to 64 characters".into());
        }
        if !name.chars().all(valid_char) {
            return Err("may contain only letters, digits, '-', '_' and '.'".into());
        }
        Ok(ClusterName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClusterName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_names_are_key_safe() {
        assert!(ClusterName::new("prod-web_1.eu").is_ok());
        assert!(ClusterName::new("").is_err());
        assert!(ClusterName::new("a#b").is_err());
        assert!(ClusterName::new(&"x".repeat(65)).is_err());
    }
}
