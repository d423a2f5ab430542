//! The scaler's reconcile-time reports: instances on basic monitoring, and other writers of the
//! group's desired capacity, each told once while it lasts.

use halfhour::Error;
use halfhour::domain::{CapacityWriter, InstanceId, LifecycleState, Loop, Millis, Notice};
use halfhour::ports::notify_best_effort;
use halfhour::state::{read_json_or_default, write_json};
use halfhour::telemetry::DecisionRecord;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::Deps;

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

/// The CPU alarms evaluate one-minute periods: instances on basic monitoring send a datapoint
/// every five minutes, so scale-in never fires and scale-out is late. Reported once while it
/// lasts (a decision record and a notification); halfhour does not change the instances.
pub(crate) async fn check_monitoring(now: Millis, deps: &Deps) -> Result<(), Error> {
    let config = &deps.config;
    let cluster = &config.common.cluster;
    let Some(group) = deps.group.describe_group(&config.asg_name).await? else {
        return Ok(());
    };
    let serving: Vec<InstanceId> = group
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
                basic.iter().map(InstanceId::as_str).collect::<Vec<_>>().join(", ")
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
pub(crate) async fn check_coexistence(now: Millis, deps: &Deps) -> Result<(), Error> {
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
