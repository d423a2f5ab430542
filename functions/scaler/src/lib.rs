//! The scaling loop: a CloudWatch alarm transition (alarm action, EventBridge or SNS) steps
//! the cluster's desired capacity, always inside its bounds, with cooldowns, and never in
//! against a bake, a refresh, a DB failover or instances still waiting on their launch hook.
//! halfhour's scaler is the one writer of desired capacity: it writes under the cluster lease.

pub mod config;
pub mod input;
pub mod plan;

use std::sync::Arc;

use halfhour::Error;
use halfhour::aws::SdkConfig;
use halfhour::aws::autoscaling::AsgScalingGroup;
use halfhour::aws::cloudwatch::CloudWatchAlarms;
use halfhour::aws::dynamodb::DynamoStateStore;
use halfhour::aws::ec2::Ec2;
use halfhour::aws::sns::notifier;
use halfhour::domain::Loop;
use halfhour::domain::{
    AlarmState, AlarmTransition, CapacityWriter, LifecycleState, Millis, Notice,
};
use halfhour::idempotency::{Attempt, run_once};
pub use halfhour::invocation::Invocation;
use halfhour::invocation::{Decided, lease_to_act};
use halfhour::ports::{
    Alarms, CapacityWriters, InstanceMonitoring, Notifier, ScalingGroup, StateStore,
    notify_best_effort,
};
use halfhour::state::{read_json_or_default, remember_decision, write_json};
use halfhour::telemetry::DecisionRecord;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use config::ScalerConfig;
pub use input::Input;
use plan::{
    BoundReached, HoldReason, Observed, RefusedScaleIn, ScaleDecision, bound_reached, plan_scale,
    track_refusal,
};

pub const FUNCTION: &str = Loop::Scaling.function();
/// The state-table document holding the cooldown clock and the last applied change.
const STATE_DOC: &str = halfhour::state::doc::SCALER;
/// Whether basic monitoring on the group's instances has been reported (and not cleared since).
const MONITORING_DOC: &str = halfhour::state::doc::SCALER_MONITORING;
/// Which scaling policies and scheduled actions on the group have been reported.
const COEXISTENCE_DOC: &str = halfhour::state::doc::SCALER_COEXISTENCE;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
struct MonitoringReport {
    reported: bool,
}

/// The other writers of the group's desired capacity last reported (none: never, or gone).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
struct CoexistenceReport {
    writers: Vec<CapacityWriter>,
}

pub struct Deps {
    pub config: ScalerConfig,
    pub store: Arc<dyn StateStore>,
    pub group: Arc<dyn ScalingGroup>,
    pub alarms: Arc<dyn Alarms>,
    pub monitoring: Arc<dyn InstanceMonitoring>,
    /// The group's own scaling policies and scheduled actions, which would fight the scaler.
    pub writers: Arc<dyn CapacityWriters>,
    pub notifier: Option<Arc<dyn Notifier>>,
}

impl Deps {
    pub fn from_sdk(config: ScalerConfig, sdk: &SdkConfig) -> Self {
        Deps {
            store: Arc::new(DynamoStateStore::new(sdk, config.common.table.clone())),
            group: Arc::new(AsgScalingGroup::new(sdk)),
            writers: Arc::new(AsgScalingGroup::new(sdk)),
            alarms: Arc::new(CloudWatchAlarms::new(sdk)),
            monitoring: Arc::new(Ec2::new(sdk)),
            notifier: notifier(sdk, config.common.notify_topic_arn.as_ref()),
            config,
        }
    }
}

/// What brought the scaler to decide: an alarm event, or the reconciler's tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    Event,
    Reconcile,
}

/// Persisted between invocations, so cold starts respect the cooldowns and a re-driven event
/// re-applies its own change instead of stepping again.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
struct ScalerState {
    last_scale_out: Option<Millis>,
    last_scale_in: Option<Millis>,
    last_event: Option<String>,
    last_target: Option<u32>,
    /// The scale-in alarm the guards keep refusing, when one is.
    #[serde(default)]
    refused_in: Option<RefusedScaleIn>,
}

/// What the handler answers (and stores for duplicate deliveries).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ScaleOutcome {
    pub alarm: String,
    pub decision: Value,
    pub desired: Option<u32>,
    pub dry_run: bool,
}

/// What one invocation answers: the alarm's outcome, or one per alarm the tick re-evaluated.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(untagged)]
pub enum ScalerReport {
    Alarm(ScaleOutcome),
    Reconcile(Vec<ScaleOutcome>),
}

/// One invocation of the function, whatever it was asked.
pub async fn invoke(
    payload: &Value,
    invocation: &Invocation,
    deps: &Deps,
) -> Result<ScalerReport, Error> {
    Ok(match Input::parse(payload, &deps.config)? {
        Input::Reconcile => ScalerReport::Reconcile(reconcile(invocation, deps).await?),
        Input::Alarm(alarm) => ScalerReport::Alarm(on_alarm(alarm, invocation, deps).await?),
    })
}

/// The reconciler's part: alarm actions fire once per transition, so an alarm still in ALARM
/// is re-evaluated on every tick; the cooldowns, bounds and guards decide whether it steps.
pub async fn reconcile(invocation: &Invocation, deps: &Deps) -> Result<Vec<ScaleOutcome>, Error> {
    if let Err(err) = check_monitoring(invocation.now, deps).await {
        tracing::warn!(error = %err, "detailed-monitoring check failed; scaling goes on");
    }
    if let Err(err) = check_coexistence(invocation.now, deps).await {
        tracing::warn!(error = %err, "capacity-writer check failed; scaling goes on");
    }
    let names: Vec<String> = deps.config.steps.keys().cloned().collect();
    let mut outcomes = Vec::new();
    for status in deps.alarms.alarm_states(&names).await? {
        let Some(step) = deps.config.step_for(&status.name) else {
            continue;
        };
        if status.state != AlarmState::Alarm {
            continue;
        }
        let tick = AlarmTransition {
            alarm_name: status.name,
            state: status.state,
            previous: None,
            changed_at: status.since,
        };
        let outcome = if deps.config.common.dry_run {
            decide_and_apply(&tick, step, invocation, deps, false, Origin::Reconcile).await?
        } else {
            under_lease(&tick, step, invocation, deps, Origin::Reconcile).await?
        };
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

/// The CPU alarms evaluate one-minute periods: instances on basic monitoring send a datapoint
/// every five minutes, so scale-in never fires and scale-out is late. Reported once while it
/// lasts (a decision record and a notification); halfhour does not change the instances.
async fn check_monitoring(now: Millis, deps: &Deps) -> Result<(), Error> {
    let config = &deps.config;
    let cluster = &config.common.cluster;
    let Some(group) = deps.group.describe_group(&config.asg_name).await? else {
        return Ok(());
    };
    let serving: Vec<String> = group
        .instances
        .iter()
        .filter(|i| i.state == LifecycleState::InService)
        .map(|i| i.id.clone())
        .collect();
    let basic = deps.monitoring.basic_monitoring(&serving).await?;
    let seen = MonitoringReport {
        reported: !basic.is_empty(),
    };
    let record = DecisionRecord::new(
        Loop::Scaling,
        cluster,
        if basic.is_empty() {
            "monitoring_ok"
        } else {
            "report_basic_monitoring"
        },
    )
    .inputs(json!({"in_service": serving, "basic_monitoring": basic}))
    .reason("one-minute CPU alarms need detailed monitoring on every instance");
    let notice = (!basic.is_empty()).then(|| {
        Notice::new(
            Loop::Scaling,
            cluster,
            "basic-monitoring",
            "instances on basic monitoring",
            format!(
                "{} of {} InService instances of {cluster}'s group {} send CPU metrics every five minutes (basic monitoring): the one-minute scaling alarms see too few datapoints, so scale-in never fires and scale-out is late: {}.",
                basic.len(),
                serving.len(),
                config.asg_name,
                basic.join(", ")
            ),
        )
        .decision("report_basic_monitoring")
        .next_step("Enable detailed monitoring in the launch template (Monitoring: Enabled: true) and refresh the instances.")
        .resource(&config.asg_name)
    });
    report_change(deps, MONITORING_DOC, &seen, record, notice, now).await
}

/// Scaling policies and scheduled actions on the group write desired capacity too, and would
/// fight the scaler's SetDesiredCapacity: reported once while they are there (which ones).
async fn check_coexistence(now: Millis, deps: &Deps) -> Result<(), Error> {
    let config = &deps.config;
    let cluster = &config.common.cluster;
    let seen = CoexistenceReport {
        writers: deps.writers.capacity_writers(&config.asg_name).await?,
    };
    let named: Vec<String> = seen.writers.iter().map(ToString::to_string).collect();
    let record = DecisionRecord::new(
        Loop::Scaling,
        cluster,
        if named.is_empty() {
            "sole_capacity_writer"
        } else {
            "report_other_capacity_writers"
        },
    )
    .inputs(json!({"group": config.asg_name, "writers": seen.writers}))
    .reason("one writer of desired capacity: halfhour's scaler, or the group's own policies");
    let notice = (!named.is_empty()).then(|| {
        Notice::new(
            Loop::Scaling,
            cluster,
            "other-capacity-writers",
            "has other capacity writers",
            format!(
                "{cluster}'s group {} changes its desired capacity by itself too: {}. They and halfhour's scaler would fight over it (each undoing the other's change).",
                config.asg_name,
                named.join(", "),
            ),
        )
        .decision("report_other_capacity_writers")
        .next_step(format!("Keep one: delete them (aws autoscaling delete-policy / delete-scheduled-action --auto-scaling-group-name {}),", config.asg_name))
        .next_step("or turn halfhour's scaling loop off (EnableScaling=false).")
        .resource(&config.asg_name)
    });
    report_change(deps, COEXISTENCE_DOC, &seen, record, notice, now).await
}

/// Report a condition once while it lasts: the document keeps what was last reported; only a
/// change is recorded, and notified when there is something to say.
async fn report_change<T>(
    deps: &Deps,
    doc: &str,
    seen: &T,
    record: DecisionRecord,
    notice: Option<Notice>,
    now: Millis,
) -> Result<(), Error>
where
    T: Serialize + serde::de::DeserializeOwned + Default + PartialEq,
{
    let config = &deps.config;
    let cluster = &config.common.cluster;
    let (reported, version) = read_json_or_default::<T>(deps.store.as_ref(), cluster, doc).await?;
    if &reported == seen {
        return Ok(()); // nothing new: reported while it lasts, or fine and never reported
    }
    record.dry_run(config.common.dry_run).emit();
    if config.common.dry_run
        || !write_json(deps.store.as_ref(), cluster, doc, seen, version).await?
    {
        return Ok(()); // observe mode, or another tick is reporting it
    }
    if let Some(notice) = notice {
        notify_best_effort(deps.notifier.as_ref(), deps.store.as_ref(), notice, now).await;
    }
    Ok(())
}

/// One alarm payload: parse → (idempotency, lease) → observe → plan → apply → one decision
/// record. `reconcile` is not an alarm: it has [`reconcile`].
pub async fn handle(
    payload: &Value,
    invocation: &Invocation,
    deps: &Deps,
) -> Result<ScaleOutcome, Error> {
    match Input::parse(payload, &deps.config)? {
        Input::Alarm(alarm) => on_alarm(alarm, invocation, deps).await,
        Input::Reconcile => Err(Error::bad_event(
            "`reconcile` answers every alarm: see scaler::reconcile",
        )),
    }
}

async fn on_alarm(
    alarm: AlarmTransition,
    invocation: &Invocation,
    deps: &Deps,
) -> Result<ScaleOutcome, Error> {
    let step = deps.config.step_for(&alarm.alarm_name).ok_or_else(|| {
        Error::bad_event(format!(
            "alarm `{}` is not one of cluster {}'s scaling alarms ({})",
            alarm.alarm_name,
            deps.config.common.cluster,
            deps.config
                .steps
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    if alarm.state != AlarmState::Alarm || deps.config.common.dry_run {
        // Nothing to write: decide from what is observable and say so.
        return decide_and_apply(&alarm, step, invocation, deps, false, Origin::Event).await;
    }
    let key = alarm.event_key();
    let attempt = Attempt::new(
        FUNCTION,
        &key,
        invocation,
        deps.config.common.idempotency_ttl,
    );
    run_once(deps.store.as_ref(), attempt, &alarm, || {
        under_lease(&alarm, step, invocation, deps, Origin::Event)
    })
    .await
    .map(|outcome| outcome.into_inner())
}

async fn under_lease(
    alarm: &AlarmTransition,
    step: i32,
    invocation: &Invocation,
    deps: &Deps,
    origin: Origin,
) -> Result<ScaleOutcome, Error> {
    let common = &deps.config.common;
    lease_to_act(
        deps.store.as_ref(),
        &common.cluster,
        &invocation.owner(FUNCTION),
        invocation.now,
        common.lease,
        || decide(alarm, step, invocation, deps, true, origin),
        |decided| apply(decided, alarm, invocation, deps),
    )
    .await
}

async fn decide_and_apply(
    alarm: &AlarmTransition,
    step: i32,
    invocation: &Invocation,
    deps: &Deps,
    act: bool,
    origin: Origin,
) -> Result<ScaleOutcome, Error> {
    let decided = decide(alarm, step, invocation, deps, act, origin).await?;
    apply(decided, alarm, invocation, deps).await
}

/// What the scaler saw and chose for one alarm, before it changes anything.
struct ScaleDecided {
    decision: ScaleDecision,
    /// Whether the change is applied (an alarm in ALARM outside observe mode).
    act: bool,
    /// The decision re-applies a recorded change (a re-driven event) instead of stepping again.
    reapply: bool,
    desired: u32,
    state: ScalerState,
    version: Option<u64>,
    event_key: String,
    /// What the scaler last set, when the group's desired capacity is no longer that.
    changed_elsewhere: Option<u32>,
    /// The bounds the decision kept to (halfhour's within the group's own).
    bounds: halfhour::domain::Bounds,
    record: DecisionRecord,
}

impl Decided for ScaleDecided {
    fn changes_something(&self) -> bool {
        match self.decision {
            ScaleDecision::Set { to, .. } => self.act && (!self.reapply || to != self.desired),
            ScaleDecision::Hold { .. } => false,
        }
    }
}

async fn decide(
    alarm: &AlarmTransition,
    step: i32,
    invocation: &Invocation,
    deps: &Deps,
    act: bool,
    origin: Origin,
) -> Result<ScaleDecided, Error> {
    let config = &deps.config;
    let cluster = &config.common.cluster;
    let group =
        halfhour::ports::cluster_group(deps.group.as_ref(), cluster, &config.asg_name).await?;
    let flags = deps.store.read_flags(cluster).await?;
    let (state, version) =
        read_json_or_default::<ScalerState>(deps.store.as_ref(), cluster, STATE_DOC).await?;
    // A reconcile tick is its own change: only a re-driven event replays a recorded one.
    let event_key = match origin {
        Origin::Event => alarm.event_key(),
        Origin::Reconcile => format!("{}#reconcile@{}", alarm.event_key(), invocation.now.0),
    };
    let observed = Observed {
        desired: group.desired,
        group_bounds: group.bounds,
        pending_wait: group.count_in(&LifecycleState::PendingWait),
        raised_flags: flags.raised(invocation.now),
        last_scale_out: state.last_scale_out,
        last_scale_in: state.last_scale_in,
    };
    // A re-driven event whose change was recorded but maybe not applied: apply that change again.
    let (decision, reapply) = match (state.last_event.as_deref(), state.last_target) {
        (Some(key), Some(target)) if key == event_key && act => (
            ScaleDecision::Set {
                from: group.desired,
                to: target,
                direction: if target >= group.desired {
                    plan::Direction::Out
                } else {
                    plan::Direction::In
                },
            },
            true,
        ),
        _ => (
            plan_scale(
                &observed,
                step,
                alarm.state,
                config.bounds,
                &config.cooldowns,
                invocation.now,
            ),
            false,
        ),
    };
    // Desired capacity moved since the scaler's own last change: someone else writes it too.
    let changed_elsewhere = state
        .last_target
        .filter(|target| *target != group.desired && !reapply);
    let record = DecisionRecord::new(Loop::Scaling, cluster, action_name(&decision))
        .inputs(json!({"origin": origin, "alarm": alarm, "step": step, "observed": observed, "reapply": reapply,
                       "last_set_by_scaler": state.last_target, "changed_elsewhere": changed_elsewhere.is_some()}))
        .guards(observed.raised_flags.iter().map(|f| f.as_str()))
        .reason(match decision {
            ScaleDecision::Hold { reason } => format!("{reason:?}"),
            ScaleDecision::Set { from, to, .. } => format!("desired {from} -> {to}"),
        })
        .dry_run(config.common.dry_run);
    Ok(ScaleDecided {
        decision,
        act: act && !config.common.dry_run,
        reapply,
        desired: group.desired,
        state,
        version,
        event_key,
        changed_elsewhere,
        bounds: config.bounds.within(group.bounds),
        record,
    })
}

async fn apply(
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

fn action_name(decision: &ScaleDecision) -> &'static str {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Value {
        halfhour::testing::event_fixture(env!("CARGO_MANIFEST_DIR"), &format!("scaler/{name}"))
    }

    /// Every shipped event fixture parses to the transition it describes.
    #[test]
    fn event_fixtures_parse() {
        let cases = [
            (
                "alarm-action.json",
                "prod-cpu-high",
                "2026-11-27T13:47:30.123+0000",
            ),
            (
                "eventbridge-alarm.json",
                "prod-cpu-low",
                "2026-11-27T14:02:44.215+0000",
            ),
            (
                "sns-alarm.json",
                "prod-cpu-high",
                "2026-11-27T15:10:05.870+0000",
            ),
        ];
        let config = ScalerConfig::from_lookup(halfhour::testing::lookup(&[
            ("HALFHOUR_TABLE", "t"),
            ("HALFHOUR_CLUSTER", "prod"),
            ("HALFHOUR_ASG_NAME", "prod-web"),
            (
                "HALFHOUR_SCALING_ALARMS",
                "prod-cpu-high=+2,prod-cpu-low=-1",
            ),
        ]))
        .unwrap();
        for (file, alarm, at) in cases {
            let Input::Alarm(t) = Input::parse(&fixture(file), &config).unwrap() else {
                panic!("{file} is not an alarm");
            };
            assert_eq!(t.alarm_name, alarm, "{file}");
            assert_eq!(t.state, AlarmState::Alarm, "{file}");
            assert_eq!(t.previous, Some(AlarmState::Ok), "{file}");
            assert_eq!(
                Some(t.changed_at),
                halfhour::domain::parse_timestamp(at).ok(),
                "{file}"
            );
        }
        assert_eq!(
            Input::parse(&fixture("reconcile.json"), &config).unwrap(),
            Input::Reconcile
        );
    }
}
