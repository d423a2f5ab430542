//! The gold-image loop: image a healthy instance of the cluster — always WITH reboot, after
//! taking it out of service — roll the image into a new launch-template version with an
//! instance refresh, and keep only the images that are safe to delete.
//!
//! A bake spans many invocations (the image takes minutes). Each step is recorded in the state
//! table, so a crash, a timeout or a lost `EC2 AMI State Change` event resumes where it
//! stopped: the AMI event, the reconciler's tick and a retried invoke all call [`advance`].

mod advance;
mod apply;
pub mod config;
#[cfg(test)]
mod handler_tests;
pub mod input;
pub mod plan;
mod reconcile;
mod retention;

use std::sync::Arc;

use halfhour::Error;
use halfhour::aws::SdkConfig;
use halfhour::aws::autoscaling::AsgScalingGroup;
use halfhour::aws::ec2::Ec2;
use halfhour::aws::rds::Rds;
use halfhour::core::Core;
use halfhour::domain::image::BAKE_DOC;
use halfhour::domain::{Flag, FlagHold, GroupSnapshot, InstanceId, Loop};
pub use halfhour::invocation::Invocation;
use halfhour::ports::{
    DbSnapshots, GroupInstances, Images, InstanceStatuses, LaunchTemplates, ScalingGroup,
};
use halfhour::state::{StateDoc, read_json};
use halfhour::telemetry::DecisionRecord;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use advance::advance;
pub use config::GoldImageConfig;
pub use input::Input;
use plan::{Bake, FailReason, Refusal, Step};
pub use reconcile::{Repair, reconcile};
pub use retention::retain;

/// The function's name, as its loop gives it (flag holders, notice owners).
pub const FUNCTION: &str = <GoldImageConfig as halfhour::core::LoopConfig>::LOOP.function();

pub struct Deps {
    pub core: Core<GoldImageConfig>,
    pub group: Arc<dyn ScalingGroup>,
    pub instances: Arc<dyn GroupInstances>,
    pub images: Arc<dyn Images>,
    pub statuses: Arc<dyn InstanceStatuses>,
    pub templates: Arc<dyn LaunchTemplates>,
    pub db: Arc<dyn DbSnapshots>,
}

halfhour::loop_deps!(Deps, GoldImageConfig, Loop::GoldImage);

impl Deps {
    pub fn from_sdk(config: GoldImageConfig, sdk: &SdkConfig) -> Self {
        let asg = Arc::new(AsgScalingGroup::new(sdk));
        let ec2 = Arc::new(Ec2::new(sdk));
        Deps {
            group: asg.clone(),
            instances: asg,
            images: ec2.clone(),
            statuses: ec2.clone(),
            templates: ec2,
            db: Arc::new(Rds::new(sdk)),
            core: Core::from_sdk(config, sdk),
        }
    }
}

/// What an invocation did, returned to the caller and logged (and replayed to a duplicate bake
/// request from its idempotency record).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BakeReport {
    pub release: Option<String>,
    /// The bake's steps taken (the last may be a wait).
    pub steps: Vec<Step>,
    /// What the reconciler put back after a bake that is over.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repairs: Vec<Repair>,
    /// A dry-run bake: what a bake would do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview: Option<BakePreview>,
    pub bake: Option<Bake>,
    pub dry_run: bool,
}

impl BakeReport {
    /// Nothing done.
    pub(crate) fn idle(dry_run: bool) -> Self {
        BakeReport {
            release: None,
            steps: vec![],
            repairs: vec![],
            preview: None,
            bake: None,
            dry_run,
        }
    }
}

/// What a bake would do now: image `would_image` with reboot, adding one instance first when
/// the group would otherwise serve fewer than its minimum.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BakePreview {
    pub would_image: InstanceId,
    pub scale_up_first: bool,
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
            preview_bake(instance_id.as_ref(), &reason, invocation, deps).await
        }
        Input::Bake {
            instance_id,
            reason,
            ..
        } => {
            preflight(instance_id.as_ref(), deps).await?;
            // Lambda's async retries reuse the request id: a retried invoke is the same bake.
            let invocation = &invocation.for_event(format!("bake#{}", invocation.request_id));
            let request = json!({"instance_id": instance_id, "reason": reason});
            deps.once(invocation, &request, || {
                deps.with_lease(invocation, || {
                    start_bake(instance_id.as_ref(), &reason, invocation, deps)
                })
            })
            .await
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
            deps.with_lease(invocation, || advance(invocation, deps))
                .await
        }
        Input::Reconcile => reconcile(invocation, deps).await,
        Input::Cancel => {
            deps.with_lease(invocation, || cancel(invocation, deps))
                .await
        }
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
    BakeReport::idle(deps.config.common.dry_run)
}

pub(crate) async fn observe_group(deps: &Deps) -> Result<GroupSnapshot, Error> {
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
async fn preflight(requested: Option<&InstanceId>, deps: &Deps) -> Result<(), Error> {
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
    requested: Option<&InstanceId>,
    invocation: &Invocation,
    deps: &Deps,
) -> Result<(GroupSnapshot, Result<InstanceId, Refusal>), Error> {
    let group = observe_group(deps).await?;
    let flags = deps.store.read_flags(&deps.config.common.cluster).await?;
    let choice = plan::may_start(&flags, invocation.now)
        .and_then(|()| plan::choose_reference(&group, requested));
    Ok((group, choice))
}

/// Decide what a bake would do, and do nothing.
async fn preview_bake(
    requested: Option<&InstanceId>,
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
                preview: Some(BakePreview {
                    would_image: reference,
                    scale_up_first: extra,
                }),
                ..BakeReport::idle(true)
            })
        }
        Err(refusal) => {
            record.reason(format!("refused: {refusal:?}")).emit();
            Err(refusal_error(refusal))
        }
    }
}

pub(crate) async fn load_bake(deps: &Deps) -> Result<Option<(Bake, u64)>, Error> {
    read_json(deps.store.as_ref(), &deps.config.common.cluster, BAKE_DOC).await
}

pub(crate) async fn save_bake(
    deps: &Deps,
    bake: &Bake,
    expected: Option<u64>,
) -> Result<u64, Error> {
    const BAKE: StateDoc<Bake> = StateDoc::new(BAKE_DOC);
    BAKE.save(
        deps.store.as_ref(),
        &deps.config.common.cluster,
        bake,
        expected,
    )
    .await?;
    Ok(expected.map_or(1, |v| v + 1))
}

pub(crate) fn flag_owner(release: &str) -> String {
    format!("{FUNCTION}:{release}")
}

async fn start_bake(
    requested: Option<&InstanceId>,
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
