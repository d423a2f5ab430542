//! Carrying out the reconciler's steps: the pause flag, the record, the notice, the tick. What to
//! do is the plan's; this file only does it.

use halfhour::Error;
use halfhour::domain::{Flag, Loop};
use halfhour::ports::{notify_best_effort, send_held_back_summaries};
use halfhour::state::remember_decision;
use halfhour::telemetry::DecisionRecord;
use serde_json::json;

use crate::plan::Step;
use crate::{Deps, Invocation, TickReport};

/// Carry out `steps`; the report of the tick among them, if there was one.
pub(crate) async fn apply(
    steps: Vec<Step>,
    record: &DecisionRecord,
    invocation: &Invocation,
    deps: &Deps,
) -> Result<Option<TickReport>, Error> {
    let cluster = &deps.config.common.cluster;
    let now = invocation.now;
    let mut ticked = None;
    for step in steps {
        match step {
            Step::RaisePause(hold) => {
                deps.store
                    .raise_flag(cluster, Flag::Paused, &hold, false, now)
                    .await?;
            }
            Step::LowerPause => deps.store.lower_flag(cluster, Flag::Paused, None).await?,
            Step::Remember => remember_decision(deps.store.as_ref(), record, now).await,
            Step::Notify(notice) => {
                notify_best_effort(deps.notifier.as_ref(), deps.store.as_ref(), notice, now).await
            }
            Step::Tick => ticked = Some(tick(invocation, deps).await?),
        }
    }
    Ok(ticked)
}

/// Ask every loop to reconcile (asynchronously); one loop's failure does not stop the others.
/// In observe mode too: each loop observes as well, so a reconcile changes nothing in the
/// cluster, and without it a trial would record none of the loops' periodic decisions.
pub async fn tick(invocation: &Invocation, deps: &Deps) -> Result<TickReport, Error> {
    let config = &deps.config;
    let dry_run = config.common.dry_run;
    let request = json!({"action": "reconcile", "cluster": config.common.cluster.as_str()});
    let (mut invoked, mut failed, mut causes) = (Vec::new(), Vec::new(), Vec::new());
    for function in &config.functions {
        match deps.invoker.invoke_async(function, &request).await {
            Ok(()) => invoked.push(function.clone()),
            Err(err) => {
                tracing::warn!(%function, error = %err, "reconcile tick not delivered");
                failed.push(function.clone());
                causes.push((function.clone(), err));
            }
        }
    }
    // Notices held back by the quiet period are summarised once it is over, even when no
    // later notice of their kind comes to carry the count.
    let summaries = send_held_back_summaries(
        deps.notifier.as_ref(),
        deps.store.as_ref(),
        &config.common.cluster,
        invocation.now,
    )
    .await
    .unwrap_or_else(|err| {
        tracing::warn!(error = %err, "held-back notices not summarised");
        0
    });
    DecisionRecord::new(Loop::Reconciler, &config.common.cluster, "tick")
        .inputs(json!({"functions": config.functions, "request_id": invocation.request_id, "summaries_sent": summaries}))
        .reason(format!(
            "asked {} loops to reconcile, {} failed",
            invoked.len(),
            failed.len()
        ))
        .dry_run(dry_run)
        .emit();
    if !causes.is_empty() {
        return Err(undelivered(causes));
    }
    Ok(TickReport {
        invoked,
        failed,
        dry_run,
    })
}

/// The tick's error when some loops were not asked, naming each and why. Every loop was tried,
/// and Lambda's retry re-asks all of them, which is harmless: retryable, unless AWS refused a
/// call for good (access denied) — a retry would be refused again, so that refusal is the error.
fn undelivered(causes: Vec<(String, Error)>) -> Error {
    let detail: Vec<String> = causes
        .iter()
        .map(|(f, err)| format!("{f} ({err})"))
        .collect();
    let message = format!("reconcile tick not delivered to {}", detail.join(", "));
    let refused = causes
        .into_iter()
        .map(|(_, err)| err)
        .find(Error::is_access_denied);
    match refused {
        Some(err) => Error::Aws {
            operation: "Invoke",
            code: err.aws_code().map(str::to_owned),
            message,
        },
        None => Error::Retryable {
            operation: "Invoke",
            message,
        },
    }
}
