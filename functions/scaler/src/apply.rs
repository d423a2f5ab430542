//! Carrying out the scaler's steps: the state write that records the intent, the desired
//! capacity, the decision record and the notices. What to do is the plan's; this file only
//! does it.

use halfhour::Error;
use halfhour::invocation::Invocation;
use halfhour::ports::notify_best_effort;
use halfhour::state::remember_decision;

use crate::plan::Step;
use crate::{Deps, STATE, ScaleDecided, ScaleOutcome};

pub(crate) async fn apply(
    decided: ScaleDecided,
    invocation: &Invocation,
    deps: &Deps,
) -> Result<ScaleOutcome, Error> {
    let ScaleDecided {
        steps,
        version,
        record,
        outcome,
        ..
    } = decided;
    record.emit();
    let config = &deps.config;
    let cluster = &config.common.cluster;
    let now = invocation.now;
    for step in steps {
        match step {
            Step::WriteState(next) => {
                STATE
                    .save(deps.store.as_ref(), cluster, &next, version)
                    .await?
            }
            Step::SetDesired(to) => {
                deps.group
                    .set_desired_capacity(&config.asg_name, to)
                    .await?
            }
            Step::Remember => remember_decision(deps.store.as_ref(), &record, now).await,
            Step::Notify(notice) => {
                notify_best_effort(deps.notifier.as_ref(), deps.store.as_ref(), notice, now).await
            }
        }
    }
    Ok(outcome)
}
