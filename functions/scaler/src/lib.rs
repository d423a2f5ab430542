//! The scaling loop: a CloudWatch alarm transition (alarm action, EventBridge or SNS) steps
//! the cluster's desired capacity, always inside its bounds, with cooldowns, and never in
//! against a bake, a refresh, a DB failover or instances still waiting on their launch hook.
//! halfhour's scaler is the one writer of desired capacity: it writes under the cluster lease.

mod apply;
pub mod config;
#[cfg(test)]
mod handler_tests;
pub mod input;
mod notices;
pub mod plan;
mod reports;

use std::sync::Arc;

use halfhour::Error;
use halfhour::aws::SdkConfig;
use halfhour::aws::autoscaling::AsgScalingGroup;
use halfhour::aws::cloudwatch::CloudWatchAlarms;
use halfhour::aws::ec2::Ec2;
use halfhour::core::Core;
use halfhour::domain::Loop;
use halfhour::domain::{AlarmState, AlarmTransition, LifecycleState};
use halfhour::invocation::Decided;
pub use halfhour::invocation::Invocation;
use halfhour::ports::{Alarms, CapacityWriters, InstanceMonitoring, ScalingGroup};
use halfhour::state::{Loaded, StateDoc};
use halfhour::telemetry::DecisionRecord;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use apply::apply;
pub use config::ScalerConfig;
pub use input::Input;
use notices::action_name;
use plan::{Observed, ScaleDecision, ScalerState, plan_scale};
use reports::{check_coexistence, check_monitoring};

/// The state-table document holding the cooldown clock and the last applied change.
const STATE: StateDoc<ScalerState> = StateDoc::new(halfhour::state::doc::SCALER);

pub struct Deps {
    pub core: Core<ScalerConfig>,
    pub group: Arc<dyn ScalingGroup>,
    pub alarms: Arc<dyn Alarms>,
    pub monitoring: Arc<dyn InstanceMonitoring>,
    /// The group's own scaling policies and scheduled actions, which would fight the scaler.
    pub writers: Arc<dyn CapacityWriters>,
}

halfhour::loop_deps!(Deps, ScalerConfig, Loop::Scaling);

impl Deps {
    pub fn from_sdk(config: ScalerConfig, sdk: &SdkConfig) -> Self {
        Deps {
            group: Arc::new(AsgScalingGroup::new(sdk)),
            writers: Arc::new(AsgScalingGroup::new(sdk)),
            alarms: Arc::new(CloudWatchAlarms::new(sdk)),
            monitoring: Arc::new(Ec2::new(sdk)),
            core: Core::from_sdk(config, sdk),
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

/// What the handler answers (and stores for duplicate deliveries).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ScaleOutcome {
    pub alarm: String,
    pub decision: ScaleDecision,
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
    let invocation = &invocation.for_event(alarm.event_key());
    deps.once(invocation, &alarm, || {
        under_lease(&alarm, step, invocation, deps, Origin::Event)
    })
    .await
}

async fn under_lease(
    alarm: &AlarmTransition,
    step: i32,
    invocation: &Invocation,
    deps: &Deps,
    origin: Origin,
) -> Result<ScaleOutcome, Error> {
    deps.lease_to_act(
        invocation,
        || decide(alarm, step, invocation, deps, true, origin),
        |decided| apply(decided, invocation, deps),
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
    apply(decided, invocation, deps).await
}

/// What the scaler saw and chose for one alarm, before it changes anything.
struct ScaleDecided {
    decision: ScaleDecision,
    /// Whether the change is applied (an alarm in ALARM outside observe mode).
    act: bool,
    /// The decision re-applies a recorded change (a re-driven event) instead of stepping again.
    reapply: bool,
    desired: u32,
    /// What carrying the decision out takes (none unless acting).
    steps: Vec<plan::Step>,
    version: Option<u64>,
    record: DecisionRecord,
    outcome: ScaleOutcome,
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
    let Loaded {
        value: state,
        version,
    } = STATE.load(deps.store.as_ref(), cluster).await?;
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
    let reapplied = plan::plan_reapply(&state, &event_key, group.desired).filter(|_| act);
    let reapply = reapplied.is_some();
    let decision = reapplied.unwrap_or_else(|| {
        plan_scale(
            &observed,
            step,
            alarm.state,
            config.bounds,
            &config.cooldowns,
            invocation.now,
        )
    });
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
    let act = act && !config.common.dry_run;
    let steps = plan::steps(
        &plan::Chosen {
            decision,
            act,
            reapply,
            observed_desired: group.desired,
            state: &state,
            event_key: &event_key,
            changed_elsewhere,
            bounds: config.bounds.within(group.bounds),
            alarm,
            now: invocation.now,
        },
        config,
    );
    let desired = match decision {
        ScaleDecision::Set { to, .. } if act => to,
        _ => group.desired,
    };
    Ok(ScaleDecided {
        decision,
        act,
        reapply,
        desired: group.desired,
        steps,
        version,
        record,
        outcome: ScaleOutcome {
            alarm: alarm.alarm_name.clone(),
            decision,
            desired: Some(desired),
            dry_run: config.common.dry_run,
        },
    })
}
