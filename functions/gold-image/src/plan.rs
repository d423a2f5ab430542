//! The bake as a pure state machine: from what was recorded and what is observed, the one
//! next step. No I/O, no clock of its own; the handler applies the step and records it.

use serde::{Deserialize, Serialize};

use halfhour::domain::image::Rollout;
use halfhour::domain::{
    Canary, Flag, GroupSnapshot, ImageId, ImageState, InstanceId, LifecycleState, Millis,
    ModeFlags, RefreshStatus, RefreshView, TemplateVersion,
};

/// A bake as persisted in the state table: each field is a fact recorded when its step is done
/// (absolute writes record their intent first), so a crash at any point resumes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Bake {
    pub release: String,
    pub reason: String,
    pub reference: InstanceId,
    pub started_at: Millis,
    pub deadline: Millis,
    /// Set when the group had no spare serving instance and one was added first.
    pub scaled_up_to: Option<u32>,
    pub db_snapshot: Option<String>,
    pub image_id: Option<ImageId>,
    /// The `$Default`/`$Latest` the group named before the bake pinned it to that version's
    /// number (AWS rolls back only to a numbered version).
    #[serde(default)]
    pub pinned_from: Option<TemplateVersion>,
    /// The versions of the roll-out and its refresh, as the lifecycle breaker reads them.
    #[serde(flatten)]
    pub rollout: Rollout,
    pub refresh_started: bool,
    #[serde(default)]
    pub refresh_started_at: Option<Millis>,
    /// The canary the refresh was started with (None: one pass).
    #[serde(default)]
    pub canary: Option<Canary>,
    /// How far the refresh stood when halfhour first saw the canary serve: the refresh waits
    /// its bake time there.
    #[serde(default)]
    pub canary_reached: Option<u32>,
    /// The refresh's phase when halfhour last looked (the cluster status shows it).
    #[serde(default)]
    pub refresh_phase: Option<RefreshPhase>,
    /// halfhour asked AWS to roll the refresh back, and why.
    #[serde(default)]
    pub rollback_requested: Option<RollbackCause>,
    /// How the refresh ended. A rolled-back image is bad: this bake's record says so and nothing
    /// rolls it out again.
    #[serde(default)]
    pub outcome: Option<RolloutOutcome>,
    /// The template's default, moved to the bad version by the roll-out, was put back.
    #[serde(default)]
    pub default_restored: bool,
    pub retained: bool,
    /// The version the group was found on instead of the rolled-out one, examined once: reported
    /// unless it runs the gold image too.
    #[serde(default)]
    pub drift_reported: Option<TemplateVersion>,
    pub failure: Option<FailReason>,
    pub finished: bool,
}

impl Bake {
    /// A bake that has chosen its reference and done nothing yet.
    pub fn new(
        release: &str,
        reason: &str,
        reference: &InstanceId,
        started_at: Millis,
        deadline: Millis,
    ) -> Self {
        Bake {
            release: release.to_owned(),
            reason: reason.to_owned(),
            reference: reference.clone(),
            started_at,
            deadline,
            scaled_up_to: None,
            db_snapshot: None,
            image_id: None,
            pinned_from: None,
            rollout: Rollout::default(),
            refresh_started: false,
            refresh_started_at: None,
            canary: None,
            canary_reached: None,
            refresh_phase: None,
            rollback_requested: None,
            outcome: None,
            default_restored: false,
            retained: false,
            drift_reported: None,
            failure: None,
            finished: false,
        }
    }

    pub fn is_active(&self) -> bool {
        !self.finished
    }
}

/// How a roll-out's instance refresh ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RolloutOutcome {
    /// Every instance runs the new image.
    Successful,
    /// AWS put the previous image back on every instance the refresh had replaced.
    RolledBack { reason: String },
    /// The rollback itself failed: the group may run both images.
    RollbackFailed { reason: String },
    /// The refresh failed and was not rolled back.
    Failed { reason: String },
    /// Someone cancelled the refresh: what it replaced stays replaced.
    Cancelled,
    /// AWS does not know the refresh (its id was never recorded): nothing to watch.
    Unobserved,
}

impl RolloutOutcome {
    /// The new image failed on the cluster: never rolled out again.
    pub fn image_is_bad(&self) -> bool {
        matches!(
            self,
            RolloutOutcome::RolledBack { .. }
                | RolloutOutcome::RollbackFailed { .. }
                | RolloutOutcome::Failed { .. }
        )
    }

    /// How a refresh that AWS reports ended, or None while it runs.
    pub fn of(refresh: &RefreshView) -> Option<RolloutOutcome> {
        let reason = || {
            refresh
                .rollback_reason
                .clone()
                .or_else(|| refresh.status_reason.clone())
                .unwrap_or_default()
        };
        Some(match &refresh.status {
            RefreshStatus::Successful => RolloutOutcome::Successful,
            RefreshStatus::RollbackSuccessful => RolloutOutcome::RolledBack { reason: reason() },
            RefreshStatus::RollbackFailed => RolloutOutcome::RollbackFailed { reason: reason() },
            RefreshStatus::Failed => RolloutOutcome::Failed { reason: reason() },
            RefreshStatus::Cancelled => RolloutOutcome::Cancelled,
            _ => return None,
        })
    }
}

/// Why halfhour asked AWS to roll a refresh back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RollbackCause {
    /// DNS failed over to the static site while the canary served: a canary is not proven
    /// under an outage, and the one change in flight is the new image.
    SiteFailedOver,
}

/// Where a running refresh is, as the status and the cluster's decision records show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RefreshPhase {
    /// AWS accepted the refresh and has not begun.
    Starting,
    /// The canary share is being replaced (launched, warmed up).
    Canary,
    /// The canary serves alone for its bake time (AWS's checkpoint delay).
    CanaryBake,
    /// The rest of the group is being replaced.
    Rolling,
    /// AWS is putting the previous image back.
    RollingBack,
    /// The refresh is being cancelled.
    Stopping,
}

/// The phase of a refresh that runs: AWS reports its status and how much is replaced; the
/// canary's bake time is the stretch the refresh stands at the percentage the canary reached.
pub fn refresh_phase(bake: &Bake, refresh: &RefreshView) -> RefreshPhase {
    let done = refresh.percentage_complete;
    match (&refresh.status, bake.canary) {
        (RefreshStatus::Pending, _) => RefreshPhase::Starting,
        (RefreshStatus::RollbackInProgress, _) => RefreshPhase::RollingBack,
        (RefreshStatus::Cancelling, _) => RefreshPhase::Stopping,
        (_, Some(canary)) if done < canary.percentage => RefreshPhase::Canary,
        (_, Some(_)) if done < 100 && bake.canary_reached.is_none_or(|at| done <= at) => {
            RefreshPhase::CanaryBake
        }
        _ => RefreshPhase::Rolling,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FailReason {
    /// EC2 reported the image `failed`.
    ImageFailed,
    /// The bake outlived its timeout.
    TimedOut,
    /// The reference instance left the group (terminated, detached) mid-bake.
    ReferenceLost,
    /// The group is at MaxSize and has no spare serving instance to keep the site up.
    NoRoomToScaleUp,
    /// An operator cancelled it before anything was rolled out.
    Cancelled,
}

/// What the plan needs to see before choosing the next step.
#[derive(Debug, Clone)]
pub struct Observed<'a> {
    pub group: &'a GroupSnapshot,
    /// The state of the recorded image, if one was requested and EC2 knows it.
    pub image_state: Option<ImageState>,
    /// Both EC2 status checks of the reference pass (None: not looked at yet).
    pub reference_status_ok: Option<bool>,
    /// A launch-template version this bake made already: `$Latest`, described as its release (a
    /// first attempt made it and died before recording it). Looked at only before one is made.
    pub made_version: Option<i64>,
    /// An operator paused halfhour: the bake waits where it is (a failed or cancelled one still
    /// puts its reference back, which only gives the cluster back).
    pub paused: bool,
    /// The roll-out's refresh as AWS reports it, while the bake watches it (None there: AWS
    /// does not know it).
    pub refresh: Option<RefreshView>,
    /// DNS failed over to the static site since the refresh started.
    pub failed_over: bool,
    /// A DB failover window is open: an outage it explains is not the canary's.
    pub db_failover: bool,
    /// The launch template's default version, once a roll-out ended with a bad image.
    pub default_version: Option<i64>,
    /// Until when the `refreshing` flag holds the cluster (no scale-in, no bake).
    pub refreshing_until: Option<Millis>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub min_serving: u32,
    pub db_snapshot: bool,
    /// How long the `refreshing` flag holds; a refresh outlasting it would let scale-in in
    /// mid-refresh, so the watch renews it once less than half is left.
    pub refresh_hold: std::time::Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Step {
    /// Add one instance first, so the site keeps `min_serving` while the reference is out.
    ScaleUp {
        to: u32,
    },
    WaitForCapacity,
    /// halfhour is paused: no step until `resume`.
    Paused,
    /// Protect the reference from scale-in, so nothing terminates it mid-bake.
    Protect,
    /// Take the reference out of service (the load balancer stops sending it traffic).
    EnterStandby,
    /// The load balancer still drains the reference (EnteringStandby): no reboot yet.
    WaitForStandby,
    SnapshotDb,
    /// CreateImage with reboot.
    CreateImage,
    WaitForImage,
    /// The image is available; the reference is still coming back from its reboot.
    WaitForReference,
    ExitStandby,
    Unprotect,
    /// The group names `$Default`/`$Latest`: name the number it resolves to now instead, so a
    /// new default launches nothing before the refresh and the refresh can roll back.
    PinGroup,
    /// A new numbered launch-template version with the image, made the default.
    NewTemplateVersion,
    /// The version a first attempt of this bake made (`number`), made the default: a resumed
    /// bake makes no second one.
    AdoptTemplateVersion {
        number: i64,
    },
    StartRefresh,
    /// The canary serves: record where the refresh stands (its bake time is spent there).
    CanaryServing {
        percentage: u32,
    },
    /// The refresh runs longer than its flag holds: hold the cluster again.
    RenewRefreshHold,
    /// The refresh moved to another phase: record it.
    EnterPhase {
        phase: RefreshPhase,
    },
    /// AWS replaces, waits at the canary, or rolls back; halfhour watches.
    WatchRefresh {
        phase: RefreshPhase,
    },
    /// RollbackInstanceRefresh: AWS puts the previous image back on what it replaced.
    RollBack {
        cause: RollbackCause,
    },
    /// The refresh ended: record how.
    RecordOutcome {
        outcome: RolloutOutcome,
    },
    /// The image is bad and the template's default still names it: the previous version is the
    /// default again, so nothing launched from `$Default` runs the bad image.
    RestoreDefault {
        version: i64,
    },
    Retain,
    Finish,
    Fail {
        reason: FailReason,
    },
}

impl Step {
    pub fn is_wait(&self) -> bool {
        matches!(
            self,
            Step::WaitForCapacity
                | Step::Paused
                | Step::WaitForStandby
                | Step::WaitForImage
                | Step::WaitForReference
                | Step::WatchRefresh { .. }
        )
    }
}

/// Why a bake may not start, or may not start from the requested instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Refusal {
    AlreadyBaking {
        by: String,
    },
    Refreshing,
    NotInGroup {
        instance: InstanceId,
    },
    NotServing {
        instance: InstanceId,
        state: String,
    },
    NoHealthyInstance,
    Paused,
    /// `cancel` with no bake running.
    NothingToCancel,
    /// `cancel` after the new launch-template version exists: the roll-out is the refresh's
    /// (and its rollback's) to finish.
    RolloutBegun {
        version: i64,
    },
}

/// After a roll-out whose refresh succeeded, the group launches the new version (or the previous
/// one, if the breaker reverted it). Anything else was written by someone else (a stack update
/// re-resolving its image, say): the version it launches now, if so.
pub fn drifted_from_rollout(bake: &Bake, group: &GroupSnapshot) -> Option<TemplateVersion> {
    let launched = group.launch_template.as_ref()?.version;
    let expected = [bake.rollout.new_version?, bake.rollout.previous_version?];
    (bake.failure.is_none() && !expected.map(TemplateVersion::Number).contains(&launched))
        .then_some(launched)
}

/// A bake may start when no other bake and no instance refresh is running.
pub fn may_start(flags: &ModeFlags, now: Millis) -> Result<(), Refusal> {
    if let Some(hold) = flags.hold(Flag::Baking).filter(|h| h.until > now) {
        return Err(Refusal::AlreadyBaking {
            by: hold.by.clone(),
        });
    }
    if flags.is_raised(Flag::Refreshing, now) {
        return Err(Refusal::Refreshing);
    }
    if flags.is_raised(Flag::Paused, now) {
        return Err(Refusal::Paused);
    }
    Ok(())
}

/// A bake may be cancelled while nothing of it is rolled out: its reference goes back into
/// service, its flag is lowered, and the image it made (if any) is left to retention.
pub fn may_cancel(bake: Option<&Bake>) -> Result<(), Refusal> {
    let bake = bake
        .filter(|b| b.is_active() && b.failure.is_none())
        .ok_or(Refusal::NothingToCancel)?;
    match bake.rollout.new_version {
        Some(version) => Err(Refusal::RolloutBegun { version }),
        None => Ok(()),
    }
}

/// The reference: the requested instance, if it is InService and healthy in this group, else
/// the first InService healthy instance (by id, so a retry picks the same one).
pub fn choose_reference(
    group: &GroupSnapshot,
    requested: Option<&InstanceId>,
) -> Result<InstanceId, Refusal> {
    if let Some(id) = requested {
        let instance = group.instance(id).ok_or_else(|| Refusal::NotInGroup {
            instance: id.clone(),
        })?;
        if instance.state != LifecycleState::InService || !instance.healthy {
            return Err(Refusal::NotServing {
                instance: id.clone(),
                state: format!("{:?}", instance.state),
            });
        }
        return Ok(id.clone());
    }
    group
        .instances
        .iter()
        .filter(|i| i.state == LifecycleState::InService && i.healthy)
        .map(|i| i.id.clone())
        .min()
        .ok_or(Refusal::NoHealthyInstance)
}

/// True when taking `reference` out of service would leave fewer than the floor serving.
/// The floor is `min_serving` or the group's MinSize, whichever is higher.
pub fn needs_extra_capacity(group: &GroupSnapshot, reference: &str, min_serving: u32) -> bool {
    let reference_serving = group
        .instance(reference)
        .is_some_and(|i| i.state == LifecycleState::InService && i.healthy);
    let serving_without = group.serving() - usize::from(reference_serving);
    serving_without < min_serving.max(group.bounds.min) as usize
}

/// The refresh's MinHealthyPercentage: the configured one, but never so low that fewer than
/// `min_serving` instances keep serving.
pub fn refresh_min_healthy(configured: u32, min_serving: u32, desired: u32) -> i32 {
    let floor = (100 * min_serving).div_ceil(desired.max(1));
    configured.max(floor).min(100) as i32
}

/// The refresh's MaxHealthyPercentage: room for at least one instance above the desired
/// capacity, so AWS launches each replacement before it terminates the instance it replaces
/// and the group never serves fewer than it did. AWS allows 100..=200 and at most 100 above the
/// minimum.
pub fn refresh_max_healthy(min_healthy: i32, desired: u32) -> i32 {
    let one_instance = 100 + 100_u32.div_ceil(desired.max(1)) as i32;
    let same_batch = 200 - min_healthy;
    one_instance.max(same_batch).min(200).min(min_healthy + 100)
}

pub fn next_step(bake: &Bake, observed: &Observed<'_>, policy: &Policy, now: Millis) -> Step {
    let group = observed.group;
    let reference = group.instance(&bake.reference);
    if bake.failure.is_some() {
        // Put the reference back the way it was, then finish.
        return match reference {
            Some(r) if r.state == LifecycleState::EnteringStandby => Step::WaitForStandby,
            Some(r) if r.state == LifecycleState::Standby => Step::ExitStandby,
            Some(r) if r.protected_from_scale_in => Step::Unprotect,
            _ => Step::Finish,
        };
    }
    if observed.paused {
        return Step::Paused;
    }
    if bake.rollout.new_version.is_some() {
        // Rolled out: the refresh replaces the reference too, so it is no longer looked at.
        return rollout_step(bake, observed, policy, now);
    }
    let Some(reference) = reference else {
        return Step::Fail {
            reason: FailReason::ReferenceLost,
        };
    };
    if now >= bake.deadline && bake.rollout.new_version.is_none() {
        return Step::Fail {
            reason: FailReason::TimedOut,
        };
    }
    if bake.image_id.is_none() {
        return match reference.state {
            LifecycleState::InService => {
                if needs_extra_capacity(group, &bake.reference, policy.min_serving) {
                    return match bake.scaled_up_to {
                        Some(_) => Step::WaitForCapacity,
                        None if group.desired + 1 > group.bounds.max => Step::Fail {
                            reason: FailReason::NoRoomToScaleUp,
                        },
                        None => Step::ScaleUp {
                            to: group.desired + 1,
                        },
                    };
                }
                if !reference.protected_from_scale_in {
                    return Step::Protect;
                }
                Step::EnterStandby
            }
            LifecycleState::EnteringStandby => Step::WaitForStandby,
            LifecycleState::Standby if policy.db_snapshot && bake.db_snapshot.is_none() => {
                Step::SnapshotDb
            }
            LifecycleState::Standby => Step::CreateImage,
            _ => Step::Fail {
                reason: FailReason::ReferenceLost,
            },
        };
    }
    match observed.image_state {
        Some(ImageState::Available) => {}
        Some(ImageState::Failed) => {
            return Step::Fail {
                reason: FailReason::ImageFailed,
            };
        }
        _ if now >= bake.deadline => {
            return Step::Fail {
                reason: FailReason::TimedOut,
            };
        }
        _ => return Step::WaitForImage,
    }
    if reference.state == LifecycleState::Standby {
        return match observed.reference_status_ok {
            Some(true) => Step::ExitStandby,
            _ => Step::WaitForReference,
        };
    }
    if reference.protected_from_scale_in {
        return Step::Unprotect;
    }
    let floating = group
        .launch_template
        .as_ref()
        .is_some_and(|t| t.version.number().is_none());
    match observed.made_version {
        _ if floating => Step::PinGroup,
        Some(number) => Step::AdoptTemplateVersion { number },
        None => Step::NewTemplateVersion,
    }
}

/// After the new version is the default: start the refresh, watch it to its end, put the default
/// back if the image turned out bad, retain, finish.
fn rollout_step(bake: &Bake, observed: &Observed<'_>, policy: &Policy, now: Millis) -> Step {
    if !bake.refresh_started {
        return Step::StartRefresh;
    }
    let Some(outcome) = &bake.outcome else {
        return watch_refresh(bake, observed, policy, now);
    };
    if outcome.image_is_bad()
        && !bake.default_restored
        && observed.default_version.is_some()
        && observed.default_version == bake.rollout.new_version
        && let Some(version) = bake.rollout.previous_version
    {
        return Step::RestoreDefault { version };
    }
    if !bake.retained {
        return Step::Retain;
    }
    Step::Finish
}

fn watch_refresh(bake: &Bake, observed: &Observed<'_>, policy: &Policy, now: Millis) -> Step {
    let Some(refresh) = &observed.refresh else {
        return Step::RecordOutcome {
            outcome: RolloutOutcome::Unobserved,
        };
    };
    if let Some(outcome) = RolloutOutcome::of(refresh) {
        return Step::RecordOutcome { outcome };
    }
    let phase = refresh_phase(bake, refresh);
    let on_canary = matches!(phase, RefreshPhase::Canary | RefreshPhase::CanaryBake);
    if on_canary
        && observed.failed_over
        && !observed.db_failover
        && bake.rollback_requested.is_none()
        && refresh.status.may_roll_back()
    {
        return Step::RollBack {
            cause: RollbackCause::SiteFailedOver,
        };
    }
    if phase == RefreshPhase::CanaryBake && bake.canary_reached.is_none() {
        return Step::CanaryServing {
            percentage: refresh.percentage_complete,
        };
    }
    if observed
        .refreshing_until
        .is_none_or(|until| until < now.plus(policy.refresh_hold / 2))
    {
        return Step::RenewRefreshHold;
    }
    if bake.refresh_phase != Some(phase) {
        return Step::EnterPhase { phase };
    }
    Step::WatchRefresh { phase }
}

#[cfg(test)]
mod tests {
    use super::*;
    use halfhour::domain::{Bounds, FlagHold, GroupInstance, GroupTemplate};

    fn instance(id: &str, state: LifecycleState, protected: bool) -> GroupInstance {
        GroupInstance {
            id: id.into(),
            state,
            healthy: true,
            protected_from_scale_in: protected,
        }
    }

    fn group(instances: Vec<GroupInstance>, desired: u32) -> GroupSnapshot {
        GroupSnapshot {
            name: "web".into(),
            bounds: Bounds { min: 2, max: 10 },
            desired,
            instances,
            launch_template: Some(GroupTemplate {
                id: "lt-1".into(),
                version: TemplateVersion::Number(1),
            }),
            target_group_arns: vec![],
            warm_pool: false,
        }
    }

    fn bake() -> Bake {
        Bake::new("r1", "test", &"i-a".into(), Millis(0), Millis(1_000_000))
    }

    const POLICY: Policy = Policy {
        min_serving: 2,
        db_snapshot: true,
        refresh_hold: std::time::Duration::from_secs(3600),
    };

    fn step(
        bake: &Bake,
        group: &GroupSnapshot,
        image: Option<ImageState>,
        ok: Option<bool>,
    ) -> Step {
        let observed = Observed {
            group,
            image_state: image,
            reference_status_ok: ok,
            made_version: None,
            paused: false,
            refresh: None,
            failed_over: false,
            db_failover: false,
            default_version: None,
            refreshing_until: Some(Millis(i64::MAX)),
        };
        next_step(bake, &observed, &POLICY, Millis(10))
    }

    use LifecycleState::*;

    #[test]
    fn two_serving_instances_scale_up_first_then_wait() {
        let g = group(
            vec![
                instance("i-a", InService, false),
                instance("i-b", InService, false),
            ],
            2,
        );
        assert_eq!(step(&bake(), &g, None, None), Step::ScaleUp { to: 3 });
        let scaled = Bake {
            scaled_up_to: Some(3),
            ..bake()
        };
        let g3 = group(
            vec![
                instance("i-a", InService, false),
                instance("i-b", InService, false),
                instance("i-c", PendingWait, false),
            ],
            3,
        );
        assert_eq!(step(&scaled, &g3, None, None), Step::WaitForCapacity);
    }

    #[test]
    fn full_path_in_order() {
        let three = |a: LifecycleState, protected| {
            group(
                vec![
                    instance("i-a", a, protected),
                    instance("i-b", InService, false),
                    instance("i-c", InService, false),
                ],
                3,
            )
        };
        let b = bake();
        assert_eq!(
            step(&b, &three(InService, false), None, None),
            Step::Protect
        );
        assert_eq!(
            step(&b, &three(InService, true), None, None),
            Step::EnterStandby
        );
        assert_eq!(
            step(&b, &three(Standby, true), None, None),
            Step::SnapshotDb
        );
        let b = Bake {
            db_snapshot: Some("s".into()),
            ..b
        };
        assert_eq!(
            step(&b, &three(Standby, true), None, None),
            Step::CreateImage
        );
        let b = Bake {
            image_id: Some("ami-1".into()),
            ..b
        };
        assert_eq!(
            step(&b, &three(Standby, true), Some(ImageState::Pending), None),
            Step::WaitForImage
        );
        assert_eq!(
            step(&b, &three(Standby, true), Some(ImageState::Available), None),
            Step::WaitForReference
        );
        assert_eq!(
            step(
                &b,
                &three(Standby, true),
                Some(ImageState::Available),
                Some(true)
            ),
            Step::ExitStandby
        );
        assert_eq!(
            step(
                &b,
                &three(InService, true),
                Some(ImageState::Available),
                None
            ),
            Step::Unprotect
        );
        assert_eq!(
            step(
                &b,
                &three(InService, false),
                Some(ImageState::Available),
                None
            ),
            Step::NewTemplateVersion
        );
        let b = Bake {
            rollout: Rollout {
                new_version: Some(2),
                ..Rollout::default()
            },
            ..b
        };
        assert_eq!(
            step(
                &b,
                &three(InService, false),
                Some(ImageState::Available),
                None
            ),
            Step::StartRefresh
        );
        let b = Bake {
            refresh_started: true,
            ..b
        };
        assert_eq!(
            step(
                &b,
                &three(InService, false),
                Some(ImageState::Available),
                None
            ),
            Step::RecordOutcome {
                outcome: RolloutOutcome::Unobserved
            },
            "a refresh AWS does not know has nothing to watch"
        );
        let b = Bake {
            outcome: Some(RolloutOutcome::Successful),
            ..b
        };
        assert_eq!(
            step(
                &b,
                &three(InService, false),
                Some(ImageState::Available),
                None
            ),
            Step::Retain
        );
        let b = Bake {
            retained: true,
            ..b
        };
        assert_eq!(
            step(
                &b,
                &three(InService, false),
                Some(ImageState::Available),
                None
            ),
            Step::Finish
        );
    }

    #[test]
    fn failures_put_the_reference_back() {
        let g = group(
            vec![
                instance("i-a", Standby, true),
                instance("i-b", InService, false),
                instance("i-c", InService, false),
            ],
            2,
        );
        let b = Bake {
            image_id: Some("ami-1".into()),
            ..bake()
        };
        assert_eq!(
            step(&b, &g, Some(ImageState::Failed), None),
            Step::Fail {
                reason: FailReason::ImageFailed
            }
        );
        let failed = Bake {
            failure: Some(FailReason::ImageFailed),
            ..b
        };
        assert_eq!(
            step(&failed, &g, Some(ImageState::Failed), None),
            Step::ExitStandby
        );
        let back = group(vec![instance("i-a", InService, true)], 1);
        assert_eq!(step(&failed, &back, None, None), Step::Unprotect);
        let done = group(vec![instance("i-a", InService, false)], 1);
        assert_eq!(step(&failed, &done, None, None), Step::Finish);
    }

    #[test]
    fn timeouts_and_lost_references_fail() {
        let g = group(vec![instance("i-b", InService, false)], 1);
        assert_eq!(
            step(&bake(), &g, None, None),
            Step::Fail {
                reason: FailReason::ReferenceLost
            }
        );
        let g = group(vec![instance("i-a", Standby, true)], 1);
        let late = Bake {
            deadline: Millis(5),
            image_id: Some("ami".into()),
            ..bake()
        };
        assert_eq!(
            step(&late, &g, Some(ImageState::Pending), None),
            Step::Fail {
                reason: FailReason::TimedOut
            }
        );
    }

    #[test]
    fn at_max_with_no_spare_instance_refuses() {
        let mut g = group(
            vec![
                instance("i-a", InService, false),
                instance("i-b", InService, false),
            ],
            2,
        );
        g.bounds = Bounds { min: 2, max: 2 };
        assert_eq!(
            step(&bake(), &g, None, None),
            Step::Fail {
                reason: FailReason::NoRoomToScaleUp
            }
        );
    }

    #[test]
    fn reference_choice() {
        let g = group(
            vec![
                instance("i-b", InService, false),
                instance("i-a", InService, false),
                instance("i-c", PendingWait, false),
            ],
            3,
        );
        assert_eq!(choose_reference(&g, None), Ok("i-a".into()));
        assert_eq!(choose_reference(&g, Some(&"i-b".into())), Ok("i-b".into()));
        assert!(matches!(
            choose_reference(&g, Some(&"i-c".into())),
            Err(Refusal::NotServing { .. })
        ));
        assert!(matches!(
            choose_reference(&g, Some(&"i-zzz".into())),
            Err(Refusal::NotInGroup { .. })
        ));
        assert_eq!(
            choose_reference(&group(vec![], 0), None),
            Err(Refusal::NoHealthyInstance)
        );
    }

    #[test]
    fn a_second_bake_or_a_bake_during_a_refresh_is_refused() {
        let hold = |by: &str| FlagHold {
            by: by.into(),
            since: Millis(0),
            until: Millis(100),
        };
        let baking = ModeFlags {
            holds: vec![(Flag::Baking, hold("gold-image:r1"))],
        };
        assert_eq!(
            may_start(&baking, Millis(50)),
            Err(Refusal::AlreadyBaking {
                by: "gold-image:r1".into()
            })
        );
        assert_eq!(may_start(&baking, Millis(100)), Ok(()));
        let refreshing = ModeFlags {
            holds: vec![(Flag::Refreshing, hold("gold-image:r1"))],
        };
        assert_eq!(may_start(&refreshing, Millis(50)), Err(Refusal::Refreshing));
        let paused = ModeFlags {
            holds: vec![(Flag::Paused, hold("operator"))],
        };
        assert_eq!(may_start(&paused, Millis(50)), Err(Refusal::Paused));
    }

    #[test]
    fn a_paused_bake_waits_but_a_cancelled_one_puts_its_reference_back() {
        let g = group(
            vec![
                instance("i-a", Standby, true),
                instance("i-b", InService, false),
                instance("i-c", InService, false),
            ],
            2,
        );
        let paused = |bake: &Bake| {
            let observed = Observed {
                group: &g,
                image_state: None,
                reference_status_ok: None,
                made_version: None,
                paused: true,
                refresh: None,
                failed_over: false,
                db_failover: false,
                default_version: None,
                refreshing_until: Some(Millis(i64::MAX)),
            };
            next_step(bake, &observed, &POLICY, Millis(10))
        };
        assert_eq!(paused(&bake()), Step::Paused);
        assert!(Step::Paused.is_wait());
        let cancelled = Bake {
            failure: Some(FailReason::Cancelled),
            ..bake()
        };
        assert_eq!(paused(&cancelled), Step::ExitStandby);
    }

    #[test]
    fn only_a_bake_with_nothing_rolled_out_can_be_cancelled() {
        assert_eq!(may_cancel(None), Err(Refusal::NothingToCancel));
        assert_eq!(may_cancel(Some(&bake())), Ok(()));
        let finished = Bake {
            finished: true,
            ..bake()
        };
        assert_eq!(may_cancel(Some(&finished)), Err(Refusal::NothingToCancel));
        let rolled = Bake {
            rollout: Rollout {
                new_version: Some(7),
                ..Rollout::default()
            },
            ..bake()
        };
        assert_eq!(
            may_cancel(Some(&rolled)),
            Err(Refusal::RolloutBegun { version: 7 })
        );
    }

    #[test]
    fn the_reference_reboots_only_once_it_reached_standby() {
        let g = |a: LifecycleState| {
            group(
                vec![
                    instance("i-a", a, true),
                    instance("i-b", InService, false),
                    instance("i-c", InService, false),
                ],
                2,
            )
        };
        assert_eq!(
            step(&bake(), &g(EnteringStandby), None, None),
            Step::WaitForStandby
        );
        let failed = Bake {
            failure: Some(FailReason::TimedOut),
            ..bake()
        };
        assert_eq!(
            step(&failed, &g(EnteringStandby), None, None),
            Step::WaitForStandby
        );
        assert_eq!(step(&failed, &g(Standby), None, None), Step::ExitStandby);
    }

    #[test]
    fn a_group_on_default_is_pinned_before_the_new_version() {
        let mut g = group(
            vec![
                instance("i-a", InService, false),
                instance("i-b", InService, false),
                instance("i-c", InService, false),
            ],
            3,
        );
        let b = Bake {
            image_id: Some("ami-1".into()),
            ..bake()
        };
        for floating in [TemplateVersion::Default, TemplateVersion::Latest] {
            g.launch_template = Some(GroupTemplate {
                id: "lt-1".into(),
                version: floating,
            });
            assert_eq!(
                step(&b, &g, Some(ImageState::Available), None),
                Step::PinGroup
            );
        }
        g.launch_template = Some(GroupTemplate {
            id: "lt-1".into(),
            version: TemplateVersion::Number(4),
        });
        assert_eq!(
            step(&b, &g, Some(ImageState::Available), None),
            Step::NewTemplateVersion
        );
    }

    #[test]
    fn the_breaker_reads_the_roll_out_from_the_bake_through_one_type() {
        let recorded = Bake {
            rollout: Rollout {
                previous_version: Some(3),
                new_version: Some(4),
                refresh_id: Some("r-9".into()),
            },
            ..bake()
        };
        let stored = serde_json::to_value(&recorded).expect("serialisable");
        assert_eq!(
            (
                &stored["previous_version"],
                &stored["new_version"],
                &stored["refresh_id"]
            ),
            (
                &serde_json::json!(3),
                &serde_json::json!(4),
                &serde_json::json!("r-9")
            ),
            "the document's shape is the one earlier releases wrote"
        );
        let seen: Rollout = serde_json::from_value(stored.clone()).expect("the breaker's view");
        assert_eq!(seen, recorded.rollout);
        let back: Bake = serde_json::from_value(stored).expect("the bake");
        assert_eq!(back, recorded);
    }

    #[test]
    fn a_group_moved_off_the_rollout_is_drift() {
        let done = Bake {
            rollout: Rollout {
                previous_version: Some(1),
                new_version: Some(2),
                refresh_id: None,
            },
            refresh_started: true,
            finished: true,
            ..bake()
        };
        let mut g = group(vec![], 2);
        for (version, drifted) in [
            (TemplateVersion::Number(2), false),
            (TemplateVersion::Number(1), false),
            (TemplateVersion::Number(3), true),
            (TemplateVersion::Default, true),
        ] {
            g.launch_template = Some(GroupTemplate {
                id: "lt-1".into(),
                version,
            });
            assert_eq!(
                drifted_from_rollout(&done, &g).is_some(),
                drifted,
                "{version:?}"
            );
        }
        let failed = Bake {
            failure: Some(FailReason::TimedOut),
            ..done
        };
        assert_eq!(drifted_from_rollout(&failed, &g), None);
    }

    #[test]
    fn refreshes_launch_before_they_terminate() {
        for desired in 1..=10 {
            let min = refresh_min_healthy(90, 2, desired);
            let max = refresh_max_healthy(min, desired);
            assert!(
                (100..=200).contains(&max) && max - min <= 100,
                "{desired}: {min}/{max}"
            );
            let room = (desired as i32 * max / 100) - desired as i32;
            assert!(
                room >= 1,
                "{desired} instances: {min}/{max} leaves no room above desired"
            );
        }
    }

    #[test]
    fn refresh_keeps_the_serving_floor() {
        assert_eq!(refresh_min_healthy(90, 2, 3), 90);
        assert_eq!(refresh_min_healthy(50, 2, 3), 67);
        assert_eq!(refresh_min_healthy(50, 2, 2), 100);
        assert_eq!(refresh_min_healthy(50, 2, 10), 50);
    }

    fn watching(canary: Option<Canary>, reached: Option<u32>) -> Bake {
        Bake {
            image_id: Some("ami-2".into()),
            rollout: Rollout {
                previous_version: Some(1),
                new_version: Some(2),
                refresh_id: Some("r-1".into()),
            },
            refresh_started: true,
            refresh_started_at: Some(Millis(5)),
            canary,
            canary_reached: reached,
            ..bake()
        }
    }

    fn refresh(status: RefreshStatus, done: u32) -> RefreshView {
        RefreshView {
            status,
            percentage_complete: done,
            status_reason: None,
            rollback_reason: Some("The CloudWatch alarm web-5xx went into the ALARM state.".into()),
        }
    }

    /// The step once the phase is recorded (see `a_new_phase_is_recorded_once`).
    fn watch(bake: &Bake, refresh: RefreshView, failed_over: bool, db_failover: bool) -> Step {
        let recorded = Bake {
            refresh_phase: Some(refresh_phase(bake, &refresh)),
            ..bake.clone()
        };
        watch_as_recorded(&recorded, refresh, failed_over, db_failover)
    }

    fn watch_as_recorded(
        bake: &Bake,
        refresh: RefreshView,
        failed_over: bool,
        db_failover: bool,
    ) -> Step {
        // The reference is gone: the refresh replaced it, and that is no failure any more.
        let g = group(vec![instance("i-new", InService, false)], 3);
        let observed = Observed {
            group: &g,
            image_state: Some(ImageState::Available),
            reference_status_ok: None,
            made_version: None,
            paused: false,
            refresh: Some(refresh),
            failed_over,
            db_failover,
            default_version: Some(2),
            refreshing_until: Some(Millis(i64::MAX)),
        };
        next_step(bake, &observed, &POLICY, Millis(10))
    }

    const CANARY: Canary = Canary {
        percentage: 33,
        bake_seconds: 600,
    };

    #[test]
    fn a_refresh_goes_canary_then_bake_time_then_rolling() {
        use RefreshStatus::*;
        let fresh = watching(Some(CANARY), None);
        let phase = |bake: &Bake, status, done| watch(bake, refresh(status, done), false, false);
        assert_eq!(
            phase(&fresh, Pending, 0),
            Step::WatchRefresh {
                phase: RefreshPhase::Starting
            }
        );
        assert_eq!(
            phase(&fresh, InProgress, 0),
            Step::WatchRefresh {
                phase: RefreshPhase::Canary
            }
        );
        assert_eq!(
            phase(&fresh, InProgress, 33),
            Step::CanaryServing { percentage: 33 },
            "the first look at a serving canary is recorded"
        );
        let serving = watching(Some(CANARY), Some(33));
        assert_eq!(
            phase(&serving, InProgress, 33),
            Step::WatchRefresh {
                phase: RefreshPhase::CanaryBake
            }
        );
        assert_eq!(
            phase(&serving, InProgress, 66),
            Step::WatchRefresh {
                phase: RefreshPhase::Rolling
            }
        );
        assert_eq!(
            phase(&watching(None, None), InProgress, 0),
            Step::WatchRefresh {
                phase: RefreshPhase::Rolling
            },
            "without a canary the refresh rolls from the start"
        );
        assert_eq!(
            phase(&serving, Successful, 100),
            Step::RecordOutcome {
                outcome: RolloutOutcome::Successful
            }
        );
    }

    #[test]
    fn a_fail_over_during_the_canary_rolls_it_back_and_only_then() {
        use RefreshStatus::*;
        let serving = watching(Some(CANARY), Some(33));
        let rollback = Step::RollBack {
            cause: RollbackCause::SiteFailedOver,
        };
        assert_eq!(
            watch(&serving, refresh(InProgress, 33), true, false),
            rollback
        );
        assert_eq!(
            watch(
                &watching(Some(CANARY), None),
                refresh(InProgress, 0),
                true,
                false
            ),
            rollback,
            "still launching the canary"
        );
        assert_eq!(
            watch(&serving, refresh(InProgress, 33), true, true),
            Step::WatchRefresh {
                phase: RefreshPhase::CanaryBake
            },
            "a DB failover explains the outage"
        );
        assert_eq!(
            watch(&serving, refresh(InProgress, 66), true, false),
            Step::WatchRefresh {
                phase: RefreshPhase::Rolling
            },
            "past the canary, the refresh's own alarms decide"
        );
        let asked = Bake {
            rollback_requested: Some(RollbackCause::SiteFailedOver),
            ..serving.clone()
        };
        assert_eq!(
            watch(&asked, refresh(InProgress, 33), true, false),
            Step::WatchRefresh {
                phase: RefreshPhase::CanaryBake
            },
            "asked once"
        );
        assert_eq!(
            watch(&serving, refresh(RollbackInProgress, 0), true, false),
            Step::WatchRefresh {
                phase: RefreshPhase::RollingBack
            }
        );
    }

    #[test]
    fn a_rolled_back_image_is_bad_and_the_default_goes_back() {
        let serving = watching(Some(CANARY), Some(33));
        let outcome = match watch(
            &serving,
            refresh(RefreshStatus::RollbackSuccessful, 100),
            false,
            false,
        ) {
            Step::RecordOutcome { outcome } => outcome,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            outcome,
            RolloutOutcome::RolledBack {
                reason: "The CloudWatch alarm web-5xx went into the ALARM state.".into()
            }
        );
        assert!(outcome.image_is_bad());
        let ended = Bake {
            outcome: Some(outcome),
            ..serving
        };
        assert_eq!(
            watch(
                &ended,
                refresh(RefreshStatus::RollbackSuccessful, 100),
                false,
                false
            ),
            Step::RestoreDefault { version: 1 }
        );
        let restored = Bake {
            default_restored: true,
            ..ended
        };
        assert_eq!(
            watch(
                &restored,
                refresh(RefreshStatus::RollbackSuccessful, 100),
                false,
                false
            ),
            Step::Retain
        );
        assert!(!RolloutOutcome::Successful.image_is_bad());
        assert!(!RolloutOutcome::Cancelled.image_is_bad());
    }

    #[test]
    fn a_new_phase_is_recorded_once() {
        let serving = watching(Some(CANARY), Some(33));
        let rolling = refresh(RefreshStatus::InProgress, 66);
        assert_eq!(
            watch_as_recorded(&serving, rolling.clone(), false, false),
            Step::EnterPhase {
                phase: RefreshPhase::Rolling
            }
        );
        let recorded = Bake {
            refresh_phase: Some(RefreshPhase::Rolling),
            ..serving
        };
        assert_eq!(
            watch_as_recorded(&recorded, rolling, false, false),
            Step::WatchRefresh {
                phase: RefreshPhase::Rolling
            }
        );
    }

    #[test]
    fn a_refresh_outlasting_its_hold_renews_it_before_it_ends() {
        let serving = watching(Some(CANARY), Some(33));
        let g = group(vec![instance("i-new", InService, false)], 3);
        let watched = |until: Option<Millis>| {
            let observed = Observed {
                group: &g,
                image_state: Some(ImageState::Available),
                reference_status_ok: None,
                made_version: None,
                paused: false,
                refresh: Some(refresh(RefreshStatus::InProgress, 66)),
                failed_over: false,
                db_failover: false,
                default_version: None,
                refreshing_until: until,
            };
            let recorded = Bake {
                refresh_phase: Some(RefreshPhase::Rolling),
                ..serving.clone()
            };
            next_step(&recorded, &observed, &POLICY, Millis(10))
        };
        assert_eq!(watched(None), Step::RenewRefreshHold, "the hold expired");
        assert_eq!(
            watched(Some(Millis(10).plus(POLICY.refresh_hold / 2))),
            Step::WatchRefresh {
                phase: RefreshPhase::Rolling
            },
            "held long enough"
        );
        assert_eq!(
            watched(Some(Millis(10_000))),
            Step::RenewRefreshHold,
            "less than half the hold left"
        );
    }

    #[test]
    fn a_canary_is_one_instance_of_any_group() {
        for desired in 2..=10_u32 {
            let canary = Canary::one_instance(desired, 600);
            assert!(
                100 >= canary.percentage * desired,
                "one new instance reaches it ({desired})"
            );
            assert!(
                canary.percentage > 0,
                "no instance short of it does ({desired})"
            );
        }
        assert_eq!(Canary::one_instance(3, 600).percentage, 33);
    }
}
