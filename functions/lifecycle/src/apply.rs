//! Carrying out a lifecycle decision's steps: completing, heartbeating or handing back the
//! action, the state it leaves behind, the decision record, and the breaker's revert. What to
//! do is the plan's; this file only does it.

use std::collections::VecDeque;

use halfhour::Error;
use halfhour::domain::image::{BAKE_DOC, Rollout};
use halfhour::domain::{LifecycleAction, LifecycleResult, LifecycleState, Loop, Notice};
use halfhour::invocation::Invocation;
use halfhour::ports::notify_best_effort;
use halfhour::state::{read_json, remember_decision};
use halfhour::telemetry::DecisionRecord;
use serde_json::json;

use crate::plan::{self, RevertStep, Step, TripObserved};
use crate::{Deps, load_state, observe_group, update_state};

/// Carry out `steps` in order; a step may bring the next ones (an abandon that trips the
/// breaker brings the revert).
pub(crate) async fn apply(
    steps: Vec<Step>,
    record: &DecisionRecord,
    action: &LifecycleAction,
    invocation: &Invocation,
    deps: &Deps,
) -> Result<(), Error> {
    let now = invocation.now;
    let mut steps = VecDeque::from(steps);
    while let Some(step) = steps.pop_front() {
        match step {
            Step::Complete(result) => complete(action, result, deps).await?,
            Step::HandBack => {
                deps.actions
                    .complete(action, LifecycleResult::Continue)
                    .await?;
            }
            Step::Heartbeat => {
                let heard = deps.actions.heartbeat(action).await?;
                confirm_left_wait_unless(heard, action, deps).await?;
            }
            Step::Forget => forget(action, deps).await?,
            Step::CountAbandon => {
                let breaker = deps.config.breaker();
                let recorded =
                    update_state(deps, |s| plan::count_abandon(&mut s.abandons, now, breaker))
                        .await?;
                let next = plan::after_abandon(
                    &recorded.abandons,
                    recorded.breaker_tripped_at,
                    now,
                    breaker,
                );
                next.into_iter()
                    .rev()
                    .for_each(|step| steps.push_front(step));
            }
            Step::TripBreaker { abandons } => trip_breaker(abandons, invocation, deps).await?,
            Step::Remember => remember_decision(deps.store.as_ref(), record, now).await,
        }
    }
    Ok(())
}

/// Complete the action; "no active action" is fine once the instance has left its wait state.
async fn complete(
    action: &LifecycleAction,
    result: LifecycleResult,
    deps: &Deps,
) -> Result<(), Error> {
    let completed = deps.actions.complete(action, result).await?;
    confirm_left_wait_unless(completed, action, deps).await
}

/// AWS found no active action (`answered` false): an error unless the instance is out of its
/// wait state, i.e. someone (a timeout, another invocation) completed it first.
async fn confirm_left_wait_unless(
    answered: bool,
    action: &LifecycleAction,
    deps: &Deps,
) -> Result<(), Error> {
    if answered {
        return Ok(());
    }
    let group = observe_group(deps).await?;
    let still_waiting = group.instance(&action.instance_id).is_some_and(|i| {
        matches!(
            i.state,
            LifecycleState::PendingWait | LifecycleState::TerminatingWait
        )
    });
    if still_waiting {
        return Err(Error::aws(
            "CompleteLifecycleAction",
            format!(
                "AWS found no active lifecycle action for {} although it still waits",
                action.instance_id
            ),
        ));
    }
    Ok(())
}

async fn forget(action: &LifecycleAction, deps: &Deps) -> Result<(), Error> {
    let state = load_state(deps).await?;
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
    deps.with_lease(invocation, || async {
        update_state(deps, |s| s.breaker_tripped_at = Some(now)).await?;
        let group = observe_group(deps).await?;
        let observed = observe_trip(&group, deps).await?;
        let trip = plan::plan_trip(&observed);
        for step in &trip.steps {
            match step {
                RevertStep::RollbackRefresh => {
                    deps.instances.rollback_instance_refresh(&group.name).await?;
                }
                RevertStep::PinGroupTo { template_id, version } => deps.instances.set_launch_template_version(&group.name, template_id, *version).await?,
                RevertStep::DefaultTo { template_id, version } => deps.templates.set_default_version(template_id, *version).await?,
            }
        }
        DecisionRecord::new(Loop::Lifecycle, cluster, "trip_breaker")
            .inputs(json!({"abandons_in_window": abandons, "window_s": config.breaker_window.as_secs(), "revert": trip.revert}))
            .reason(&trip.what)
            .emit();
        let notice = Notice::new(
            Loop::Lifecycle,
            cluster,
            "breaker-tripped",
            "launch circuit breaker tripped",
            format!(
                "{abandons} launching instances of {cluster} were abandoned within {} minutes: the image looks broken. halfhour stopped abandoning; {}.",
                config.breaker_window.as_secs() / 60,
                trip.what,
            ),
        )
        .decision("trip_breaker")
        .next_step(trip.next_step)
        .resource(&group.name);
        notify_best_effort(deps.notifier.as_ref(), deps.store.as_ref(), notice, now).await;
        Ok(())
    })
    .await
}

/// What the revert depends on: the version the group names, the last roll-out as the gold-image
/// loop recorded it, the template's default, and whether the roll-out's refresh still runs.
async fn observe_trip(
    group: &halfhour::domain::GroupSnapshot,
    deps: &Deps,
) -> Result<TripObserved, Error> {
    let cluster = &deps.config.common.cluster;
    // A bake record this release cannot read leaves the revert unknown; the notice says so.
    let rollout = match read_json::<Rollout>(deps.store.as_ref(), cluster, BAKE_DOC).await {
        Ok(doc) => doc.map(|(rollout, _)| rollout),
        Err(err) => {
            tracing::warn!(error = %err, "the last roll-out is unreadable: the breaker reverts nothing");
            None
        }
    };
    let (Some(template), Some(recorded)) = (&group.launch_template, &rollout) else {
        return Ok(TripObserved {
            group_template: group.launch_template.clone(),
            rollout,
            default_version: None,
            refresh_running: false,
        });
    };
    let refresh_running = match &recorded.refresh_id {
        Some(id) => deps
            .instances
            .refresh(&group.name, id)
            .await?
            .is_some_and(|r| r.status.may_roll_back()),
        None => false,
    };
    let default = deps.templates.version(&template.id, "$Default").await?;
    Ok(TripObserved {
        group_template: Some(template.clone()),
        rollout,
        default_version: Some(default.number),
        refresh_running,
    })
}
