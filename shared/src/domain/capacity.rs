//! Capacity bounds and the shape of an Auto Scaling group as the loops see it.

use std::fmt;

/// Inclusive bounds on a group's desired capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Bounds {
    pub min: u32,
    pub max: u32,
}

impl Bounds {
    pub fn new(min: u32, max: u32) -> Result<Self, String> {
        if min > max {
            return Err(format!("min {min} is above max {max}"));
        }
        Ok(Bounds { min, max })
    }

    /// The tighter of two bounds (halfhour's own, and the group's); empty overlap keeps `self.min`.
    pub fn within(self, other: Bounds) -> Bounds {
        let min = self.min.max(other.min);
        Bounds {
            min,
            max: self.max.min(other.max).max(min),
        }
    }

    pub fn clamp(self, value: i64) -> u32 {
        value.clamp(i64::from(self.min), i64::from(self.max)) as u32
    }

    pub fn contains(self, value: u32) -> bool {
        (self.min..=self.max).contains(&value)
    }
}

/// Something other than halfhour that writes a group's desired capacity: a scaling policy
/// (target tracking, step, simple, predictive) or a scheduled action.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct CapacityWriter {
    /// `TargetTrackingScaling`, `StepScaling`, `SimpleScaling`, `PredictiveScaling`, or
    /// `ScheduledAction`.
    pub kind: String,
    pub name: String,
}

impl fmt::Display for CapacityWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} `{}`", self.kind, self.name)
    }
}

impl fmt::Display for Bounds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.min, self.max)
    }
}

/// An Auto Scaling instance's lifecycle state, as far as the loops branch on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LifecycleState {
    Pending,
    PendingWait,
    InService,
    /// Leaving the load balancer (deregistration and draining) on its way to Standby.
    EnteringStandby,
    Standby,
    TerminatingWait,
    Terminating,
    Other(String),
}

impl LifecycleState {
    pub fn parse(s: &str) -> Self {
        match s {
            "Pending" | "Pending:Proceed" => LifecycleState::Pending,
            "Pending:Wait" => LifecycleState::PendingWait,
            "InService" => LifecycleState::InService,
            "EnteringStandby" => LifecycleState::EnteringStandby,
            "Standby" => LifecycleState::Standby,
            "Terminating:Wait" => LifecycleState::TerminatingWait,
            "Terminating" | "Terminating:Proceed" | "Terminated" => LifecycleState::Terminating,
            other => LifecycleState::Other(other.to_owned()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInstance {
    pub id: super::InstanceId,
    pub state: LifecycleState,
    pub healthy: bool,
    pub protected_from_scale_in: bool,
}

/// One observation of an Auto Scaling group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSnapshot {
    pub name: super::GroupName,
    pub bounds: Bounds,
    pub desired: u32,
    pub instances: Vec<GroupInstance>,
    /// What the group launches: its launch template (directly or in a mixed-instances policy).
    pub launch_template: Option<super::GroupTemplate>,
    pub target_group_arns: Vec<String>,
    /// The group has a warm pool (AWS names its `WarmPoolConfiguration` in the group).
    pub warm_pool: bool,
}

impl GroupSnapshot {
    pub fn count_in(&self, state: &LifecycleState) -> usize {
        self.instances.iter().filter(|i| i.state == *state).count()
    }

    /// Instances InService and healthy: the ones the load balancer can send traffic to.
    pub fn serving(&self) -> usize {
        self.instances
            .iter()
            .filter(|i| i.state == LifecycleState::InService && i.healthy)
            .count()
    }

    pub fn instance(&self, id: &str) -> Option<&GroupInstance> {
        self.instances.iter().find(|i| i.id == *id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn within_takes_the_tighter_bounds() {
        let ours = Bounds::new(2, 10).unwrap();
        assert_eq!(
            ours.within(Bounds::new(1, 8).unwrap()),
            Bounds::new(2, 8).unwrap()
        );
        assert_eq!(
            ours.within(Bounds::new(3, 20).unwrap()),
            Bounds::new(3, 10).unwrap()
        );
    }

    #[test]
    fn clamp_stays_inside() {
        let b = Bounds::new(2, 10).unwrap();
        assert_eq!((b.clamp(-5), b.clamp(5), b.clamp(99)), (2, 5, 10));
    }

    #[test]
    fn lifecycle_states_parse() {
        assert_eq!(
            LifecycleState::parse("Pending:Wait"),
            LifecycleState::PendingWait
        );
        assert_eq!(
            LifecycleState::parse("Warmed:Pending"),
            LifecycleState::Other("Warmed:Pending".into())
        );
        assert_eq!(
            LifecycleState::parse("EnteringStandby"),
            LifecycleState::EnteringStandby
        );
    }
}
