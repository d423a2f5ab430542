//! The reconcile tick: every instance waiting on one of halfhour's hooks, from the group and
//! its warm pool, is driven as if its event had arrived.

use halfhour::Error;
use halfhour::domain::{LifecycleAction, LifecycleState, LifecycleTransition, WarmPoolMove};
use halfhour::invocation::Invocation;

use crate::{ActionOutcome, Deps, drive, observe_group};

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
