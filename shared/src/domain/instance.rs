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
    pub group: super::GroupName,
    pub hook: String,
    pub instance_id: super::InstanceId,
    /// Absent when the reconciler found the instance waiting without its event.
    pub token: Option<String>,
    pub transition: LifecycleTransition,
    /// Into or out of the group's warm pool, where the instance is not a member of the group.
    pub warm_pool: WarmPoolMove,
}

/// A lifecycle action's place in a warm pool's life: the event's `Origin` and `Destination`
/// (<https://docs.aws.amazon.com/autoscaling/ec2/userguide/warm-pools-eventbridge-events.html>).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, Default)]
pub enum WarmPoolMove {
    /// Not a warm-pool move (Origin and Destination are EC2 and the group, or absent).
    #[default]
    None,
    /// Into the pool (`Warmed:Pending:Wait`, or scale-in returning an instance to the pool):
    /// not meant to serve there.
    IntoPool,
    /// Out of the pool to termination.
    OutOfPool,
}

impl WarmPoolMove {
    /// From the event's Origin and Destination (`EC2`, `AutoScalingGroup`, `WarmPool`).
    pub fn parse(origin: Option<&str>, destination: Option<&str>) -> Result<Self, String> {
        for place in [origin, destination].into_iter().flatten() {
            if !matches!(place, "EC2" | "AutoScalingGroup" | "WarmPool") {
                return Err(format!("unknown lifecycle Origin/Destination `{place}`"));
            }
        }
        Ok(match (origin, destination) {
            (_, Some("WarmPool")) => WarmPoolMove::IntoPool,
            (Some("WarmPool"), Some("EC2")) => WarmPoolMove::OutOfPool,
            _ => WarmPoolMove::None,
        })
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The four combinations AWS documents for groups with a warm pool, and none without one.
    #[test]
    fn warm_pool_moves_follow_origin_and_destination() {
        let moves = [
            (Some("EC2"), Some("WarmPool"), WarmPoolMove::IntoPool),
            (
                Some("WarmPool"),
                Some("AutoScalingGroup"),
                WarmPoolMove::None,
            ),
            (Some("EC2"), Some("AutoScalingGroup"), WarmPoolMove::None),
            (
                Some("AutoScalingGroup"),
                Some("WarmPool"),
                WarmPoolMove::IntoPool,
            ),
            (Some("WarmPool"), Some("EC2"), WarmPoolMove::OutOfPool),
            (None, None, WarmPoolMove::None),
        ];
        for (origin, destination, expected) in moves {
            assert_eq!(WarmPoolMove::parse(origin, destination), Ok(expected));
        }
        assert!(WarmPoolMove::parse(Some("Moon"), None).is_err());
    }
}
