//! Instances as the lifecycle loop sees them: EC2 status, the application probe, and the
//! lifecycle action that holds them in a wait state.

use serde::Serialize;

/// EC2's status checks, summarised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum StatusChecks {
    Ok,
    Initializing,
    /// Impaired (or insufficient data after it was impaired): the instance is broken.
    Impaired,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct InstanceStatus {
    pub running: bool,
    pub checks: StatusChecks,
}

/// What the application answered on its health path, asked on the instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ProbeOutcome {
    Healthy,
    Failing(String),
    /// The probe has not finished yet.
    Pending,
    /// Systems Manager cannot reach the instance (yet): no answer about the application.
    Unreachable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum LifecycleTransition {
    Launching,
    Terminating,
}

impl LifecycleTransition {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "autoscaling:EC2_INSTANCE_LAUNCHING" => Some(LifecycleTransition::Launching),
            "autoscaling:EC2_INSTANCE_TERMINATING" => Some(LifecycleTransition::Terminating),
            _ => None,
        }
    }
}

/// One lifecycle action: which hook holds which instance of which group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LifecycleAction {
    pub group: String,
    pub hook: String,
    pub instance_id: String,
    /// Absent when the reconciler found the instance waiting without its event.
    pub token: Option<String>,
    pub transition: LifecycleTransition,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum LifecycleResult {
    Continue,
    Abandon,
}

impl LifecycleResult {
    pub fn as_str(self) -> &'static str {
        match self {
            LifecycleResult::Continue => "CONTINUE",
            LifecycleResult::Abandon => "ABANDON",
        }
    }
}

/// What the database loop checks of the cluster's RDS instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DbInfo {
    pub multi_az: bool,
    pub backup_retention_days: i32,
    pub status: String,
}
