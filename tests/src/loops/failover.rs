//! The failover and database loops' setup: both functions on a seeded cluster with its topic,
//! the site-health alarm and RDS events, and what DNS and the static side answer.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use db_events::DbEventsConfig;
use failover::{Deps, FailoverConfig, Invocation, handle};
use halfhour::domain::{Millis, parse_timestamp};
use serde_json::{Value, json};

use crate::{Cluster, Emulator};

pub const HOLD_DOWN: u64 = 60;

pub struct Setup {
    /// The test's own calls (seeding, checking); the functions have theirs below.
    pub config: aws_config::SdkConfig,
    pub function_config: aws_config::SdkConfig,
    pub db_events_config: aws_config::SdkConfig,
    pub cluster: Cluster,
    pub vars: HashMap<String, String>,
    pub deps: Arc<Deps>,
    pub app: String,
    pub db_events_app: String,
}

impl Setup {
    /// A fresh set of deps on the same table: what a cold start sees.
    pub fn cold_start(&self) -> Deps {
        let config =
            FailoverConfig::from_lookup(|name| self.vars.get(name).cloned()).expect("valid config");
        Deps::from_sdk(config, &self.function_config)
    }

    pub fn db_deps(&self) -> db_events::Deps {
        let config =
            DbEventsConfig::from_lookup(|name| self.vars.get(name).cloned()).expect("valid config");
        db_events::Deps::from_sdk(config, &self.db_events_config)
    }

    pub fn answer(&self) -> String {
        Emulator::shared().resolve(&self.cluster.hosted_zone_id, &self.cluster.record_name)
    }
}

pub async fn setup(app: &str, extra: &[(&str, &str)]) -> Setup {
    let emulator = Emulator::shared();
    let (seed, cluster, topic) = super::seeded_with_topic(app).await;
    let mut vars: HashMap<String, String> = HashMap::from([
        ("HALFHOUR_TABLE".into(), cluster.table.clone()),
        ("HALFHOUR_CLUSTER".into(), cluster.name.clone()),
        (
            "HALFHOUR_HOSTED_ZONE_ID".into(),
            cluster.hosted_zone_id.clone(),
        ),
        ("HALFHOUR_RECORD_NAME".into(), cluster.record_name.clone()),
        (
            "HALFHOUR_SITE_HEALTH_CHECK_ID".into(),
            cluster.site_health_check_id.clone(),
        ),
        (
            "HALFHOUR_GATE_HEALTH_CHECK_ID".into(),
            cluster.gate_health_check_id.clone(),
        ),
        ("HALFHOUR_HOLD_DOWN_SECONDS".into(), HOLD_DOWN.to_string()),
        (
            "HALFHOUR_DB_INSTANCE_ID".into(),
            cluster.db_instance_id.clone(),
        ),
        ("HALFHOUR_NOTIFY_TOPIC_ARN".into(), topic),
        (
            "HALFHOUR_STATIC_SITE_URL".into(),
            emulator.site_url(&cluster.website_host()),
        ),
    ]);
    vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let (function_config, function_app) = emulator
        .function_sdk_config("failover", app, &cluster.name)
        .await;
    let (db_events_config, db_events_app) = emulator
        .function_sdk_config("db-events", app, &cluster.name)
        .await;
    let failover_config =
        FailoverConfig::from_lookup(|name| vars.get(name).cloned()).expect("valid config");
    let deps = Arc::new(Deps::from_sdk(failover_config, &function_config));
    Setup {
        config: seed,
        function_config,
        db_events_config,
        cluster,
        vars,
        deps,
        app: function_app,
        db_events_app,
    }
}

pub fn at(id: &str, now: Millis) -> Invocation {
    Invocation::new(id, now, Duration::from_secs(30))
}

pub fn t0() -> Millis {
    parse_timestamp("2026-11-27T15:00:00Z").expect("valid timestamp")
}

pub fn after(secs: u64) -> Millis {
    t0().plus(Duration::from_secs(secs))
}

/// The site-health alarm's EventBridge shape (the function reads the check itself).
pub fn health_alarm(state: &str) -> Value {
    json!({
        "version": "0", "id": "0f6a1c2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b", "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch", "account": "123456789012", "time": "2026-11-27T15:00:00Z", "region": "us-east-1",
        "resources": ["arn:aws:cloudwatch:us-east-1:123456789012:alarm:prod-site-health"],
        "detail": {"alarmName": "prod-site-health",
                   "state": {"value": state, "reason": "Threshold Crossed", "timestamp": "2026-11-27T15:00:00.000+0000"},
                   "previousState": {"value": "OK", "reason": "Threshold Crossed", "timestamp": "2026-11-27T14:00:00.000+0000"},
                   "configuration": {"metrics": []}}
    })
}

pub fn rds_event(db: &str, event_id: &str, message: &str) -> Value {
    json!({
        "version": "0", "id": format!("rds-{event_id}-{db}"), "detail-type": "RDS DB Instance Event", "source": "aws.rds",
        "account": "123456789012", "time": "2026-11-27T15:00:00Z", "region": "us-east-1",
        "resources": [format!("arn:aws:rds:us-east-1:123456789012:db:{db}")],
        "detail": {"EventCategories": ["failover"], "SourceType": "DB_INSTANCE",
                   "SourceArn": format!("arn:aws:rds:us-east-1:123456789012:db:{db}"), "Date": "2026-11-27T15:00:00.000Z",
                   "Message": message, "SourceIdentifier": db, "EventID": event_id}
    })
}

/// One delivery of `event` at `now` (the fault suites re-drive with it).
pub async fn handle_at(
    event: &Value,
    id: String,
    now: Millis,
    deps: &Deps,
) -> Result<failover::FailoverReport, halfhour::Error> {
    handle(event, &at(&id, now), deps).await
}

pub fn actions(app: &str) -> Vec<String> {
    Emulator::shared()
        .requests(app)
        .into_iter()
        .filter(|r| r.mutating)
        .map(|r| r.action)
        .collect()
}

/// What a visitor's browser gets from the static side, as the failover function reads it.
pub async fn visitors_get(s: &Setup) -> halfhour::ports::WebAnswer {
    use halfhour::ports::Web;
    halfhour::aws::web::HttpsWeb::default()
        .get(&s.vars["HALFHOUR_STATIC_SITE_URL"])
        .await
        .expect("the emulator answers for the static site")
}

/// The CloudFormation request for the stack's `Custom::FailoverRecords`, answered at `key`.
pub fn records_request(s: &Setup, request_type: &str, key: &str) -> Value {
    let mut request = crate::emulator::event("failover/deploy-records.json");
    request["RequestType"] = json!(request_type);
    request["ResponseURL"] = json!(format!(
        "{}/_halfhour/cfn-response/{key}",
        Emulator::shared().endpoint
    ));
    if request_type != "Create" {
        request["PhysicalResourceId"] = json!(s.cluster.record_name);
    }
    let properties = &mut request["ResourceProperties"];
    properties["RecordName"] = json!(s.cluster.record_name);
    properties["LoadBalancerDnsName"] = json!(s.cluster.load_balancer_dns);
    if request_type == "Update" {
        // CloudFormation sends an update the properties it had too (crpg-ref-requests.html).
        request["OldResourceProperties"] = request["ResourceProperties"].clone();
    }
    request
}
