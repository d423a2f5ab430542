//! Carrying out a database decision's steps: the window, the reports, the record. What to do is
//! the plan's; this file only does it.

use halfhour::Error;
use halfhour::domain::{Flag, FlagHold, Millis};
use halfhour::ports::notify_best_effort;
use halfhour::state::{read_json_or_default, remember_decision, write_json};
use halfhour::telemetry::DecisionRecord;

use crate::plan::{self, Drift, Step};
use crate::{DbState, Deps, FUNCTION, STATE_DOC};

pub(crate) async fn apply(
    steps: Vec<Step>,
    record: &DecisionRecord,
    now: Millis,
    deps: &Deps,
) -> Result<(), Error> {
    let config = &deps.config;
    let cluster = &config.common.cluster;
    for step in steps {
        match step {
            Step::OpenWindow { until } => {
                let hold = FlagHold {
                    by: FUNCTION.into(),
                    since: now,
                    until,
                };
                deps.store
                    .raise_flag(cluster, Flag::DbFailover, &hold, false, now)
                    .await?;
            }
            Step::LowerStaleWindow => {
                deps.store
                    .lower_flag(cluster, Flag::DbFailover, None)
                    .await?;
            }
            Step::ReportDrift(drift) => report_drift(&drift, now, deps).await?,
            Step::ReportOutage { message } => {
                let notice = plan::outage_notice(&message, config);
                notify_best_effort(deps.notifier.as_ref(), deps.store.as_ref(), notice, now).await;
            }
            Step::Remember => remember_decision(deps.store.as_ref(), record, now).await,
        }
    }
    Ok(())
}

/// Notify the drift that is due; the conditional write of the record claims the notice, so two
/// invocations never both send it.
async fn report_drift(drift: &[Drift], now: Millis, deps: &Deps) -> Result<(), Error> {
    let cluster = &deps.config.common.cluster;
    let (state, version) =
        read_json_or_default::<DbState>(deps.store.as_ref(), cluster, STATE_DOC).await?;
    let Some(plan::DueDrift { due, notified }) = plan::drift_due(drift, &state.notified, now)
    else {
        return Ok(());
    };
    let claimed = DbState { notified };
    if write_json(deps.store.as_ref(), cluster, STATE_DOC, &claimed, version).await? {
        let notice = plan::drift_notice(&due, &deps.config);
        notify_best_effort(deps.notifier.as_ref(), deps.store.as_ref(), notice, now).await;
    }
    Ok(())
}
