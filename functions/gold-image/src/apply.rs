//! Carrying out a planned step against AWS and the state table: one match over the steps,
//! no decisions of its own.

use std::collections::BTreeMap;

use halfhour::Error;
use halfhour::domain::image::{
    CLUSTER_TAG, MANAGED_TAG, RELEASE_TAG, SOURCE_INSTANCE_TAG, db_snapshot_id,
};
use halfhour::domain::{
    Canary, Flag, FlagHold, GroupSnapshot, GroupTemplate, ImageRequest, LaunchTemplateId, Loop,
    Notice, RefreshRequest,
};
use halfhour::invocation::Invocation;
use halfhour::ports::notify_best_effort;

use crate::plan::{self, Bake, RolloutOutcome, Step};
use crate::{Deps, flag_owner, save_bake};

/// Apply one step and record it. Absolute writes record their intent first; everything else
/// is recorded once done, and re-observed (not re-done) on a resume.
pub(crate) async fn apply(
    step: &Step,
    bake: &mut Bake,
    version: &mut u64,
    group: &GroupSnapshot,
    invocation: &Invocation,
    deps: &Deps,
) -> Result<(), Error> {
    let config = &deps.config;
    let cluster = &config.common.cluster;
    let asg = config.asg_name.as_str();
    match step {
        Step::ScaleUp { to } => {
            bake.scaled_up_to = Some(*to);
            *version = save_bake(deps, bake, Some(*version)).await?;
            deps.group.set_desired_capacity(asg, *to).await?;
            return Ok(());
        }
        Step::Protect => {
            deps.instances
                .protect_from_scale_in(asg, &bake.reference, true)
                .await?
        }
        Step::Unprotect => {
            deps.instances
                .protect_from_scale_in(asg, &bake.reference, false)
                .await?
        }
        Step::EnterStandby => deps.instances.enter_standby(asg, &bake.reference).await?,
        Step::ExitStandby => deps.instances.exit_standby(asg, &bake.reference).await?,
        Step::SnapshotDb => {
            let db = config.db_instance.as_deref().unwrap_or_default();
            let id = db_snapshot_id(cluster.as_str(), &bake.release);
            deps.db
                .create_db_snapshot(db, &id, &release_tags(bake, cluster.as_str()))
                .await?;
            bake.db_snapshot = Some(id);
        }
        Step::CreateImage => {
            let request = ImageRequest {
                instance_id: bake.reference.clone(),
                name: format!("halfhour-{cluster}-{}", bake.release),
                description: format!(
                    "halfhour gold image of {cluster} ({}): {}",
                    bake.release, bake.reason
                ),
                tags: release_tags(bake, cluster.as_str()),
            };
            bake.image_id = Some(deps.images.create_image(&request).await?);
        }
        Step::PinGroup => {
            let template = group_template(group, deps)?;
            let current = deps
                .templates
                .version(&template.id, &template.version.as_request())
                .await?;
            deps.instances
                .set_launch_template_version(asg, &template.id, current.number)
                .await?;
            bake.pinned_from = Some(template.version);
        }
        Step::NewTemplateVersion | Step::AdoptTemplateVersion { .. } => {
            let template = launch_template(group, deps)?;
            let default = deps.templates.version(template, "$Default").await?;
            let image = bake.image_id.clone().ok_or_else(|| {
                Error::corrupt_state(
                    format!("bake {}", bake.release),
                    "has no image recorded before its template version",
                )
            })?;
            // What the group launched until now: the new version copies its settings (not
            // $Default's, which a pinned group does not launch), and the breaker reverts to it.
            let launched = group_template(group, deps)?
                .version
                .number()
                .unwrap_or(default.number);
            let number = match step {
                Step::AdoptTemplateVersion { number } => *number,
                _ => {
                    deps.templates
                        .create_version(template, launched, &image, &bake.release)
                        .await?
                }
            };
            bake.rollout.previous_version.get_or_insert(launched);
            deps.templates.set_default_version(template, number).await?;
            bake.rollout.new_version = Some(number);
        }
        Step::RenewRefreshHold => {
            raise_refreshing(bake, config.refresh_hold, invocation, deps).await?;
        }
        Step::StartRefresh => {
            let template = launch_template(group, deps)?;
            let canary = config
                .canary_bake
                .map(|bake_time| Canary::one_instance(group.desired, bake_time.as_secs() as u32));
            // The flag outlasts the canary's bake time: no scale-in or bake until the refresh ends.
            let hold = config.refresh_hold + config.canary_bake.unwrap_or_default();
            raise_refreshing(bake, hold, invocation, deps).await?;
            let min_healthy = plan::refresh_min_healthy(
                config.refresh_min_healthy_percent,
                config.min_serving,
                group.desired,
            );
            let request = RefreshRequest {
                launch_template_id: template.clone(),
                version: bake.rollout.new_version.unwrap_or_default(),
                min_healthy_percentage: min_healthy,
                max_healthy_percentage: plan::refresh_max_healthy(min_healthy, group.desired),
                instance_warmup_seconds: i32::try_from(config.instance_warmup.as_secs())
                    .unwrap_or(i32::MAX),
                canary,
                alarms: config.refresh_alarms.clone(),
            };
            match deps.instances.start_instance_refresh(asg, &request).await {
                Ok(id) => bake.rollout.refresh_id = Some(id),
                // A resumed bake whose first attempt started the refresh: it is running.
                Err(Error::Conflict(_)) if bake.rollout.new_version.is_some() => {}
                Err(err) => return Err(err),
            }
            bake.refresh_started = true;
            bake.refresh_started_at = Some(invocation.now);
            bake.canary = canary;
        }
        Step::CanaryServing { percentage } => bake.canary_reached = Some(*percentage),
        Step::EnterPhase { phase } => bake.refresh_phase = Some(*phase),
        Step::RollBack { cause } => {
            bake.rollback_requested = Some(*cause);
            *version = save_bake(deps, bake, Some(*version)).await?;
            deps.instances.rollback_instance_refresh(asg).await?;
            return Ok(());
        }
        Step::RecordOutcome { outcome } => bake.outcome = Some(outcome.clone()),
        Step::RestoreDefault { version: good } => {
            deps.templates
                .set_default_version(launch_template(group, deps)?, *good)
                .await?;
            bake.default_restored = true;
        }
        Step::Retain => {
            crate::retention::retain(bake, group, deps).await?;
            bake.retained = true;
        }
        Step::Fail { reason } => bake.failure = Some(*reason),
        Step::Finish => {
            for flag in [Flag::Baking, Flag::Refreshing] {
                deps.store
                    .lower_flag(cluster, flag, Some(&flag_owner(&bake.release)))
                    .await?;
            }
            bake.finished = true;
            *version = save_bake(deps, bake, Some(*version)).await?;
            notify_outcome(bake, invocation.now, deps).await;
            return Ok(());
        }
        Step::WaitForCapacity
        | Step::Paused
        | Step::WaitForStandby
        | Step::WaitForImage
        | Step::WaitForReference
        | Step::WatchRefresh { .. } => return Ok(()),
    }
    *version = save_bake(deps, bake, Some(*version)).await?;
    Ok(())
}

/// The `refreshing` flag, held by this bake for `hold` from now.
async fn raise_refreshing(
    bake: &Bake,
    hold: std::time::Duration,
    invocation: &Invocation,
    deps: &Deps,
) -> Result<(), Error> {
    let hold = FlagHold {
        by: flag_owner(&bake.release),
        since: invocation.now,
        until: invocation.now.plus(hold),
    };
    deps.store
        .raise_flag(
            &deps.config.common.cluster,
            Flag::Refreshing,
            &hold,
            false,
            invocation.now,
        )
        .await?;
    Ok(())
}

pub(crate) fn launch_template<'a>(
    group: &'a GroupSnapshot,
    deps: &Deps,
) -> Result<&'a LaunchTemplateId, Error> {
    Ok(&group_template(group, deps)?.id)
}

pub(crate) fn group_template<'a>(
    group: &'a GroupSnapshot,
    deps: &Deps,
) -> Result<&'a GroupTemplate, Error> {
    group.launch_template.as_ref().ok_or_else(|| {
        Error::not_found(format!(
            "a launch template on group {} (to roll the image into)",
            deps.config.asg_name
        ))
    })
}

fn release_tags(bake: &Bake, cluster: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED_TAG.to_owned(), "true".to_owned()),
        (CLUSTER_TAG.to_owned(), cluster.to_owned()),
        (RELEASE_TAG.to_owned(), bake.release.clone()),
        (SOURCE_INSTANCE_TAG.to_owned(), bake.reference.to_string()),
    ])
}

async fn notify_outcome(bake: &Bake, now: halfhour::domain::Millis, deps: &Deps) {
    let cluster = &deps.config.common.cluster;
    let notice = match bake.failure {
        None => rollout_notice(bake, cluster),
        Some(reason) => Notice::new(
            Loop::GoldImage,
            cluster,
            "bake-failed",
            format!("gold image {} failed", bake.release),
            format!(
                "The bake from {} stopped ({reason:?}); the instance is back in service and nothing was rolled out.",
                bake.reference
            ),
        )
        .next_step("Read the gold-image function's decision records for the bake's steps; fix the cause and bake again.")
        .resource(&bake.reference),
    };
    notify_best_effort(deps.notifier.as_ref(), deps.store.as_ref(), notice, now).await;
}

/// What the operator reads when a roll-out ended: how it went, and what to do next.
fn rollout_notice(bake: &Bake, cluster: &halfhour::domain::ClusterName) -> Notice {
    let image = bake.image_id.as_deref().unwrap_or("?");
    let new = bake.rollout.new_version.unwrap_or_default();
    let previous = bake.rollout.previous_version.unwrap_or_default();
    let canary = match bake.canary {
        Some(canary) => format!(
            " One instance ran it first (the canary, {}% of the group) and served alone for {} s before the rest was replaced.",
            canary.percentage, canary.bake_seconds
        ),
        None => String::new(),
    };
    let pinned = match bake.pinned_from {
        Some(floating) => format!(
            " The group named {} before and names a numbered version now (AWS rolls back only to a numbered version).",
            floating.as_request()
        ),
        None => String::new(),
    };
    let why = match bake.rollback_requested {
        Some(plan::RollbackCause::SiteFailedOver) => {
            " halfhour asked for the rollback: DNS failed over to the static site while the canary served."
        }
        None => "",
    };
    let (kind, title, description) = match &bake.outcome {
        Some(RolloutOutcome::RolledBack { reason }) => (
            "rolled-back",
            format!("gold image {} rolled back", bake.release),
            format!(
                "The instance refresh onto launch-template version {new} (image {image}) was rolled back: {reason}.{why} Every instance runs version {previous} again and it is the template's default again; image {image} is marked bad in the bake record and is not rolled out again."
            ),
        ),
        Some(RolloutOutcome::RollbackFailed { reason }) => (
            "rollback-failed",
            format!("gold image {} rollback FAILED", bake.release),
            format!(
                "The instance refresh onto version {new} (image {image}) failed and so did its rollback: {reason}.{why} The group may run both images."
            ),
        ),
        Some(RolloutOutcome::Failed { reason }) => (
            "rollout-failed",
            format!("gold image {} failed to roll out", bake.release),
            format!(
                "The instance refresh onto version {new} (image {image}) failed without a rollback: {reason}. The template's default is version {previous} again; instances it replaced still run image {image}. Please look."
            ),
        ),
        Some(RolloutOutcome::Cancelled) => (
            "rollout-cancelled",
            format!("gold image {} roll-out cancelled", bake.release),
            format!(
                "Someone cancelled the instance refresh onto version {new} (image {image}); what it replaced stays replaced, the rest runs version {previous}."
            ),
        ),
        Some(RolloutOutcome::Successful) | Some(RolloutOutcome::Unobserved) | None => (
            "rolled-out",
            format!("gold image {} rolled out", bake.release),
            format!(
                "Image {image} of {} (made with reboot) is launch-template version {new}, and the instance refresh replaced the instances.{canary}{pinned} Reason: {}.",
                bake.reference, bake.reason
            ),
        ),
    };
    let notice = Notice::new(Loop::GoldImage, cluster, kind, title, description)
        .resource(image)
        .resource(&bake.reference);
    match kind {
        "rolled-back" => notice.next_step(format!("Look at image {image} before the next bake: the canary's logs, the target group's 5xx.")),
        "rollback-failed" => notice.next_step(format!("Look now: aws autoscaling describe-instance-refreshes --auto-scaling-group-name <group>; to go back by hand, start an instance refresh onto version {previous}.")),
        "rollout-failed" => notice.next_step("Look at the instance refresh's status reason before the next bake."),
        _ => notice,
    }
}
