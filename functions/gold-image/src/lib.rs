//! The gold-image loop: image a healthy instance of the cluster — always WITH reboot, after
//! taking it out of service — roll the image into a new launch-template version with an
//! instance refresh, and keep only the images that are safe to delete.
//!
//! A bake spans many invocations (the image takes minutes). Each step is recorded in the state
//! table, so a crash, a timeout or a lost `EC2 AMI State Change` event resumes where it
//! stopped: the AMI event, the reconciler's tick and a retried invoke all call [`advance`].

pub mod config;
pub mod input;
pub mod plan;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use halfhour::Error;
use halfhour::aws::SdkConfig;
use halfhour::aws::autoscaling::AsgScalingGroup;
use halfhour::aws::dynamodb::DynamoStateStore;
use halfhour::aws::ec2::Ec2;
use halfhour::aws::rds::Rds;
use halfhour::aws::sns::notifier;
use halfhour::domain::Loop;
use halfhour::domain::dns::SiteFailovers;
use halfhour::domain::image::{
    BAKE_DOC, CLUSTER_TAG, MANAGED_TAG, RELEASE_TAG, SOURCE_INSTANCE_TAG, db_snapshot_id,
    db_snapshot_prefix, db_snapshots_to_delete, images_to_delete,
};
use halfhour::domain::{
    Canary, Flag, FlagHold, GroupSnapshot, GroupTemplate, ImageRequest, LifecycleState, Notice,
    RefreshRequest, RefreshStatus, StatusChecks,
};
use halfhour::idempotency::{Attempt, run_once};
pub use halfhour::invocation::Invocation;
use halfhour::ports::{
    DbSnapshots, GroupInstances, Images, InstanceStatuses, LaunchTemplates, Notifier, ScalingGroup,
    StateStore, notify_best_effort,
};
use halfhour::state::{doc, read_json, remember_decision, write_json};
use halfhour::telemetry::DecisionRecord;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use config::GoldImageConfig;
pub use input::Input;
use plan::{Bake, FailReason, Observed, Policy, Refusal, RolloutOutcome, Step};

pub const FUNCTION: &str = Loop::GoldImage.function();
/// Steps one invocation may take before it yields to the next trigger.
const MAX_STEPS: usize = 16;

pub struct Deps {
    pub config: GoldImageConfig,
    pub store: Arc<dyn StateStore>,
    pub group: Arc<dyn ScalingGroup>,
    pub instances: Arc<dyn GroupInstances>,
    pub images: Arc<dyn Images>,
    pub statuses: Arc<dyn InstanceStatuses>,
    pub templates: Arc<dyn LaunchTemplates>,
    pub db: Arc<dyn DbSnapshots>,
    pub notifier: Option<Arc<dyn Notifier>>,
}

impl Deps {
    pub fn from_sdk(config: GoldImageConfig, sdk: &SdkConfig) -> Self {
        let asg = Arc::new(AsgScalingGroup::new(sdk));
        let ec2 = Arc::new(Ec2::new(sdk));
        Deps {
            store: Arc::new(DynamoStateStore::new(sdk, config.common.table.clone())),
            group: asg.clone(),
            instances: asg,
            images: ec2.clone(),
            statuses: ec2.clone(),
            templates: ec2,
            db: Arc::new(Rds::new(sdk)),
            notifier: notifier(sdk, config.common.notify_topic_arn.as_ref()),
            config,
        }
    }
}

/// What an invocation did, returned to the caller and logged.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BakeReport {
    pub release: Option<String>,
    pub steps: Vec<Value>,
    pub bake: Option<Value>,
    pub dry_run: bool,
}

pub async fn handle(
    payload: &Value,
    invocation: &Invocation,
    deps: &Deps,
) -> Result<BakeReport, Error> {
    match Input::parse(payload, &deps.config)? {
        Input::Bake {
            instance_id,
            reason,
            dry_run,
        } if dry_run || deps.config.common.dry_run => {
            preview_bake(instance_id.as_deref(), &reason, invocation, deps).await
        }
        Input::Bake {
            instance_id,
            reason,
            ..
        } => {
            preflight(instance_id.as_deref(), deps).await?;
            // Lambda's async retries reuse the request id: a retried invoke is the same bake.
            let key = format!("bake#{}", invocation.request_id);
            let attempt = Attempt::new(
                FUNCTION,
                &key,
                invocation,
                deps.config.common.idempotency_ttl,
            );
            let request = json!({"instance_id": instance_id, "reason": reason});
            run_once(deps.store.as_ref(), attempt, &request, || {
                with_lease(invocation, deps, || {
                    start_bake(instance_id.as_deref(), &reason, invocation, deps)
                })
            })
            .await
            .map(|outcome| outcome.into_inner())
        }
        Input::ImageStateChange { image_id, state } => {
            let Some((bake, _)) = load_bake(deps).await?.filter(|(b, _)| b.is_active()) else {
                return Ok(ignore(&image_id, &state, "no bake is running", deps));
            };
            if bake.image_id.as_deref() != Some(image_id.as_str()) {
                return Ok(ignore(
                    &image_id,
                    &state,
                    "not the running bake's image",
                    deps,
                ));
            }
            with_lease(invocation, deps, || advance(invocation, deps)).await
        }
        Input::Reconcile => reconcile(invocation, deps).await,
        Input::Cancel => with_lease(invocation, deps, || cancel(invocation, deps)).await,
    }
}

/// Mark the running bake cancelled, then take the steps that put its reference back.
async fn cancel(invocation: &Invocation, deps: &Deps) -> Result<BakeReport, Error> {
    let cluster = &deps.config.common.cluster;
    let loaded = load_bake(deps).await?;
    let refused = plan::may_cancel(loaded.as_ref().map(|(b, _)| b));
    DecisionRecord::new(Loop::GoldImage, cluster, "cancel")
        .inputs(json!({"release": loaded.as_ref().map(|(b, _)| &b.release)}))
        .reason(match &refused {
            Ok(()) => {
                "cancelled by an operator: reference back in service, nothing rolled out".to_owned()
            }
            Err(refusal) => format!("refused: {refusal:?}"),
        })
        .dry_run(deps.config.common.dry_run)
        .emit();
    refused.map_err(refusal_error)?;
    if let Some((mut bake, version)) = loaded {
        bake.failure = Some(FailReason::Cancelled);
        save_bake(deps, &bake, Some(version)).await?;
    }
    advance(invocation, deps).await
}

fn ignore(image_id: &str, state: &str, why: &str, deps: &Deps) -> BakeReport {
    DecisionRecord::new(Loop::GoldImage, &deps.config.common.cluster, "ignore")
        .inputs(json!({"image_id": image_id, "state": state}))
        .reason(why)
        .dry_run(deps.config.common.dry_run)
        .emit();
    BakeReport {
        release: None,
        steps: vec![],
        bake: None,
        dry_run: deps.config.common.dry_run,
    }
}

/// Run `work` holding the cluster lease.
async fn with_lease<F, Fut>(
    invocation: &Invocation,
    deps: &Deps,
    work: F,
) -> Result<BakeReport, Error>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<BakeReport, Error>>,
{
    let common = &deps.config.common;
    let owner = invocation.owner(FUNCTION);
    halfhour::invocation::with_lease(
        deps.store.as_ref(),
        &common.cluster,
        &owner,
        invocation.now,
        common.lease,
        work,
    )
    .await
}

async fn observe_group(deps: &Deps) -> Result<GroupSnapshot, Error> {
    halfhour::ports::cluster_group(
        deps.group.as_ref(),
        &deps.config.common.cluster,
        &deps.config.asg_name,
    )
    .await
}

fn refusal_error(refusal: Refusal) -> Error {
    match refusal {
        Refusal::NotInGroup { instance } => {
            Error::bad_event(format!("instance {instance} is not in the cluster's group"))
        }
        Refusal::NotServing { instance, state } => Error::bad_event(format!(
            "instance {instance} is {state}, not InService and healthy: it cannot be the reference"
        )),
        Refusal::AlreadyBaking { by } => {
            Error::Conflict(format!("a bake is already running ({by})"))
        }
        Refusal::Refreshing => {
            Error::Conflict("an instance refresh is running; bake after it".into())
        }
        Refusal::NoHealthyInstance => {
            Error::Conflict("no InService healthy instance to image".into())
        }
        Refusal::Paused => Error::Conflict(
            "halfhour is paused for this cluster: invoke the reconciler with {\"action\": \"resume\"} first".into(),
        ),
        Refusal::NothingToCancel => Error::bad_event("no bake is running: nothing to cancel"),
        Refusal::RolloutBegun { version } => Error::Conflict(format!(
            "the roll-out has begun (launch-template version {version} is the default and the refresh is AWS's): too late to cancel; the refresh rolls back on failure, and the lifecycle breaker reverts a broken image"
        )),
    }
}

/// An instance that is not in the cluster's group is bad input: refused before any write.
/// Everything that depends on the cluster's state is decided under the lease, after the
/// idempotency check, so a duplicate delivery replays instead of being refused.
async fn preflight(requested: Option<&str>, deps: &Deps) -> Result<(), Error> {
    let Some(instance) = requested else {
        return Ok(());
    };
    let group = observe_group(deps).await?;
    match plan::choose_reference(&group, Some(instance)) {
        Err(refusal @ Refusal::NotInGroup { .. }) => Err(refusal_error(refusal)),
        _ => Ok(()),
    }
}

/// The group, and the reference a bake would image now (or why it may not start).
async fn observe_and_choose(
    requested: Option<&str>,
    invocation: &Invocation,
    deps: &Deps,
) -> Result<(GroupSnapshot, Result<String, Refusal>), Error> {
    let group = observe_group(deps).await?;
    let flags = deps.store.read_flags(&deps.config.common.cluster).await?;
    let choice = plan::may_start(&flags, invocation.now)
        .and_then(|()| plan::choose_reference(&group, requested));
    Ok((group, choice))
}

/// Decide what a bake would do, and do nothing.
async fn preview_bake(
    requested: Option<&str>,
    reason: &str,
    invocation: &Invocation,
    deps: &Deps,
) -> Result<BakeReport, Error> {
    let cluster = &deps.config.common.cluster;
    let (group, choice) = observe_and_choose(requested, invocation, deps).await?;
    let record = DecisionRecord::new(Loop::GoldImage, cluster, "bake")
        .inputs(json!({"requested": requested, "reason": reason, "desired": group.desired, "serving": group.serving()}))
        .dry_run(true);
    match choice {
        Ok(reference) => {
            let extra = plan::needs_extra_capacity(&group, &reference, deps.config.min_serving);
            record
                .reason(format!(
                    "would image {reference} with reboot{}",
                    if extra {
                        ", adding one instance first"
                    } else {
                        ""
                    }
                ))
                .emit();
            Ok(BakeReport {
                release: None,
                steps: vec![json!({"would_image": reference, "scale_up_first": extra})],
                bake: None,
                dry_run: true,
            })
        }
        Err(refusal) => {
            record.reason(format!("refused: {refusal:?}")).emit();
            Err(refusal_error(refusal))
        }
    }
}

async fn load_bake(deps: &Deps) -> Result<Option<(Bake, u64)>, Error> {
    read_json(deps.store.as_ref(), &deps.config.common.cluster, BAKE_DOC).await
}

async fn save_bake(deps: &Deps, bake: &Bake, expected: Option<u64>) -> Result<u64, Error> {
    let cluster = &deps.config.common.cluster;
    if !write_json(deps.store.as_ref(), cluster, BAKE_DOC, bake, expected).await? {
        return Err(Error::Conflict(format!(
            "bake state of {cluster} changed underneath"
        )));
    }
    Ok(expected.map_or(1, |v| v + 1))
}

fn flag_owner(release: &str) -> String {
    format!("{FUNCTION}:{release}")
}

async fn start_bake(
    requested: Option<&str>,
    reason: &str,
    invocation: &Invocation,
    deps: &Deps,
) -> Result<BakeReport, Error> {
    let cluster = &deps.config.common.cluster;
    let now = invocation.now;
    let (group, choice) = observe_and_choose(requested, invocation, deps).await?;
    let reference = choice.map_err(|refusal| {
        DecisionRecord::new(Loop::GoldImage, cluster, "refuse")
            .inputs(json!({"requested": requested, "reason": reason}))
            .reason(format!("{refusal:?}"))
            .emit();
        refusal_error(refusal)
    })?;
    let release = format!("r{}", now.0);
    let hold = FlagHold {
        by: flag_owner(&release),
        since: now,
        until: now.plus(deps.config.bake_timeout),
    };
    if !deps
        .store
        .raise_flag(cluster, Flag::Baking, &hold, true, now)
        .await?
    {
        return Err(Error::Conflict(
            "another bake raised the baking flag first".into(),
        ));
    }
    let previous = load_bake(deps).await?;
    if let Some((running, _)) = previous.as_ref().filter(|(b, _)| b.is_active()) {
        deps.store
            .lower_flag(cluster, Flag::Baking, Some(&hold.by))
            .await?;
        return Err(Error::Conflict(format!(
            "bake {} is still running",
            running.release
        )));
    }
    let bake = Bake::new(
        &release,
        reason,
        &reference,
        now,
        now.plus(deps.config.bake_timeout),
    );
    save_bake(deps, &bake, previous.map(|(_, v)| v)).await?;
    DecisionRecord::new(Loop::GoldImage, cluster, "start")
        .inputs(json!({"release": release, "reference": bake.reference, "reason": reason, "desired": group.desired, "serving": group.serving()}))
        .reason(format!("imaging {} with reboot", bake.reference))
        .emit();
    advance(invocation, deps).await
}

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
        return Ok(BakeReport {
            release: None,
            steps: vec![],
            bake: None,
            dry_run,
        });
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
            paused,
            refresh: rollout.refresh,
            failed_over: rollout.failed_over,
            db_failover: rollout.db_failover,
            default_version: rollout.default_version,
            refreshing_until: rollout.refreshing_until,
        };
        let mut step = plan::next_step(&bake, &observed, &policy, invocation.now);
        if step == Step::WaitForReference {
            // Look at the reference's status checks only when the plan needs them.
            let status = deps.statuses.instance_status(&bake.reference).await?;
            observed.reference_status_ok =
                Some(status.running && status.checks == StatusChecks::Ok);
            step = plan::next_step(&bake, &observed, &policy, invocation.now);
        }
        let record = DecisionRecord::new(Loop::GoldImage, cluster, step_name(&step))
            .inputs(json!({"release": bake.release, "reference": bake.reference, "desired": group.desired,
                           "serving": group.serving(), "image": bake.image_id, "image_state": observed.image_state,
                           "refresh": observed.refresh, "canary": bake.canary, "failed_over": observed.failed_over}))
            .reason(format!("{step:?}"))
            .dry_run(dry_run);
        record.emit();
        steps.push(json!(step));
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
        bake: Some(json!(bake)),
        dry_run,
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
        if let Some(id) = &bake.refresh_id {
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

/// Apply one step and record it. Absolute writes record their intent first; everything else
/// is recorded once done, and re-observed (not re-done) on a resume.
async fn apply(
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
        Step::NewTemplateVersion => {
            let template = launch_template(group, deps)?;
            let default = deps.templates.version(template, "$Default").await?;
            let latest = deps.templates.version(template, "$Latest").await?;
            let image = bake.image_id.clone().unwrap_or_default();
            // A resumed bake finds the version its first attempt made by its description.
            // What the group launched until now: the new version copies its settings (not
            // $Default's, which a pinned group does not launch), and the breaker reverts to it.
            let launched = group_template(group, deps)?
                .version
                .number()
                .unwrap_or(default.number);
            let number = if latest.description.as_deref() == Some(bake.release.as_str()) {
                latest.number
            } else {
                deps.templates
                    .create_version(template, launched, &image, &bake.release)
                    .await?
            };
            bake.previous_version.get_or_insert(launched);
            deps.templates.set_default_version(template, number).await?;
            bake.new_version = Some(number);
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
                launch_template_id: template.to_owned(),
                version: bake.new_version.unwrap_or_default(),
                min_healthy_percentage: min_healthy,
                max_healthy_percentage: plan::refresh_max_healthy(min_healthy, group.desired),
                instance_warmup_seconds: i32::try_from(config.instance_warmup.as_secs())
                    .unwrap_or(i32::MAX),
                canary,
                alarms: config.refresh_alarms.clone(),
            };
            match deps.instances.start_instance_refresh(asg, &request).await {
                Ok(id) => bake.refresh_id = Some(id),
                // A resumed bake whose first attempt started the refresh: it is running.
                Err(Error::Conflict(_)) if bake.new_version.is_some() => {}
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
            retain(bake, group, deps).await?;
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

fn launch_template<'a>(group: &'a GroupSnapshot, deps: &Deps) -> Result<&'a str, Error> {
    Ok(group_template(group, deps)?.id.as_str())
}

fn group_template<'a>(group: &'a GroupSnapshot, deps: &Deps) -> Result<&'a GroupTemplate, Error> {
    group.launch_template.as_ref().ok_or_else(|| Error::Aws {
        operation: "DescribeAutoScalingGroups",
        message: format!(
            "group {} has no launch template to roll the image into",
            deps.config.asg_name
        ),
    })
}

fn release_tags(bake: &Bake, cluster: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED_TAG.to_owned(), "true".to_owned()),
        (CLUSTER_TAG.to_owned(), cluster.to_owned()),
        (RELEASE_TAG.to_owned(), bake.release.clone()),
        (SOURCE_INSTANCE_TAG.to_owned(), bake.reference.clone()),
    ])
}

/// Deregister (with snapshots) the managed images beyond the newest N that nothing uses:
/// not the group's, default, latest or rollback launch-template version, nor any instance;
/// then delete the bake DB snapshots whose image is gone.
pub async fn retain(bake: &Bake, group: &GroupSnapshot, deps: &Deps) -> Result<(), Error> {
    let cluster = &deps.config.common.cluster;
    let template = group_template(group, deps)?;
    let mut versions = vec![
        template.version.as_request(),
        "$Default".to_owned(),
        "$Latest".to_owned(),
    ];
    versions.extend(bake.previous_version.map(|v| v.to_string()));
    let template = template.id.as_str();
    let mut referenced = BTreeSet::new();
    for version in &versions {
        referenced.extend(deps.templates.version(template, version).await?.image_id);
    }
    let managed = deps.images.managed_images(cluster).await?;
    let ids: Vec<String> = managed.iter().map(|i| i.id.clone()).collect();
    referenced.extend(deps.images.images_in_use(&ids).await?);
    let doomed = images_to_delete(&managed, deps.config.keep_images, &referenced);
    DecisionRecord::new(Loop::GoldImage, cluster, "retain")
        .inputs(json!({"managed": ids, "referenced": referenced, "keep": deps.config.keep_images}))
        .reason(format!(
            "deregister {:?}",
            doomed.iter().map(|i| &i.id).collect::<Vec<_>>()
        ))
        .emit();
    for image in &doomed {
        deps.images.deregister_with_snapshots(image).await?;
    }
    let Some(db) = deps
        .config
        .db_instance
        .as_deref()
        .filter(|_| deps.config.db_snapshot)
    else {
        return Ok(());
    };
    let mut kept: BTreeSet<String> = managed
        .iter()
        .filter(|i| !doomed.iter().any(|d| d.id == i.id))
        .filter_map(|i| i.tags.get(RELEASE_TAG).cloned())
        .collect();
    kept.insert(bake.release.clone());
    let existing = deps
        .db
        .db_snapshots(db, &db_snapshot_prefix(cluster.as_str()))
        .await?;
    let retired = db_snapshots_to_delete(&existing, cluster.as_str(), &kept);
    DecisionRecord::new(Loop::GoldImage, cluster, "retain_db_snapshots")
        .inputs(json!({"db_snapshots": existing, "kept_releases": kept}))
        .reason(format!("delete {retired:?}"))
        .emit();
    for snapshot in retired {
        deps.db.delete_db_snapshot(&snapshot).await?;
    }
    Ok(())
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
    let new = bake.new_version.unwrap_or_default();
    let previous = bake.previous_version.unwrap_or_default();
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
        None => match &bake.refresh_id {
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
            json!({"release": bake.release, "rolled_out": bake.new_version, "launched": launched, "runs": runs}),
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
            bake.new_version.unwrap_or_default(),
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Repair {
    /// A flag still raised by a bake that is over.
    LowerFlag { flag: Flag, by: String },
    /// The last bake's reference instance is still in Standby.
    ExitStandby { instance: String },
    /// The last bake's reference instance is still protected from scale-in.
    Unprotect { instance: String },
}

/// The reconciler's part: re-drive a running bake (its AMI event may be lost; a timed-out bake
/// fails and puts everything back), lower flags a finished bake left raised, and bring back a
/// reference instance left in Standby.
pub async fn reconcile(invocation: &Invocation, deps: &Deps) -> Result<BakeReport, Error> {
    let cluster = &deps.config.common.cluster;
    let dry_run = deps.config.common.dry_run;
    let last = load_bake(deps).await?;
    if last.as_ref().is_some_and(|(b, _)| b.is_active()) && !dry_run {
        return with_lease(invocation, deps, || advance(invocation, deps)).await;
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
            let running = match &bake.refresh_id {
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
        with_lease(invocation, deps, || async {
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
            Ok(BakeReport {
                release: None,
                steps: vec![],
                bake: None,
                dry_run,
            })
        })
        .await?;
    }
    Ok(BakeReport {
        release: last.map(|(b, _)| b.release),
        steps: repairs.iter().map(|r| json!(r)).collect(),
        bake: None,
        dry_run,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> GoldImageConfig {
        let vars = [
            ("HALFHOUR_TABLE", "t"),
            ("HALFHOUR_CLUSTER", "prod"),
            ("HALFHOUR_ASG_NAME", "web"),
        ];
        GoldImageConfig::from_lookup(halfhour::testing::lookup(&vars)).unwrap()
    }

    fn fixture(name: &str) -> Value {
        halfhour::testing::event_fixture(env!("CARGO_MANIFEST_DIR"), &format!("gold-image/{name}"))
    }

    /// Every shipped event fixture parses to the input it stands for.
    #[test]
    fn event_fixtures_parse() {
        let config = config();
        assert_eq!(
            Input::parse(&fixture("bake.json"), &config).unwrap(),
            Input::Bake {
                instance_id: None,
                reason: "monthly security updates".into(),
                dry_run: false
            }
        );
        assert!(matches!(
            Input::parse(&fixture("bake-from-instance.json"), &config).unwrap(),
            Input::Bake { instance_id: Some(ref id), dry_run: true, .. } if id == "i-0abc12de34f567890"
        ));
        assert_eq!(
            Input::parse(&fixture("ami-available.json"), &config).unwrap(),
            Input::ImageStateChange {
                image_id: "ami-0123456789abcdef0".into(),
                state: "available".into()
            }
        );
        assert!(matches!(
            Input::parse(&fixture("ami-failed.json"), &config).unwrap(),
            Input::ImageStateChange { ref state, .. } if state == "failed"
        ));
        assert_eq!(
            Input::parse(&fixture("reconcile.json"), &config).unwrap(),
            Input::Reconcile
        );
        assert_eq!(
            Input::parse(&fixture("cancel.json"), &config).unwrap(),
            Input::Cancel
        );
    }

    #[test]
    fn there_is_no_way_to_ask_for_no_reboot() {
        let err =
            Input::parse(&json!({"action": "bake", "no_reboot": true}), &config()).unwrap_err();
        assert_eq!(err.kind(), halfhour::ErrorKind::BadEvent);
    }
}
