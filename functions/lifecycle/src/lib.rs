//! The lifecycle loop: a launching instance goes InService only when it is really healthy
//! (running, EC2 status checks passing, and the application answering its health path on the
//! instance); a broken one is abandoned — unless a DB failover explains it, or abandons have
//! tripped the circuit breaker. A terminating instance leaves only once drained, within a bound.
//!
//! Lifecycle events are best-effort and may be duplicated: each action is idempotent on its
//! token, "No active Lifecycle Action" is success once the instance is confirmed out of its
//! wait state, and the reconcile tick drives instances whose event was lost.

mod apply;
mod breaker;
pub mod config;
#[cfg(test)]
mod handler_tests;
pub mod input;
mod outcome;
pub mod plan;
mod reconcile;

use std::collections::BTreeMap;
use std::sync::Arc;

use halfhour::Error;
use halfhour::aws::SdkConfig;
use halfhour::aws::autoscaling::AsgScalingGroup;
use halfhour::aws::ec2::Ec2;
use halfhour::aws::elbv2::ElbTargetGroups;
use halfhour::aws::ssm::SsmProbe;
use halfhour::core::Core;
use halfhour::domain::Loop;
use halfhour::domain::{
    Flag, GroupSnapshot, HandsOff, InstanceId, LifecycleAction, LifecycleState,
    LifecycleTransition, Millis, ProbeOutcome, StatusChecks, WarmPoolMove,
};
pub use halfhour::invocation::Invocation;
use halfhour::ports::{
    GroupInstances, HealthProbe, InstanceStatuses, LaunchTemplates, LifecycleActions, ScalingGroup,
    TargetGroups,
};
use halfhour::state::StateDoc;
use halfhour::telemetry::DecisionRecord;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use config::LifecycleConfig;
pub use input::Input;
pub use outcome::{ActionOutcome, Decision};
use plan::{LaunchDecision, LaunchObserved, TerminateDecision};
pub use reconcile::reconcile;

/// The state-table document: when each waiting instance was first seen, and recent abandons.
const STATE: StateDoc<LoopState> = StateDoc::new(halfhour::state::doc::LIFECYCLE);

pub struct Deps {
    pub core: Core<LifecycleConfig>,
    pub group: Arc<dyn ScalingGroup>,
    pub actions: Arc<dyn LifecycleActions>,
    pub statuses: Arc<dyn InstanceStatuses>,
    pub probe: Arc<dyn HealthProbe>,
    pub targets: Arc<dyn TargetGroups>,
    pub templates: Arc<dyn LaunchTemplates>,
    /// The breaker's revert: refresh rollback and the group's launch-template version.
    pub instances: Arc<dyn GroupInstances>,
}

halfhour::loop_deps!(Deps, LifecycleConfig, Loop::Lifecycle);

impl Deps {
    pub fn from_sdk(config: LifecycleConfig, sdk: &SdkConfig) -> Self {
        let asg = Arc::new(AsgScalingGroup::new(sdk));
        let ec2 = Arc::new(Ec2::new(sdk));
        Deps {
            group: asg.clone(),
            actions: asg.clone(),
            instances: asg,
            statuses: ec2.clone(),
            probe: Arc::new(SsmProbe::new(sdk)),
            targets: Arc::new(ElbTargetGroups::new(sdk)),
            templates: ec2,
            core: Core::from_sdk(config, sdk),
        }
    }
}

/// Persisted between invocations.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
struct LoopState {
    /// When each instance's wait began (or was first seen), for the readiness and drain bounds.
    waiting: BTreeMap<InstanceId, Millis>,
    /// When instances were abandoned, newest last (only the breaker window is kept).
    abandons: Vec<Millis>,
    /// When the breaker last tripped (it reverts the launch template once per trip).
    breaker_tripped_at: Option<Millis>,
    /// Probes sent and still running, per instance: read on the next look, not sent again.
    #[serde(default)]
    probes: BTreeMap<InstanceId, SentProbe>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct SentProbe {
    command_id: String,
    sent_at: Millis,
}

/// A running probe older than this is sent anew (the command itself times out after 30 s).
const PROBE_STALE: std::time::Duration = std::time::Duration::from_secs(90);

pub async fn handle(
    payload: &Value,
    invocation: &Invocation,
    deps: &Deps,
) -> Result<Vec<ActionOutcome>, Error> {
    match Input::parse(payload, &deps.config)? {
        Input::TestNotification => {
            tracing::info!("autoscaling:TEST_NOTIFICATION received and ignored");
            Ok(vec![])
        }
        Input::Reconcile => reconcile(invocation, deps).await,
        Input::Action { action, started_at } if deps.config.common.dry_run => {
            Ok(vec![drive(&action, started_at, invocation, deps).await?])
        }
        Input::Action { action, started_at } => {
            let key = match &action.token {
                Some(token) => format!("{:?}#{token}", action.transition),
                None => format!(
                    "{:?}#{}#{}",
                    action.transition, action.instance_id, invocation.request_id
                ),
            };
            let invocation = &invocation.for_event(key);
            let outcome = deps
                .once(invocation, &action, || {
                    drive(&action, started_at, invocation, deps)
                })
                .await?;
            Ok(vec![outcome])
        }
    }
}

async fn observe_group(deps: &Deps) -> Result<GroupSnapshot, Error> {
    halfhour::ports::cluster_group(
        deps.group.as_ref(),
        &deps.config.common.cluster,
        &deps.config.asg_name,
    )
    .await
}

async fn load_state(deps: &Deps) -> Result<LoopState, Error> {
    let loaded = STATE
        .load(deps.store.as_ref(), &deps.config.common.cluster)
        .await?;
    Ok(loaded.value)
}

/// Apply `change` to the loop state as it is now (re-read and retried on a race).
async fn update_state(deps: &Deps, change: impl Fn(&mut LoopState)) -> Result<LoopState, Error> {
    STATE
        .update(deps.store.as_ref(), &deps.config.common.cluster, change)
        .await
}

/// Observe the instance, decide, act, and record one decision.
async fn drive(
    action: &LifecycleAction,
    started_at: Option<Millis>,
    invocation: &Invocation,
    deps: &Deps,
) -> Result<ActionOutcome, Error> {
    let config = &deps.config;
    let now = invocation.now;
    let dry_run = config.common.dry_run;
    let group = observe_group(deps).await?;
    let wait_state = match action.transition {
        LifecycleTransition::Launching => LifecycleState::PendingWait,
        LifecycleTransition::Terminating => LifecycleState::TerminatingWait,
    };
    // A warm-pool instance is not a member of the group: its event (or the pool's
    // description, for the reconciler) is what says it waits.
    let waiting = match group.instance(&action.instance_id) {
        Some(member) => member.state == wait_state,
        None => action.warm_pool != WarmPoolMove::None,
    };
    let state = load_state(deps).await?;
    let since = state
        .waiting
        .get(&action.instance_id)
        .copied()
        .or(started_at)
        .unwrap_or(now);
    if waiting && !dry_run && !state.waiting.contains_key(&action.instance_id) {
        let id = action.instance_id.clone();
        update_state(deps, |s| {
            s.waiting.entry(id.clone()).or_insert(since);
        })
        .await?;
    }
    let waited = now.since(since);
    let decision = match action.transition {
        LifecycleTransition::Launching => Decision::Launch(
            decide_launch(action, waiting, waited, &state, invocation, deps).await?,
        ),
        LifecycleTransition::Terminating => Decision::Terminate(
            decide_terminate(action, waiting, waited, &group, invocation, deps).await?,
        ),
    };
    Ok(ActionOutcome {
        instance_id: action.instance_id.clone(),
        transition: format!("{:?}", action.transition),
        decision,
        dry_run,
    })
}

async fn decide_launch(
    action: &LifecycleAction,
    waiting: bool,
    waited: std::time::Duration,
    state: &LoopState,
    invocation: &Invocation,
    deps: &Deps,
) -> Result<LaunchDecision, Error> {
    let config = &deps.config;
    let cluster = &config.common.cluster;
    let now = invocation.now;
    let into_warm_pool = action.warm_pool == WarmPoolMove::IntoPool;
    let flags = deps.store.read_flags(cluster).await?;
    let hands_off = HandsOff::of(config.common.dry_run, &flags, now);
    let status = deps.statuses.instance_status(&action.instance_id).await?;
    let probe = if waiting
        && hands_off.is_none()
        && !into_warm_pool
        && status.running
        && status.checks == StatusChecks::Ok
    {
        Some(probe(action, state, now, deps).await?)
    } else {
        None
    };
    let observed = LaunchObserved {
        waiting,
        status,
        probe,
        waited,
        into_warm_pool,
        db_failover: flags.is_raised(Flag::DbFailover, now),
        breaker_open: plan::breaker_open(&state.abandons, now, config.breaker()),
        hands_off,
    };
    let decision = plan::plan_launch(&observed, config.readiness_budget);
    let record = DecisionRecord::new(Loop::Lifecycle, cluster, launch_action_name(&decision))
        .inputs(
            json!({"instance": action.instance_id, "token": action.token, "observed": observed}),
        )
        .guards(flags.raised(now).iter().map(|f| f.as_str()))
        .reason(format!("{decision:?}"))
        .dry_run(config.common.dry_run);
    record.emit();
    apply::apply(
        decision.steps(config.common.dry_run),
        &record,
        action,
        invocation,
        deps,
    )
    .await?;
    Ok(decision)
}

/// The application's answer on the instance: a probe sent on an earlier look is read, not sent
/// again; a new one is sent when there is none (or it is stale) and kept while it runs.
async fn probe(
    action: &LifecycleAction,
    state: &LoopState,
    now: Millis,
    deps: &Deps,
) -> Result<ProbeOutcome, Error> {
    let instance = &action.instance_id;
    if let Some(sent) = state
        .probes
        .get(instance)
        .filter(|p| now.since(p.sent_at) < PROBE_STALE)
    {
        let outcome = deps.probe.probe_result(&sent.command_id, instance).await?;
        if outcome != ProbeOutcome::Pending && !deps.config.common.dry_run {
            update_state(deps, |s| {
                s.probes.remove(instance);
            })
            .await?;
        }
        return Ok(outcome);
    }
    let Some(command_id) = deps
        .probe
        .start_probe(instance, &deps.config.health_path)
        .await?
    else {
        return Ok(ProbeOutcome::Unreachable);
    };
    let outcome = deps.probe.probe_result(&command_id, instance).await?;
    if outcome == ProbeOutcome::Pending && !deps.config.common.dry_run {
        let sent = SentProbe {
            command_id,
            sent_at: now,
        };
        update_state(deps, |s| {
            s.probes.insert(instance.clone(), sent.clone());
        })
        .await?;
    }
    Ok(outcome)
}

async fn decide_terminate(
    action: &LifecycleAction,
    waiting: bool,
    waited: std::time::Duration,
    group: &GroupSnapshot,
    invocation: &Invocation,
    deps: &Deps,
) -> Result<TerminateDecision, Error> {
    let config = &deps.config;
    let now = invocation.now;
    let dry_run = config.common.dry_run;
    let flags = deps.store.read_flags(&config.common.cluster).await?;
    let hands_off = HandsOff::of(dry_run, &flags, now);
    let mut draining = false;
    let mut deregistered = Vec::new();
    if waiting && hands_off.is_none() {
        for target_group in &group.target_group_arns {
            if deps
                .targets
                .deregister(target_group, &action.instance_id)
                .await?
            {
                deregistered.push(target_group.clone());
            }
            draining |= deps
                .targets
                .draining(target_group, &action.instance_id)
                .await?;
        }
    }
    let decision = plan::plan_terminate(waiting, draining, waited, config.drain_max, hands_off);
    let record = DecisionRecord::new(
        Loop::Lifecycle,
        &config.common.cluster,
        terminate_action_name(&decision),
    )
    .inputs(
        json!({"instance": action.instance_id, "token": action.token, "deregistered": deregistered,
                       "draining": draining, "waited_s": waited.as_secs()}),
    )
    .guards(flags.raised(now).iter().map(|f| f.as_str()))
    .reason(format!("{decision:?}"))
    .dry_run(dry_run);
    record.emit();
    apply::apply(decision.steps(dry_run), &record, action, invocation, deps).await?;
    Ok(decision)
}

fn launch_action_name(decision: &LaunchDecision) -> &'static str {
    match decision {
        LaunchDecision::Continue => "continue",
        LaunchDecision::IntoWarmPool => "continue_into_warm_pool",
        LaunchDecision::Wait { .. } => "heartbeat",
        LaunchDecision::Abandon { .. } => "abandon",
        LaunchDecision::NotWaiting => "already_done",
        LaunchDecision::FailOpen { .. } => "continue_hands_off",
    }
}

fn terminate_action_name(decision: &TerminateDecision) -> &'static str {
    match decision {
        TerminateDecision::Continue => "continue",
        TerminateDecision::WaitForDrain => "heartbeat",
        TerminateDecision::NotWaiting => "already_done",
        TerminateDecision::FailOpen { .. } => "continue_hands_off",
    }
}
