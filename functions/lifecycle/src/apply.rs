//! Carrying out a lifecycle decision: completing, heartbeating or abandoning the action, the
//! state it leaves behind, the decision record, and the breaker's revert.

use halfhour::Error;
use halfhour::domain::image::{BAKE_DOC, Rollout};
use halfhour::domain::{LifecycleAction, LifecycleResult, LifecycleState, Loop, Millis, Notice};
use halfhour::invocation::{Invocation, with_lease};
use halfhour::ports::notify_best_effort;
use halfhour::state::{read_json, remember_decision};
use halfhour::telemetry::DecisionRecord;
use serde_json::json;

use crate::plan::{self, LaunchDecision, TerminateDecision};
use crate::{Deps, FUNCTION, load_state, observe_group, update_state};

/// Carry out a launch decision: continue, heartbeat, or abandon (which the breaker counts).
pub(crate) async fn launch(
    decision: &LaunchDecision,
    record: &DecisionRecord,
    action: &LifecycleAction,
    invocation: &Invocation,
    deps: &Deps,
) -> Result<(), Error> {
    let config = &deps.config;
    let now = invocation.now;
    match decision {
        LaunchDecision::FailOpen { .. } => fail_open(action, deps).await?,
        _ if config.common.dry_run => {}
        LaunchDecision::Continue | LaunchDecision::IntoWarmPool => {
            finish(action, LifecycleResult::Continue, deps).await?
        }
        LaunchDecision::Wait { .. } => {
            if !deps.actions.heartbeat(action).await? {
                confirm_left_wait(action, deps).await?;
            }
        }
        LaunchDecision::Abandon { .. } => {
            finish(action, LifecycleResult::Abandon, deps).await?;
            let window = config.breaker_window;
            let recorded = update_state(deps, |s| {
                s.abandons.retain(|t| now.since(*t) < window);
                s.abandons.push(now);
            })
            .await?;
            let tripped_recently = recorded
                .breaker_tripped_at
                .is_some_and(|t| now.since(t) < window);
            if plan::breaker_open(&recorded.abandons, now, window, config.breaker_abandons)
                && !tripped_recently
            {
                trip_breaker(recorded.abandons.len(), invocation, deps).await?;
            }
        }
        LaunchDecision::NotWaiting => forget(action, deps).await?,
    }
    if !matches!(
        decision,
        LaunchDecision::Wait { .. } | LaunchDecision::NotWaiting
    ) && !config.common.dry_run
    {
        remember_decision(deps.store.as_ref(), record, now).await;
    }
    Ok(())
}

/// Carry out a terminate decision: continue, or heartbeat while the targets drain.
pub(crate) async fn terminate(
    decision: &TerminateDecision,
    record: &DecisionRecord,
    action: &LifecycleAction,
    now: Millis,
    deps: &Deps,
) -> Result<(), Error> {
    let dry_run = deps.config.common.dry_run;
    match decision {
        TerminateDecision::FailOpen { .. } => fail_open(action, deps).await?,
        _ if dry_run => {}
        TerminateDecision::Continue => finish(action, LifecycleResult::Continue, deps).await?,
        TerminateDecision::WaitForDrain => {
            if !deps.actions.heartbeat(action).await? {
                confirm_left_wait(action, deps).await?;
            }
        }
        TerminateDecision::NotWaiting => forget(action, deps).await?,
    }
    if matches!(
        decision,
        TerminateDecision::Continue | TerminateDecision::FailOpen { .. }
    ) && !dry_run
    {
        remember_decision(deps.store.as_ref(), record, now).await;
    }
    Ok(())
}

/// Hand the instance to AWS's default path: CONTINUE now. In observe mode this is the one call
/// halfhour makes, and it writes nothing (an action already completed is no concern of ours).
async fn fail_open(action: &LifecycleAction, deps: &Deps) -> Result<(), Error> {
    if deps.config.common.dry_run {
        deps.actions
            .complete(action, LifecycleResult::Continue)
            .await?;
        return Ok(());
    }
    finish(action, LifecycleResult::Continue, deps).await
}

/// Complete the action; "no active action" is fine once the instance has left its wait state.
async fn finish(
    action: &LifecycleAction,
    result: LifecycleResult,
    deps: &Deps,
) -> Result<(), Error> {
    if !deps.actions.complete(action, result).await? {
        confirm_left_wait(action, deps).await?;
    }
    forget(action, deps).await
}

async fn confirm_left_wait(action: &LifecycleAction, deps: &Deps) -> Result<(), Error> {
    let group = observe_group(deps).await?;
    let still_waiting = group.instance(&action.instance_id).is_some_and(|i| {
        matches!(
            i.state,
            LifecycleState::PendingWait | LifecycleState::TerminatingWait
        )
    });
    if still_waiting {
        return Err(Error::Aws {
            operation: "CompleteLifecycleAction",
            message: format!(
                "AWS found no active lifecycle action for {} although it still waits",
                action.instance_id
            ),
        });
    }
    Ok(())
}

async fn forget(action: &LifecycleAction, deps: &Deps) -> Result<(), Error> {
    let (state, _) = load_state(deps).await?;
    let id = &action.instance_id;
    if state.waiting.contains_key(id) || state.probes.contains_key(id) {
        update_state(deps, |s| {
            s.waiting.remove(id);
            s.probes.remove(id);
        })
        .await?;
    }
    Ok(())
}

/// N abandons in the window: the image is broken, not the instances. Stop abandoning (the plan
/// now waits) and revert what the group launches to the version before the last roll-out:
/// roll back its refresh if it still runs, else name the good version again; notify.
async fn trip_breaker(abandons: usize, invocation: &Invocation, deps: &Deps) -> Result<(), Error> {
    let config = &deps.config;
    let cluster = &config.common.cluster;
    let now = invocation.now;
    with_lease(deps.store.as_ref(), cluster, &invocation.owner(FUNCTION), now, config.common.lease, || async {
        update_state(deps, |s| s.breaker_tripped_at = Some(now)).await?;
        let group = observe_group(deps).await?;
        let rollout = read_json::<Rollout>(deps.store.as_ref(), cluster, BAKE_DOC)
            .await
            .ok()
            .flatten()
            .map(|(r, _)| r);
        let revert = match (&group.launch_template, &rollout) {
            (Some(template), Some(rollout)) => {
                let running = match &rollout.refresh_id {
                    Some(id) => deps
                        .instances
                        .refresh(&group.name, id)
                        .await?
                        .is_some_and(|r| r.status.may_roll_back()),
                    None => false,
                };
                let default = deps.templates.version(&template.id, "$Default").await?;
                let revert = plan::plan_revert(rollout, template.version, default.number, running);
                if revert.rollback_refresh {
                    deps.instances.rollback_instance_refresh(&group.name).await?;
                }
                if let Some(good) = revert.pin_group_to {
                    deps.instances
                        .set_launch_template_version(&group.name, &template.id, good)
                        .await?;
                }
                if let Some(good) = revert.default_to {
                    deps.templates.set_default_version(&template.id, good).await?;
                }
                revert
            }
            _ => plan::Revert::default(),
        };
        let versions = rollout
            .as_ref()
            .map(|r| (r.new_version.unwrap_or_default(), r.previous_version.unwrap_or_default()));
        let what = match versions.filter(|_| !revert.is_nothing()) {
            None => "no known good launch-template version to revert to".to_owned(),
            Some((bad, good)) => format!(
                "{}the group launches version {good} again instead of {bad}{}",
                if revert.rollback_refresh { "the instance refresh rolling it out was rolled back; " } else { "" },
                if revert.default_to.is_some() { ", and it is the template's default again" } else { "" }
            ),
        };
        DecisionRecord::new(Loop::Lifecycle, cluster, "trip_breaker")
            .inputs(json!({"abandons_in_window": abandons, "window_s": config.breaker_window.as_secs(), "revert": revert}))
            .reason(&what)
            .emit();
        let notice = Notice::new(
            Loop::Lifecycle,
            cluster,
            "breaker-tripped",
            "launch circuit breaker tripped",
            format!(
                "{abandons} launching instances of {cluster} were abandoned within {} minutes: the image looks broken. halfhour stopped abandoning; {what}.",
                config.breaker_window.as_secs() / 60,
            ),
        )
        .decision("trip_breaker")
        .next_step(if revert.is_nothing() {
            "Please look: the group still launches the image its instances fail on; point it at a known good launch-template version."
        } else {
            "Look at the broken image's instances (their console output, the application's logs) before the next bake."
        })
        .resource(&group.name);
        notify_best_effort(deps.notifier.as_ref(), deps.store.as_ref(), notice, now).await;
        Ok(())
    })
    .await
}
