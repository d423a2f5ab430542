//! The launch circuit breaker's revert: what the group launches and the last roll-out as the
//! gold-image loop recorded it (observed), the revert (the plan's `plan_trip`), and its calls.

use halfhour::Error;
use halfhour::domain::image::{BAKE_DOC, Rollout};
use halfhour::domain::{Loop, Notice};
use halfhour::invocation::Invocation;
use halfhour::ports::notify_best_effort;
use halfhour::state::read_json;
use halfhour::telemetry::DecisionRecord;
use serde_json::json;

use crate::plan::{self, RevertStep, TripObserved};
use crate::{Deps, observe_group, update_state};

/// N abandons in the window: the image is broken, not the instances. Stop abandoning (the plan
/// now waits) and revert what the group launches to the version before the last roll-out:
/// roll back its refresh if it still runs, else name the good version again; notify.
pub(crate) async fn trip(
    abandons: usize,
    invocation: &Invocation,
    deps: &Deps,
) -> Result<(), Error> {
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
