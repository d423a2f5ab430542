//! Logs and metrics: JSON tracing in Lambda, one decision record per decision, EMF metrics.

use serde::Serialize;
use serde_json::Value;

use crate::domain::ClusterName;

/// CloudWatch namespace of every halfhour metric.
pub const METRICS_NAMESPACE: &str = "halfhour";

/// Set up the logs (JSON when `AWS_LAMBDA_LOG_FORMAT=JSON`, as the template sets it) and the
/// EMF metrics collector. Call once, at init. Every metric carries the `function` and the
/// `cluster` (`HALFHOUR_CLUSTER`), so two stacks in one account never mix their numbers.
pub fn init(function: &'static str) -> Option<&'static metrics_cloudwatch_embedded::Collector> {
    let level = log_level(
        std::env::var("AWS_LAMBDA_LOG_LEVEL")
            .or_else(|_| std::env::var("RUST_LOG"))
            .ok()
            .as_deref(),
    );
    let logs = tracing_subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_max_level(level);
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    if json {
        logs.json().init();
    } else {
        logs.init();
    }
    let cluster = std::env::var(crate::config::CLUSTER_NAME).unwrap_or_default();
    match metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace(METRICS_NAMESPACE)
        .with_dimension("cluster", cluster)
        .with_dimension("function", function)
        .init()
    {
        Ok(collector) => Some(collector),
        Err(err) => {
            tracing::warn!(error = %err, "EMF metrics disabled");
            None
        }
    }
}

/// The level of Lambda's log-level control (`AWS_LAMBDA_LOG_LEVEL`: TRACE, DEBUG, INFO, WARN,
/// ERROR, FATAL), or `RUST_LOG` read as one level; INFO when neither names one. FATAL, which
/// `tracing` has not, is ERROR.
fn log_level(setting: Option<&str>) -> tracing::level_filters::LevelFilter {
    use tracing::level_filters::LevelFilter;
    match setting.map(str::trim) {
        Some(fatal) if fatal.eq_ignore_ascii_case("fatal") => LevelFilter::ERROR,
        Some(level) => level.parse().unwrap_or(LevelFilter::INFO),
        None => LevelFilter::INFO,
    }
}

/// Write the metrics gathered during one invocation as one EMF document on stdout.
pub fn flush(collector: Option<&metrics_cloudwatch_embedded::Collector>) {
    if let Some(collector) = collector
        && let Err(err) = collector.flush(std::io::stdout())
    {
        tracing::warn!(error = %err, "could not flush EMF metrics");
    }
}

/// Serve Lambda events with `handler`, flushing the invocation's metrics after each one.
pub async fn serve<F, Fut>(
    metrics: Option<&'static metrics_cloudwatch_embedded::Collector>,
    handler: F,
) -> Result<(), lambda_runtime::Error>
where
    F: Fn(lambda_runtime::LambdaEvent<Value>) -> Fut,
    Fut: std::future::Future<Output = Result<Value, crate::Error>>,
{
    lambda_runtime::run(lambda_runtime::service_fn(|event| {
        let outcome = handler(event);
        async move {
            let outcome = outcome.await;
            flush(metrics);
            outcome
        }
    }))
    .await
}

/// One decision a loop took: what it saw, which guards held, what it chose, and whether it
/// acted. Emitted as exactly one structured log line and one `Decisions` metric.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DecisionRecord {
    #[serde(rename = "loop")]
    pub loop_name: &'static str,
    pub cluster: String,
    pub inputs: Value,
    pub guards: Vec<String>,
    pub action: String,
    pub reason: Option<String>,
    pub dry_run: bool,
}

impl DecisionRecord {
    pub fn new(loop_name: &'static str, cluster: &ClusterName, action: impl Into<String>) -> Self {
        DecisionRecord {
            loop_name,
            cluster: cluster.to_string(),
            inputs: Value::Null,
            guards: Vec::new(),
            action: action.into(),
            reason: None,
            dry_run: false,
        }
    }

    pub fn inputs(mut self, inputs: Value) -> Self {
        self.inputs = inputs;
        self
    }

    pub fn guards(mut self, guards: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.guards = guards.into_iter().map(Into::into).collect();
        self
    }

    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    pub fn dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }

    pub fn emit(&self) {
        let record = serde_json::to_string(self).unwrap_or_default();
        tracing::info!(
            target: "halfhour::decision",
            loop_name = self.loop_name,
            cluster = %self.cluster,
            action = %self.action,
            dry_run = self.dry_run,
            decision = %record,
            "decision"
        );
        metrics::counter!(
            "Decisions",
            "loop" => self.loop_name,
            "action" => self.action.clone(),
            "dry_run" => if self.dry_run { "true" } else { "false" }
        )
        .increment(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tracing::level_filters::LevelFilter;

    /// Lambda's log levels, and RUST_LOG as a level; anything else is INFO.
    #[test]
    fn the_log_level_follows_lambdas_setting() {
        for (setting, level) in [
            (Some("TRACE"), LevelFilter::TRACE),
            (Some("DEBUG"), LevelFilter::DEBUG),
            (Some("info"), LevelFilter::INFO),
            (Some("WARN"), LevelFilter::WARN),
            (Some("ERROR"), LevelFilter::ERROR),
            (Some("FATAL"), LevelFilter::ERROR),
            (Some("halfhour=debug"), LevelFilter::INFO),
            (None, LevelFilter::INFO),
        ] {
            assert_eq!(log_level(setting), level, "{setting:?}");
        }
    }

    #[test]
    fn decision_record_serialises_every_field() {
        let cluster = ClusterName::new("prod").unwrap();
        let record = DecisionRecord::new("scaling", &cluster, "hold")
            .inputs(json!({"desired": 10}))
            .guards(["at_max"])
            .reason("AtMax")
            .dry_run(true);
        let value = serde_json::to_value(&record).unwrap();
        assert_eq!(
            value,
            json!({"loop": "scaling", "cluster": "prod", "inputs": {"desired": 10},
                   "guards": ["at_max"], "action": "hold", "reason": "AtMax", "dry_run": true})
        );
    }
}
