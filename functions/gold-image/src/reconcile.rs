//! The reconciler's part of the loop: re-drive a running bake, report drift off the gold
//! image, and repair what a bake that is over left behind.

use halfhour::Error;
use halfhour::domain::image::BAKE_DOC;
use halfhour::domain::{
    Flag, GroupSnapshot, InstanceId, LifecycleState, Loop, Notice, RefreshStatus,
};
use halfhour::invocation::Invocation;
use halfhour::ports::notify_best_effort;
use halfhour::state::write_json;
use halfhour::telemetry::DecisionRecord;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::advance::advance;
use crate::apply::launch_template;
use crate::plan::{self, Bake, RolloutOutcome};
use crate::{BakeReport, Deps, load_bake, observe_group};

/// The group left the last roll-out's version after its refresh succeeded: say so once, with
/// the way back. halfhour does not move the group itself; someone else chose that version.
async fn report_drift(
    bake: &Bake,
    version: u64,
    group: &GroupSnapshot,
    now: halfhour::domain::Millis,
    deps: &Deps,
) -> Result<(), Error> {
    let Some(launched) = plan::drifted_from_rollout(bake, group) else {
        return Ok(());
    };
    // Until the refresh succeeded, the group names its previous version (or rolled back to it).
    let succeeded = match &bake.outcome {
        Some(outcome) => *outcome == RolloutOutcome::Successful,
        // A bake finished before halfhour watched its refresh: AWS keeps six weeks of refreshes,
        // and one that is gone had succeeded.
        None => match &bake.rollout.refresh_id {
            Some(id) => deps
                .instances
                .refresh(&group.name, id)
                .await?
                .map_or(bake.finished, |r| r.status == RefreshStatus::Successful),
            None => false,
        },
    };
    if !succeeded || bake.drift_reported == Some(launched) {
        return Ok(());
    }
    // Another version of the gold image (a redeploy with GoldImageId) is no drift.
    let runs = deps
        .templates
        .version(launch_template(group, deps)?, &launched.as_request())
        .await?
        .image_id;
    let drifted = runs.is_none() || runs != bake.image_id;
    let cluster = &deps.config.common.cluster;
    let image = bake.image_id.as_deref().unwrap_or("?");
    DecisionRecord::new(Loop::GoldImage, cluster, "report_drift")
        .inputs(
            json!({"release": bake.release, "rolled_out": bake.rollout.new_version, "launched": launched, "runs": runs}),
        )
        .reason(if drifted {
            "the group launches a version halfhour did not roll out"
        } else {
            "the group launches another version of the gold image"
        })
        .dry_run(deps.config.common.dry_run)
        .emit();
    if deps.config.common.dry_run {
        return Ok(());
    }
    let reported = Bake {
        drift_reported: Some(launched),
        ..bake.clone()
    };
    if !write_json(
        deps.store.as_ref(),
        cluster,
        BAKE_DOC,
        &reported,
        Some(version),
    )
    .await?
    {
        return Ok(()); // another tick is reporting it
    }
    if !drifted {
        return Ok(());
    }
    let notice = Notice::new(
        Loop::GoldImage,
        cluster,
        "drifted",
        "drifted off its gold image",
        format!(
            "The group {} of {cluster} launches launch-template version {} instead of the gold image {image} (version {}, release {}). Something outside halfhour changed it, e.g. a stack update that re-resolved ImageId. New instances now run that image.",
            group.name,
            launched.as_request(),
            bake.rollout.new_version.unwrap_or_default(),
            bake.release
        ),
    )
    .decision("report_drift")
    .next_step(format!("To go back: run a bake, or redeploy with GoldImageId={image}."))
    .resource(&group.name)
    .resource(image);
    notify_best_effort(deps.notifier.as_ref(), deps.store.as_ref(), notice, now).await;
    Ok(())
}

/// A repair the reconciler makes when no bake is running.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Repair {
    /// A flag still raised by a bake that is over.
    LowerFlag { flag: Flag, by: String },
    /// The last bake's reference instance is still in Standby.
    ExitStandby { instance: InstanceId },
    /// The last bake's reference instance is still protected from scale-in.
    Unprotect { instance: InstanceId },
}

/// The reconciler's part: re-drive a running bake (its AMI event may be lost; a timed-out bake
/// fails and puts everything back), lower flags a finished bake left raised, and bring back a
/// reference instance left in Standby.
pub async fn reconcile(invocation: &Invocation, deps: &Deps) -> Result<BakeReport, Error> {
    let cluster = &deps.config.common.cluster;
    let dry_run = deps.config.common.dry_run;
    let last = load_bake(deps).await?;
    if last.as_ref().is_some_and(|(b, _)| b.is_active()) && !dry_run {
        return deps
            .with_lease(invocation, || advance(invocation, deps))
            .await;
    }
    if last.as_ref().is_some_and(|(b, _)| b.is_active()) {
        return advance(invocation, deps).await;
    }
    let flags = deps.store.read_flags(cluster).await?;
    let group = observe_group(deps).await?;
    if let Some((bake, version)) = &last {
        report_drift(bake, *version, &group, invocation.now, deps).await?;
    }
    let mut repairs = Vec::new();
    if let Some(hold) = flags
        .hold(Flag::Baking)
        .filter(|h| h.until > invocation.now)
    {
        repairs.push(Repair::LowerFlag {
            flag: Flag::Baking,
            by: hold.by.clone(),
        });
    }
    if let Some((bake, _)) = &last {
        if let Some(hold) = flags
            .hold(Flag::Refreshing)
            .filter(|h| h.until > invocation.now)
        {
            let running = match &bake.rollout.refresh_id {
                Some(id) => deps
                    .instances
                    .refresh(&deps.config.asg_name, id)
                    .await?
                    .is_some_and(|r| r.status.is_running()),
                None => false,
            };
            if !running {
                repairs.push(Repair::LowerFlag {
                    flag: Flag::Refreshing,
                    by: hold.by.clone(),
                });
            }
        }
        if let Some(reference) = group.instance(&bake.reference) {
            if reference.state == LifecycleState::Standby {
                repairs.push(Repair::ExitStandby {
                    instance: bake.reference.clone(),
                });
            }
            if reference.protected_from_scale_in {
                repairs.push(Repair::Unprotect {
                    instance: bake.reference.clone(),
                });
            }
        }
    }
    DecisionRecord::new(Loop::GoldImage, cluster, if repairs.is_empty() { "nothing_to_repair" } else { "repair" })
        .inputs(json!({"last_release": last.as_ref().map(|(b, _)| &b.release), "flags": flags.raised(invocation.now)}))
        .reason(format!("{repairs:?}"))
        .dry_run(dry_run)
        .emit();
    if !repairs.is_empty() && !dry_run {
        deps.with_lease(invocation, || async {
            for repair in &repairs {
                let asg = deps.config.asg_name.as_str();
                match repair {
                    Repair::LowerFlag { flag, by } => {
                        deps.store.lower_flag(cluster, *flag, Some(by)).await?
                    }
                    Repair::ExitStandby { instance } => {
                        deps.instances.exit_standby(asg, instance).await?
                    }
                    Repair::Unprotect { instance } => {
                        deps.instances
                            .protect_from_scale_in(asg, instance, false)
                            .await?
                    }
                }
            }
            Ok(BakeReport::idle(dry_run))
        })
        .await?;
    }
    Ok(BakeReport {
        release: last.map(|(b, _)| b.release),
        repairs,
        ..BakeReport::idle(dry_run)
    })
}
