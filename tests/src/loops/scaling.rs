//! The scaling loop's setup: a scaler on a seeded cluster, its alarm events and checks.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_cloudwatch::types::{ComparisonOperator, StateValue, Statistic};
use halfhour::domain::{Millis, format_utc};
use scaler::{Deps, Invocation, ScalerConfig, handle};
use serde_json::{Value, json};

use crate::{Cluster, Emulator};

pub struct Setup {
    pub config: aws_config::SdkConfig,
    pub cluster: Cluster,
    pub deps: Arc<Deps>,
    pub app: String,
}

impl Setup {
    /// The name the cluster's stack gives one of its scaling alarms (`cpu-high`, `cpu-low`).
    pub fn alarm(&self, which: &str) -> String {
        format!("{}-{which}", self.cluster.name)
    }
}

pub async fn setup(app: &str, dry_run: bool) -> Setup {
    setup_with(app, dry_run, |c| format!("{c}-cpu-high=+2,{c}-cpu-low=-1")).await
}

/// A seeded cluster and a scaler for it; `alarms` gives HALFHOUR_SCALING_ALARMS from the cluster name.
pub async fn setup_with(app: &str, dry_run: bool, alarms: impl Fn(&str) -> String) -> Setup {
    let seed_config = Emulator::shared().sdk_config(&format!("{app}-seed")).await;
    let cluster = Cluster::seed().await.expect("cluster seeded");
    let vars: HashMap<&str, String> = HashMap::from([
        ("HALFHOUR_TABLE", cluster.table.clone()),
        ("HALFHOUR_CLUSTER", cluster.name.clone()),
        ("HALFHOUR_ASG_NAME", cluster.asg_name.clone()),
        ("HALFHOUR_SCALING_ALARMS", alarms(&cluster.name)),
        ("DRY_RUN", dry_run.to_string()),
    ]);
    let scaler_config =
        ScalerConfig::from_lookup(|name| vars.get(name).cloned()).expect("valid config");
    let (function_config, app) = Emulator::shared()
        .function_sdk_config("scaler", app, &cluster.name)
        .await;
    let deps = Arc::new(Deps::from_sdk(scaler_config, &function_config));
    Setup {
        config: seed_config,
        cluster,
        deps,
        app,
    }
}

pub fn alarm_event(name: &str, state: &str, at: Millis) -> Value {
    let secs = at.0 / 1000;
    json!({
        "version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "CloudWatch Alarm State Change", "source": "aws.cloudwatch",
        "account": "123456789012", "time": "2026-11-27T13:47:30Z", "region": "us-east-1",
        "resources": [format!("arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}")],
        "detail": {
            "alarmName": name,
            "state": {"value": state, "reason": "Threshold Crossed", "timestamp": format_utc(Millis(secs * 1000))},
            "previousState": {"value": "OK", "reason": "", "timestamp": format_utc(Millis((secs - 300) * 1000))},
            "configuration": {"metrics": []}
        }
    })
}

pub fn invocation(id: &str, now: Millis) -> Invocation {
    Invocation::new(id, now, Duration::from_secs(30))
}

/// One delivery of `event` at `now` (the fault suites re-drive with it).
pub async fn handle_at(
    event: &Value,
    id: String,
    now: Millis,
    deps: &Deps,
) -> Result<scaler::ScaleOutcome, halfhour::Error> {
    handle(event, &invocation(&id, now), deps).await
}

pub async fn desired(setup: &Setup) -> i32 {
    setup
        .cluster
        .desired_capacity(&setup.config)
        .await
        .expect("group described")
}

pub fn set_desired_calls(app: &str) -> usize {
    Emulator::shared()
        .requests(app)
        .iter()
        .filter(|r| r.action == "SetDesiredCapacity")
        .count()
}

pub async fn put_alarm(config: &aws_config::SdkConfig, name: &str, state: StateValue) {
    let cloudwatch = aws_sdk_cloudwatch::Client::new(config);
    cloudwatch
        .put_metric_alarm()
        .alarm_name(name)
        .namespace("AWS/EC2")
        .metric_name("CPUUtilization")
        .statistic(Statistic::Average)
        .period(60)
        .evaluation_periods(3)
        .datapoints_to_alarm(2)
        .threshold(70.0)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .expect("alarm created");
    cloudwatch
        .set_alarm_state()
        .alarm_name(name)
        .state_value(state)
        .state_reason("test")
        .send()
        .await
        .expect("alarm state set");
}
