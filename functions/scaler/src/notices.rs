//! What the scaler tells the operator, pure: built from the decision and the configuration.

use halfhour::domain::{AlarmTransition, Loop, Notice, format_utc};

use crate::config::ScalerConfig;
use crate::plan::{self, BoundReached, HoldReason, RefusedScaleIn, ScaleDecision};

/// Desired capacity was not what the scaler last set: another writer owns capacity too.
pub fn changed_elsewhere(
    last: u32,
    observed: u32,
    to: u32,
    alarm: &AlarmTransition,
    decision: &ScaleDecision,
    config: &ScalerConfig,
) -> Notice {
    let cluster = &config.common.cluster;
    Notice::new(
        Loop::Scaling,
        cluster,
        "changed-elsewhere",
        "capacity changed elsewhere",
        format!(
            "{cluster}'s group {} had desired capacity {observed}, not the {last} halfhour's scaler last set: something else changed it (a scaling policy, a scheduled action, an IaC tool, a person, or a gold-image bake adding an instance). The scaler set {to} on alarm {}.",
            config.asg_name, alarm.alarm_name
        ),
    )
    .decision(action_name(decision))
    .next_step("If another tool owns capacity, keep one of them (EnableScaling=false turns halfhour's off).")
    .resource(&config.asg_name)
}

/// What the operator hears when a change lands the group on one of its bounds.
pub fn at_bound(
    bound: BoundReached,
    alarm: &str,
    decision: &ScaleDecision,
    config: &ScalerConfig,
) -> Notice {
    let cluster = &config.common.cluster;
    let notice = match bound {
        BoundReached::Max(max) => Notice::new(
            Loop::Scaling,
            cluster,
            "at-max",
            format!("scaled out to its maximum ({max})"),
            format!(
                "Alarm {alarm} took {cluster}'s group {} to {max} instances, the most halfhour may run: load beyond what {max} instances carry is not absorbed.",
                config.asg_name
            ),
        )
        .next_step(format!("If the load is real, raise MaxSize (the stack's parameter; the group's own MaxSize too) above {max}."))
        .next_step("If it is not (a bot, a bad deploy), look at the load balancer's request count and the slowest pages."),
        BoundReached::Min(min) => Notice::new(
            Loop::Scaling,
            cluster,
            "at-min",
            format!("scaled in to its minimum ({min})"),
            format!(
                "Alarm {alarm} took {cluster}'s group {} back to {min} instances, the fewest halfhour keeps (one per Availability Zone at least).",
                config.asg_name
            ),
        ),
    };
    notice
        .decision(action_name(decision))
        .resource(&config.asg_name)
}

/// A scale-in the guards have refused for long: capacity stays above what the load needs.
pub fn refused_for_long(
    episode: &RefusedScaleIn,
    reason: HoldReason,
    alarm: &AlarmTransition,
    config: &ScalerConfig,
) -> Notice {
    let cluster = &config.common.cluster;
    Notice::new(
        Loop::Scaling,
        cluster,
        "scale-in-refused",
        "scale-in refused for long",
        format!(
            "Alarm {} has asked to scale {cluster}'s group {} in since {}, and halfhour keeps refusing ({reason:?}): the group runs more instances than the load needs until that ends.",
            alarm.alarm_name,
            config.asg_name,
            format_utc(episode.since)
        ),
    )
    .decision("hold")
    .next_step("Look at what holds it: `status` on the reconciler shows the raised flags (a bake, an instance refresh, a DB failover window) and instances waiting on their launch hook.")
    .resource(&config.asg_name)
}

pub fn action_name(decision: &ScaleDecision) -> &'static str {
    match decision {
        ScaleDecision::Set {
            direction: plan::Direction::Out,
            ..
        } => "scale_out",
        ScaleDecision::Set {
            direction: plan::Direction::In,
            ..
        } => "scale_in",
        ScaleDecision::Hold {
            reason: HoldReason::NotInAlarm,
        } => "ignore",
        ScaleDecision::Hold { .. } => "hold",
    }
}
