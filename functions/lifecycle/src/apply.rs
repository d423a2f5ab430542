//! Carrying out a lifecycle decision's steps: completing, heartbeating or handing back the
//! action, the state it leaves behind and the decision record; a tripped breaker's revert is
//! its own observe → plan → apply ([`crate::breaker`]). What to do is the plan's; this file
//! only does it.

use std::collections::VecDeque;

use halfhour::Error;
use halfhour::domain::{LifecycleAction, LifecycleResult, LifecycleState};
use halfhour::invocation::Invocation;
use halfhour::state::remember_decision;
use halfhour::telemetry::DecisionRecord;

use crate::plan::{self, Step};
use crate::{Deps, breaker, observe_group, update_state};

/// Carry out `steps` in order; a step may bring the next ones (an abandon that trips the
/// breaker brings the revert).
pub(crate) async fn apply(
    steps: Vec<Step>,
    record: &DecisionRecord,
    action: &LifecycleAction,
    invocation: &Invocation,
    deps: &Deps,
) -> Result<(), Error> {
    let now = invocation.now;
    let mut steps = VecDeque::from(steps);
    while let Some(step) = steps.pop_front() {
        match step {
            Step::Complete(result) => complete(action, result, deps).await?,
            Step::HandBack => {
                deps.actions
                    .complete(action, LifecycleResult::Continue)
                    .await?;
            }
            Step::Heartbeat => {
                let heard = deps.actions.heartbeat(action).await?;
                confirm_left_wait_unless(heard, action, deps).await?;
            }
            Step::Forget => forget(action, deps).await?,
            Step::CountAbandon => {
                let breaker = deps.config.breaker();
                let recorded =
                    update_state(deps, |s| plan::count_abandon(&mut s.abandons, now, breaker))
                        .await?;
                let next = plan::after_abandon(
                    &recorded.abandons,
                    recorded.breaker_tripped_at,
                    now,
                    breaker,
                );
                next.into_iter()
                    .rev()
                    .for_each(|step| steps.push_front(step));
            }
            Step::TripBreaker { abandons } => breaker::trip(abandons, invocation, deps).await?,
            Step::Remember => remember_decision(deps.store.as_ref(), record, now).await,
        }
    }
    Ok(())
}

/// Complete the action; "no active action" is fine once the instance has left its wait state.
async fn complete(
    action: &LifecycleAction,
    result: LifecycleResult,
    deps: &Deps,
) -> Result<(), Error> {
    let completed = deps.actions.complete(action, result).await?;
    confirm_left_wait_unless(completed, action, deps).await
}

/// AWS found no active action (`answered` false): an error unless the instance is out of its
/// wait state, i.e. someone (a timeout, another invocation) completed it first.
async fn confirm_left_wait_unless(
    answered: bool,
    action: &LifecycleAction,
    deps: &Deps,
) -> Result<(), Error> {
    if answered {
        return Ok(());
    }
    let group = observe_group(deps).await?;
    let still_waiting = group.instance(&action.instance_id).is_some_and(|i| {
        matches!(
            i.state,
            LifecycleState::PendingWait | LifecycleState::TerminatingWait
        )
    });
    if still_waiting {
        return Err(Error::aws(
            "CompleteLifecycleAction",
            format!(
                "AWS found no active lifecycle action for {} although it still waits",
                action.instance_id
            ),
        ));
    }
    Ok(())
}

/// Drop what the state remembers of the instance (nothing is written when it holds nothing).
async fn forget(action: &LifecycleAction, deps: &Deps) -> Result<(), Error> {
    let id = &action.instance_id;
    update_state(deps, |s| {
        s.waiting.remove(id);
        s.probes.remove(id);
    })
    .await?;
    Ok(())
}
