//! Carrying out the scaler's decision: the state write that records the intent, the desired
//! capacity, the decision record and the notices that go with the change.

use halfhour::Error;
use halfhour::domain::{AlarmTransition, Loop, Millis, Notice};
use halfhour::invocation::Invocation;
use halfhour::ports::notify_best_effort;
use halfhour::state::{remember_decision, write_json};
use serde_json::json;

use crate::plan::{self, BoundReached, HoldReason, ScaleDecision, bound_reached, track_refusal};
use crate::{Deps, STATE_DOC, ScaleDecided, ScaleOutcome, ScalerState};

pub(crate) async fn apply(
    decided: ScaleDecided,
    alarm: &AlarmTransition,
    invocation: &Invocation,
    deps: &Deps,
) -> Result<ScaleOutcome, Error> {
    let config = &deps.config;
    let cluster = &config.common.cluster;
    let ScaleDecided {
        decision,
        act,
        reapply,
        desired: observed_desired,
        state,
        version,
        event_key,
        changed_elsewhere,
        bounds,
        record,
    } = decided;
    record.emit();
    if act && matches!(decision, ScaleDecision::Hold { .. }) {
        track_refused_scale_in(&state, version, &decision, alarm, invocation.now, deps).await?;
    }
    let mut desired = Some(observed_desired);
    if let (ScaleDecision::Set { to, direction, .. }, true) = (decision, act) {
        if !reapply {
            let mut next = state.clone();
            match direction {
                plan::Direction::Out => next.last_scale_out = Some(invocation.now),
                plan::Direction::In => {
                    next.last_scale_in = Some(invocation.now);
                    next.refused_in = None; // the refusal is over
                }
            }
            next.last_event = Some(event_key);
            next.last_target = Some(to);
            // Record the intent first: a crash after it re-applies the same absolute target.
            if !write_json(deps.store.as_ref(), cluster, STATE_DOC, &next, version).await? {
                return Err(Error::Conflict(format!(
                    "scaler state of {cluster} changed underneath"
                )));
            }
        }
        if to != observed_desired {
            deps.group
                .set_desired_capacity(&config.asg_name, to)
                .await?;
        }
        remember_decision(deps.store.as_ref(), &record, invocation.now).await;
        let elsewhere = changed_elsewhere.map(|last| {
            Notice::new(
                Loop::Scaling,
                cluster,
                "changed-elsewhere",
                "capacity changed elsewhere",
                format!(
                    "{cluster}'s group {} had desired capacity {}, not the {last} halfhour's scaler last set: something else changed it (a scaling policy, a scheduled action, an IaC tool, a person, or a gold-image bake adding an instance). The scaler set {to} on alarm {}.",
                    config.asg_name, observed_desired, alarm.alarm_name
                ),
            )
            .decision(action_name(&decision))
            .next_step("If another tool owns capacity, keep one of them (EnableScaling=false turns halfhour's off).")
            .resource(&config.asg_name)
        });
        let at_bound = bound_reached(&decision, bounds)
            .map(|bound| bound_notice(bound, &alarm.alarm_name, &decision, deps));
        for notice in elsewhere.into_iter().chain(at_bound) {
            notify_best_effort(
                deps.notifier.as_ref(),
                deps.store.as_ref(),
                notice,
                invocation.now,
            )
            .await;
        }
        desired = Some(to);
    }
    Ok(ScaleOutcome {
        alarm: alarm.alarm_name.clone(),
        decision: json!(decision),
        desired,
        dry_run: config.common.dry_run,
    })
}

/// What the operator hears when a change lands the group on one of its bounds.
fn bound_notice(bound: BoundReached, alarm: &str, decision: &ScaleDecision, deps: &Deps) -> Notice {
    let config = &deps.config;
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

/// Follow a scale-in the guards keep refusing (on a hold; a scale-in's own write ends it), and
/// tell the operator once it has lasted: capacity stays above what the load needs, and costs,
/// until the guard lowers.
async fn track_refused_scale_in(
    state: &ScalerState,
    version: Option<u64>,
    decision: &ScaleDecision,
    alarm: &AlarmTransition,
    now: Millis,
    deps: &Deps,
) -> Result<(), Error> {
    let config = &deps.config;
    let cluster = &config.common.cluster;
    let (episode, report) = track_refusal(
        state.refused_in.as_ref(),
        decision,
        &alarm.event_key(),
        now,
        config.refused_scale_in_notice,
    );
    if episode == state.refused_in {
        return Ok(());
    }
    let next = ScalerState {
        refused_in: episode.clone(),
        ..state.clone()
    };
    if !write_json(deps.store.as_ref(), cluster, STATE_DOC, &next, version).await? {
        return Err(Error::Conflict(format!(
            "scaler state of {cluster} changed underneath"
        )));
    }
    if let (true, Some(episode), ScaleDecision::Hold { reason }) = (report, &episode, decision) {
        let notice = Notice::new(
            Loop::Scaling,
            cluster,
            "scale-in-refused",
            "scale-in refused for long",
            format!(
                "Alarm {} has asked to scale {cluster}'s group {} in since {}, and halfhour keeps refusing ({reason:?}): the group runs more instances than the load needs until that ends.",
                alarm.alarm_name,
                config.asg_name,
                halfhour::domain::format_utc(episode.since)
            ),
        )
        .decision("hold")
        .next_step("Look at what holds it: `status` on the reconciler shows the raised flags (a bake, an instance refresh, a DB failover window) and instances waiting on their launch hook.")
        .resource(&config.asg_name);
        notify_best_effort(deps.notifier.as_ref(), deps.store.as_ref(), notice, now).await;
    }
    Ok(())
}

pub(crate) fn action_name(decision: &ScaleDecision) -> &'static str {
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
