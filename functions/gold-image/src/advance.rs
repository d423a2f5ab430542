//! Driving a running bake: observe, plan the next step, record it, apply it, as many times
//! as one invocation may.

use halfhour::Error;
use halfhour::domain::dns::SiteFailovers;
use halfhour::domain::{Flag, GroupSnapshot, Loop, StatusChecks};
use halfhour::invocation::Invocation;
use halfhour::state::{doc, read_json, remember_decision};
use halfhour::telemetry::DecisionRecord;
use serde_json::json;

use crate::apply::{apply, launch_template};
use crate::plan::{self, Bake, Observed, Policy, RolloutOutcome, Step};
use crate::{BakeReport, Deps, load_bake, observe_group};

/// Steps one invocation may take before it yields to the next trigger.
const MAX_STEPS: usize = 16;

/// Take as many steps of the running bake as can be taken now.
pub async fn advance(invocation: &Invocation, deps: &Deps) -> Result<BakeReport, Error> {
    let cluster = &deps.config.common.cluster;
    let dry_run = deps.config.common.dry_run;
    let policy = Policy {
        min_serving: deps.config.min_serving,
        db_snapshot: deps.config.db_snapshot,
        refresh_hold: deps.config.refresh_hold,
    };
    let Some((mut bake, mut version)) = load_bake(deps).await?.filter(|(b, _)| b.is_active())
    else {
        return Ok(BakeReport::idle(dry_run));
    };
    let paused = deps
        .store
        .read_flags(cluster)
        .await?
        .is_raised(Flag::Paused, invocation.now);
    let mut steps = Vec::new();
    // One look at the refresh per invocation: recording what it showed does not change it.
    let mut refresh_look = None;
    for _ in 0..MAX_STEPS {
        let group = observe_group(deps).await?;
        let image_state = match &bake.image_id {
            Some(id) => deps.images.describe_image(id).await?.map(|i| i.state),
            None => None,
        };
        let rollout = observe_rollout(&bake, &group, &mut refresh_look, invocation, deps).await?;
        let mut observed = Observed {
            group: &group,
            image_state,
            reference_status_ok: None,
            made_version: None,
            paused,
            refresh: rollout.refresh,
            failed_over: rollout.failed_over,
            db_failover: rollout.db_failover,
            default_version: rollout.default_version,
            refreshing_until: rollout.refreshing_until,
        };
        let mut step = plan::next_step(&bake, &observed, &policy, invocation.now);
        // Look at the reference's status checks, and for a version this bake made already,
        // only when the plan needs them.
        if step == Step::WaitForReference {
            let status = deps.statuses.instance_status(&bake.reference).await?;
            observed.reference_status_ok =
                Some(status.running && status.checks == StatusChecks::Ok);
            step = plan::next_step(&bake, &observed, &policy, invocation.now);
        }
        if step == Step::NewTemplateVersion {
            let latest = deps
                .templates
                .version(launch_template(&group, deps)?, "$Latest")
                .await?;
            observed.made_version = (latest.description.as_deref() == Some(bake.release.as_str()))
                .then_some(latest.number);
            step = plan::next_step(&bake, &observed, &policy, invocation.now);
        }
        let record = DecisionRecord::new(Loop::GoldImage, cluster, step_name(&step))
            .inputs(json!({"release": bake.release, "reference": bake.reference, "desired": group.desired,
                           "serving": group.serving(), "image": bake.image_id, "image_state": observed.image_state,
                           "refresh": observed.refresh, "canary": bake.canary, "failed_over": observed.failed_over}))
            .reason(format!("{step:?}"))
            .dry_run(dry_run);
        record.emit();
        steps.push(step.clone());
        if step.is_wait() || dry_run {
            break;
        }
        let finished = step == Step::Finish;
        apply(&step, &mut bake, &mut version, &group, invocation, deps).await?;
        remember_decision(deps.store.as_ref(), &record, invocation.now).await;
        if finished {
            break;
        }
    }
    Ok(BakeReport {
        release: Some(bake.release.clone()),
        steps,
        bake: Some(bake.clone()),
        ..BakeReport::idle(dry_run)
    })
}

/// What the roll-out stage of a bake looks at, each only when that stage needs it.
#[derive(Default)]
struct RolloutObservation {
    refresh: Option<halfhour::domain::RefreshView>,
    failed_over: bool,
    db_failover: bool,
    default_version: Option<i64>,
    refreshing_until: Option<halfhour::domain::Millis>,
}

async fn observe_rollout(
    bake: &Bake,
    group: &GroupSnapshot,
    refresh_look: &mut Option<Option<halfhour::domain::RefreshView>>,
    invocation: &Invocation,
    deps: &Deps,
) -> Result<RolloutObservation, Error> {
    let mut seen = RolloutObservation::default();
    if bake.refresh_started && bake.outcome.is_none() {
        // The flags as they are now: this invocation may have raised `refreshing` itself.
        let flags = deps.store.read_flags(&deps.config.common.cluster).await?;
        seen.db_failover = flags.is_raised(Flag::DbFailover, invocation.now);
        seen.refreshing_until = flags
            .hold(Flag::Refreshing)
            .filter(|_| flags.is_raised(Flag::Refreshing, invocation.now))
            .map(|hold| hold.until);
        if let Some(id) = &bake.rollout.refresh_id {
            if refresh_look.is_none() {
                *refresh_look = Some(deps.instances.refresh(&group.name, id).await?);
            }
            seen.refresh = refresh_look.clone().flatten();
        }
        if let (Some(_), Some(started)) = (bake.canary, bake.refresh_started_at) {
            let cluster = &deps.config.common.cluster;
            seen.failed_over =
                read_json::<SiteFailovers>(deps.store.as_ref(), cluster, doc::FAILOVER)
                    .await?
                    .is_some_and(|(site, _)| site.any_since(started));
        }
    }
    if bake
        .outcome
        .as_ref()
        .is_some_and(RolloutOutcome::image_is_bad)
        && !bake.default_restored
    {
        let template = launch_template(group, deps)?;
        seen.default_version = Some(deps.templates.version(template, "$Default").await?.number);
    }
    Ok(seen)
}

fn step_name(step: &Step) -> &'static str {
    match step {
        Step::ScaleUp { .. } => "scale_up_first",
        Step::WaitForCapacity => "wait_for_capacity",
        Step::Paused => "paused",
        Step::Protect => "protect_reference",
        Step::EnterStandby => "enter_standby",
        Step::WaitForStandby => "wait_for_standby",
        Step::SnapshotDb => "snapshot_db",
        Step::CreateImage => "create_image",
        Step::WaitForImage => "wait_for_image",
        Step::WaitForReference => "wait_for_reference",
        Step::ExitStandby => "exit_standby",
        Step::Unprotect => "unprotect_reference",
        Step::PinGroup => "pin_group_version",
        Step::NewTemplateVersion => "new_template_version",
        Step::AdoptTemplateVersion { .. } => "adopt_template_version",
        Step::StartRefresh => "start_refresh",
        Step::CanaryServing { .. } => "canary_serving",
        Step::EnterPhase { .. } => "refresh_phase",
        Step::RenewRefreshHold => "renew_refresh_hold",
        Step::WatchRefresh { .. } => "watch_refresh",
        Step::RollBack { .. } => "roll_back_refresh",
        Step::RecordOutcome { .. } => "refresh_ended",
        Step::RestoreDefault { .. } => "restore_default_version",
        Step::Retain => "retain",
        Step::Finish => "finish",
        Step::Fail { .. } => "fail",
    }
}
