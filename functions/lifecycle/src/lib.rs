//! The lifecycle loop: a launching instance goes InService only when it is really healthy
//! (running, EC2 status checks passing, and the application answering its health path on the
//! instance); a broken one is abandoned — unless a DB failover explains it, or abandons have
//! tripped the circuit breaker. A terminating instance leaves only once drained, within a bound.
//!
//! Lifecycle events are best-effort and may be duplicated: each action is idempotent on its
//! token, "No active Lifecycle Action" is success once the instance is confirmed out of its
//! wait state, and the reconcile tick drives instances whose event was lost.

pub mod config;
pub mod input;
pub mod plan;

use std::collections::BTreeMap;
use std::sync::Arc;

use halfhour::Error;
use halfhour::aws::SdkConfig;
use halfhour::aws::autoscaling::AsgScalingGroup;
use halfhour::aws::dynamodb::DynamoStateStore;
use halfhour::aws::ec2::Ec2;
use halfhour::aws::elbv2::ElbTargetGroups;
use halfhour::aws::sns::notifier;
use halfhour::aws::ssm::SsmProbe;
use halfhour::domain::Loop;
use halfhour::domain::image::{BAKE_DOC, Rollout};
use halfhour::domain::{
    Flag, GroupSnapshot, HandsOff, LifecycleAction, LifecycleResult, LifecycleState,
    LifecycleTransition, Millis, Notice, ProbeOutcome, StatusChecks, WarmPoolMove,
};
use halfhour::idempotency::{Attempt, run_once};
pub use halfhour::invocation::Invocation;
use halfhour::invocation::with_lease;
use halfhour::ports::{
    GroupInstances, HealthProbe, InstanceStatuses, LaunchTemplates, LifecycleActions, Notifier,
    ScalingGroup, StateStore, TargetGroups, notify_best_effort,
};
use halfhour::state::{read_json, read_json_or_default, remember_decision, write_json};
use halfhour::telemetry::DecisionRecord;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use config::LifecycleConfig;
pub use input::Input;
use plan::{LaunchDecision, LaunchObserved, TerminateDecision};

pub const FUNCTION: &str = Loop::Lifecycle.function();
/// The state-table document: when each waiting instance was first seen, and recent abandons.
const STATE_DOC: &str = halfhour::state::doc::LIFECYCLE;

pub struct Deps {
    pub config: LifecycleConfig,
    pub store: Arc<dyn StateStore>,
    pub group: Arc<dyn ScalingGroup>,
    pub actions: Arc<dyn LifecycleActions>,
    pub statuses: Arc<dyn InstanceStatuses>,
    pub probe: Arc<dyn HealthProbe>,
    pub targets: Arc<dyn TargetGroups>,
    pub templates: Arc<dyn LaunchTemplates>,
    /// The breaker's revert: refresh rollback and the group's launch-template version.
    pub instances: Arc<dyn GroupInstances>,
    pub notifier: Option<Arc<dyn Notifier>>,
}

impl Deps {
    pub fn from_sdk(config: LifecycleConfig, sdk: &SdkConfig) -> Self {
        let asg = Arc::new(AsgScalingGroup::new(sdk));
        let ec2 = Arc::new(Ec2::new(sdk));
        Deps {
            store: Arc::new(DynamoStateStore::new(sdk, config.common.table.clone())),
            group: asg.clone(),
            actions: asg.clone(),
            instances: asg,
            statuses: ec2.clone(),
            probe: Arc::new(SsmProbe::new(sdk)),
            targets: Arc::new(ElbTargetGroups::new(sdk)),
            templates: ec2,
            notifier: notifier(sdk, config.common.notify_topic_arn.as_ref()),
            config,
        }
    }
}

/// Persisted between invocations.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
struct LoopState {
    /// When each instance's wait began (or was first seen), for the readiness and drain bounds.
    waiting: BTreeMap<String, Millis>,
    /// When instances were abandoned, newest last (only the breaker window is kept).
    abandons: Vec<Millis>,
    /// When the breaker last tripped (it reverts the launch template once per trip).
    breaker_tripped_at: Option<Millis>,
    /// Probes sent and still running, per instance: read on the next look, not sent again.
    #[serde(default)]
    probes: BTreeMap<String, SentProbe>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct SentProbe {
    command_id: String,
    sent_at: Millis,
}

/// A running probe older than this is sent anew (the command itself times out after 30 s).
const PROBE_STALE: std::time::Duration = std::time::Duration::from_secs(90);

/// What one lifecycle action came to.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ActionOutcome {
    pub instance_id: String,
    pub transition: String,
    pub decision: Value,
    pub dry_run: bool,
}

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
            let attempt = Attempt::new(
                FUNCTION,
                &key,
                invocation,
                deps.config.common.idempotency_ttl,
            );
            let outcome = run_once(deps.store.as_ref(), attempt, &action, || {
                drive(&action, started_at, invocation, deps)
            })
            .await?;
            Ok(vec![outcome.into_inner()])
        }
    }
}

/// The reconciler's part: every instance waiting on one of halfhour's hooks is driven, whether
/// or not its event arrived. One instance's failure does not stop the others; the first
/// failure is returned once all were driven.
pub async fn reconcile(invocation: &Invocation, deps: &Deps) -> Result<Vec<ActionOutcome>, Error> {
    let group = observe_group(deps).await?;
    let members = group.instances.iter().filter_map(|i| match i.state {
        LifecycleState::PendingWait => Some((
            i.id.clone(),
            LifecycleTransition::Launching,
            WarmPoolMove::None,
        )),
        LifecycleState::TerminatingWait => Some((
            i.id.clone(),
            LifecycleTransition::Terminating,
            WarmPoolMove::None,
        )),
        _ => None,
    });
    // Instances in a warm pool are not the group's: only a group with a pool has them to look up.
    let pooled = if group.warm_pool {
        deps.actions.warm_pool_waiting(&group.name).await?
    } else {
        Vec::new()
    };
    let pooled = pooled.into_iter().map(|(id, transition)| {
        let moving = match transition {
            LifecycleTransition::Launching => WarmPoolMove::IntoPool,
            LifecycleTransition::Terminating => WarmPoolMove::OutOfPool,
        };
        (id, transition, moving)
    });
    let waiting: Vec<_> = members.chain(pooled).collect();
    let mut outcomes = Vec::new();
    let mut first_failure = None;
    for (instance_id, transition, warm_pool) in waiting {
        let hook = match transition {
            LifecycleTransition::Launching => &deps.config.launch_hook,
            LifecycleTransition::Terminating => &deps.config.terminate_hook,
        };
        let action = LifecycleAction {
            group: group.name.clone(),
            hook: hook.clone(),
            instance_id: instance_id.clone(),
            token: None,
            transition,
            warm_pool,
        };
        match drive(&action, None, invocation, deps).await {
            Ok(outcome) => outcomes.push(outcome),
            Err(err) => {
                tracing::warn!(instance = %instance_id, error = %err, "reconcile of one instance failed");
                first_failure.get_or_insert(err);
            }
        }
    }
    match first_failure {
        Some(err) => Err(err),
        None => Ok(outcomes),
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

async fn load_state(deps: &Deps) -> Result<(LoopState, Option<u64>), Error> {
    read_json_or_default(deps.store.as_ref(), &deps.config.common.cluster, STATE_DOC).await
}

/// Apply `change` to the loop state with optimistic concurrency (re-read and retry on a race).
async fn update_state(deps: &Deps, change: impl Fn(&mut LoopState)) -> Result<LoopState, Error> {
    let cluster = &deps.config.common.cluster;
    for _ in 0..5 {
        let (mut state, version) = load_state(deps).await?;
        change(&mut state);
        if write_json(deps.store.as_ref(), cluster, STATE_DOC, &state, version).await? {
            return Ok(state);
        }
    }
    Err(Error::Conflict(format!(
        "lifecycle state of {cluster} keeps changing underneath"
    )))
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
    let (state, _) = load_state(deps).await?;
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
        LifecycleTransition::Launching => {
            json!(decide_launch(action, waiting, waited, &state, invocation, deps).await?)
        }
        LifecycleTransition::Terminating => {
            json!(decide_terminate(action, waiting, waited, &group, now, deps).await?)
        }
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
        breaker_open: plan::breaker_open(
            &state.abandons,
            now,
            config.breaker_window,
            config.breaker_abandons,
        ),
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
    match decision {
        LaunchDecision::FailOpen { .. } => fail_open(action, deps).await?,
        _ if config.common.dry_run => {}
        LaunchDecision::Continue | LaunchDecision::IntoWarmPool => {
            finish(action, LifecycleResult::Continue, deps).await?
        }
        LaunchDecision::Wait { .. } => {
            if !deps.actions.heartbeat(action).await? {
                confirm_left_wait(action, deps).await?;
            }
        }
        LaunchDecision::Abandon { .. } => {
            finish(action, LifecycleResult::Abandon, deps).await?;
            let window = config.breaker_window;
            let recorded = update_state(deps, |s| {
                s.abandons.retain(|t| now.since(*t) < window);
                s.abandons.push(now);
            })
            .await?;
            let tripped_recently = recorded
                .breaker_tripped_at
                .is_some_and(|t| now.since(t) < window);
            if plan::breaker_open(&recorded.abandons, now, window, config.breaker_abandons)
                && !tripped_recently
            {
                trip_breaker(recorded.abandons.len(), invocation, deps).await?;
            }
        }
        LaunchDecision::NotWaiting => forget(action, deps).await?,
    }
    if !matches!(
        decision,
        LaunchDecision::Wait { .. } | LaunchDecision::NotWaiting
    ) && !config.common.dry_run
    {
        remember_decision(deps.store.as_ref(), &record, now).await;
    }
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
    now: Millis,
    deps: &Deps,
) -> Result<TerminateDecision, Error> {
    let config = &deps.config;
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
    match decision {
        TerminateDecision::FailOpen { .. } => fail_open(action, deps).await?,
        _ if dry_run => {}
        TerminateDecision::Continue => finish(action, LifecycleResult::Continue, deps).await?,
        TerminateDecision::WaitForDrain => {
            if !deps.actions.heartbeat(action).await? {
                confirm_left_wait(action, deps).await?;
            }
        }
        TerminateDecision::NotWaiting => forget(action, deps).await?,
    }
    if matches!(
        decision,
        TerminateDecision::Continue | TerminateDecision::FailOpen { .. }
    ) && !dry_run
    {
        remember_decision(deps.store.as_ref(), &record, now).await;
    }
    Ok(decision)
}

/// Hand the instance to AWS's default path: CONTINUE now. In observe mode this is the one call
/// halfhour makes, and it writes nothing (an action already completed is no concern of ours).
async fn fail_open(action: &LifecycleAction, deps: &Deps) -> Result<(), Error> {
    if deps.config.common.dry_run {
        deps.actions
            .complete(action, LifecycleResult::Continue)
            .await?;
        return Ok(());
    }
    finish(action, LifecycleResult::Continue, deps).await
}

/// Complete the action; "no active action" is fine once the instance has left its wait state.
async fn finish(
    action: &LifecycleAction,
    result: LifecycleResult,
    deps: &Deps,
) -> Result<(), Error> {
    if !deps.actions.complete(action, result).await? {
        confirm_left_wait(action, deps).await?;
    }
    forget(action, deps).await
}

async fn confirm_left_wait(action: &LifecycleAction, deps: &Deps) -> Result<(), Error> {
    let group = observe_group(deps).await?;
    let still_waiting = group.instance(&action.instance_id).is_some_and(|i| {
        matches!(
            i.state,
            LifecycleState::PendingWait | LifecycleState::TerminatingWait
        )
    });
    if still_waiting {
        return Err(Error::Aws {
            operation: "CompleteLifecycleAction",
            message: format!(
                "AWS found no active lifecycle action for {} although it still waits",
                action.instance_id
            ),
        });
    }
    Ok(())
}

async fn forget(action: &LifecycleAction, deps: &Deps) -> Result<(), Error> {
    let (state, _) = load_state(deps).await?;
    let id = &action.instance_id;
    if state.waiting.contains_key(id) || state.probes.contains_key(id) {
        update_state(deps, |s| {
            s.waiting.remove(id);
            s.probes.remove(id);
        })
        .await?;
    }
    Ok(())
}

/// N abandons in the window: the image is broken, not the instances. Stop abandoning (the plan
/// now waits) and revert what the group launches to the version before the last roll-out:
/// roll back its refresh if it still runs, else name the good version again; notify.
async fn trip_breaker(abandons: usize, invocation: &Invocation, deps: &Deps) -> Result<(), Error> {
    let config = &deps.config;
    let cluster = &config.common.cluster;
    let now = invocation.now;
    with_lease(deps.store.as_ref(), cluster, &invocation.owner(FUNCTION), now, config.common.lease, || async {
        update_state(deps, |s| s.breaker_tripped_at = Some(now)).await?;
        let group = observe_group(deps).await?;
        let rollout = read_json::<Rollout>(deps.store.as_ref(), cluster, BAKE_DOC)
            .await
            .ok()
            .flatten()
            .map(|(r, _)| r);
        let revert = match (&group.launch_template, &rollout) {
            (Some(template), Some(rollout)) => {
                let running = match &rollout.refresh_id {
                    Some(id) => deps
                        .instances
                        .refresh(&group.name, id)
                        .await?
                        .is_some_and(|r| r.status.may_roll_back()),
                    None => false,
                };
                let default = deps.templates.version(&template.id, "$Default").await?;
                let revert = plan::plan_revert(rollout, template.version, default.number, running);
                if revert.rollback_refresh {
                    deps.instances.rollback_instance_refresh(&group.name).await?;
                }
                if let Some(good) = revert.pin_group_to {
                    deps.instances
                        .set_launch_template_version(&group.name, &template.id, good)
                        .await?;
                }
                if let Some(good) = revert.default_to {
                    deps.templates.set_default_version(&template.id, good).await?;
                }
                revert
            }
            _ => plan::Revert::default(),
        };
        let versions = rollout
            .as_ref()
            .map(|r| (r.new_version.unwrap_or_default(), r.previous_version.unwrap_or_default()));
        let what = match versions.filter(|_| !revert.is_nothing()) {
            None => "no known good launch-template version to revert to".to_owned(),
            Some((bad, good)) => format!(
                "{}the group launches version {good} again instead of {bad}{}",
                if revert.rollback_refresh { "the instance refresh rolling it out was rolled back; " } else { "" },
                if revert.default_to.is_some() { ", and it is the template's default again" } else { "" }
            ),
        };
        DecisionRecord::new(Loop::Lifecycle, cluster, "trip_breaker")
            .inputs(json!({"abandons_in_window": abandons, "window_s": config.breaker_window.as_secs(), "revert": revert}))
            .reason(&what)
            .emit();
        let notice = Notice::new(
            Loop::Lifecycle,
            cluster,
            "breaker-tripped",
            "launch circuit breaker tripped",
            format!(
                "{abandons} launching instances of {cluster} were abandoned within {} minutes: the image looks broken. halfhour stopped abandoning; {what}.",
                config.breaker_window.as_secs() / 60,
            ),
        )
        .decision("trip_breaker")
        .next_step(if revert.is_nothing() {
            "Please look: the group still launches the image its instances fail on; point it at a known good launch-template version."
        } else {
            "Look at the broken image's instances (their console output, the application's logs) before the next bake."
        })
        .resource(&group.name);
        notify_best_effort(deps.notifier.as_ref(), deps.store.as_ref(), notice, now).await;
        Ok(())
    })
    .await
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

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> LifecycleConfig {
        let vars = [
            ("HALFHOUR_TABLE", "t"),
            ("HALFHOUR_CLUSTER", "prod"),
            ("HALFHOUR_ASG_NAME", "prod-web"),
        ];
        LifecycleConfig::from_lookup(halfhour::testing::lookup(&vars)).unwrap()
    }

    fn fixture(name: &str) -> Value {
        halfhour::testing::event_fixture(env!("CARGO_MANIFEST_DIR"), &format!("lifecycle/{name}"))
    }

    /// Every shipped event fixture parses to the input it stands for.
    #[test]
    fn event_fixtures_parse() {
        let config = config();
        let launch = |file| match Input::parse(&fixture(file), &config).unwrap() {
            Input::Action { action, started_at } => (action, started_at),
            other => panic!("{file}: {other:?}"),
        };
        let (eventbridge, at) = launch("launch.json");
        let (sns, sns_at) = launch("sns-launch.json");
        assert_eq!(eventbridge, sns, "both shapes carry the same action");
        assert_eq!(eventbridge.transition, LifecycleTransition::Launching);
        assert_eq!(
            eventbridge.token.as_deref(),
            Some("71514b9d-6a40-4b26-8523-05e7ee35fa40")
        );
        assert_eq!(
            at,
            halfhour::domain::parse_timestamp("2026-11-27T14:00:00Z").ok()
        );
        assert_eq!(
            sns_at,
            halfhour::domain::parse_timestamp("2026-11-27T14:00:00.387Z").ok()
        );
        assert_eq!(
            launch("terminate.json").0.transition,
            LifecycleTransition::Terminating
        );
        assert_eq!(
            launch("warm-pool-launch.json").0.warm_pool,
            WarmPoolMove::IntoPool,
            "AWS's warm-pool example: Origin EC2, Destination WarmPool"
        );
        assert_eq!(eventbridge.warm_pool, WarmPoolMove::None);
        assert_eq!(
            Input::parse(&fixture("test-notification.json"), &config).unwrap(),
            Input::TestNotification
        );
        assert_eq!(
            Input::parse(&fixture("reconcile.json"), &config).unwrap(),
            Input::Reconcile
        );
    }
}
