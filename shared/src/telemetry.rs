//! Logs and metrics: JSON tracing in Lambda, one decision record per decision, EMF metrics.

use serde::Serialize;
use serde_json::Value;

use crate::invocation::Invocation;

use crate::domain::{ClusterName, Loop};

/// CloudWatch namespace of halfhour's metrics unless `POWERTOOLS_METRICS_NAMESPACE` names
/// another (the template's `MetricsNamespace`).
pub const METRICS_NAMESPACE: &str = "halfhour";
/// The service every log line and decision record names unless `POWERTOOLS_SERVICE_NAME` says.
pub const SERVICE_NAME: &str = "halfhour";

/// Settings named as Powertools for AWS Lambda names them
/// (https://docs.powertools.aws.dev/lambda/python/latest/#environment-variables), so an account
/// that sets them for every function sets them for halfhour too.
pub const POWERTOOLS_SERVICE_NAME: &str = "POWERTOOLS_SERVICE_NAME";
pub const POWERTOOLS_METRICS_NAMESPACE: &str = "POWERTOOLS_METRICS_NAMESPACE";
pub const POWERTOOLS_LOG_LEVEL: &str = "POWERTOOLS_LOG_LEVEL";

/// Who writes the decision records: set once at init.
static WRITER: std::sync::OnceLock<(String, &'static str)> = std::sync::OnceLock::new();

/// The logging and metrics settings of one process, read from its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub service: String,
    pub namespace: String,
    pub level: tracing::level_filters::LevelFilter,
}

impl Settings {
    /// Lambda's own log-level control (`AWS_LAMBDA_LOG_LEVEL`, the template's `LogLevel`) wins
    /// over `POWERTOOLS_LOG_LEVEL`, as it does in Powertools; `RUST_LOG` read as one level last.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let set = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        Settings {
            service: set(POWERTOOLS_SERVICE_NAME).unwrap_or_else(|| SERVICE_NAME.to_owned()),
            namespace: set(POWERTOOLS_METRICS_NAMESPACE)
                .unwrap_or_else(|| METRICS_NAMESPACE.to_owned()),
            level: log_level(
                set("AWS_LAMBDA_LOG_LEVEL")
                    .or_else(|| set(POWERTOOLS_LOG_LEVEL))
                    .or_else(|| set("RUST_LOG"))
                    .as_deref(),
            ),
        }
    }
}

/// Set up the logs (JSON when `AWS_LAMBDA_LOG_FORMAT=JSON`, as the template sets it) and the
/// EMF metrics collector. Call once, at init. Every metric carries the `function` and the
/// `cluster` (`HALFHOUR_CLUSTER`), so two stacks in one account never mix their numbers.
pub fn init(serves: Loop) -> Option<&'static metrics_cloudwatch_embedded::Collector> {
    let function = serves.function();
    let settings = Settings::from_lookup(|name| std::env::var(name).ok());
    let level = settings.level;
    let _ = WRITER.set((settings.service.clone(), function));
    let logs = tracing_subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_max_level(level);
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    if json {
        logs.fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
            .event_format(WithService::new(&settings.service))
            .init();
    } else {
        logs.init();
    }
    let cluster = std::env::var(crate::config::CLUSTER_NAME).unwrap_or_default();
    match metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace(settings.namespace)
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

/// Each JSON log line with the service first, as Powertools' loggers name it on every line.
struct WithService {
    inner: tracing_subscriber::fmt::format::Format<tracing_subscriber::fmt::format::Json, ()>,
    /// `"service":"<name>",` ready to go after the line's opening brace.
    field: String,
}

impl WithService {
    fn new(service: &str) -> Self {
        WithService {
            inner: tracing_subscriber::fmt::format()
                .json()
                .with_target(false)
                .without_time(),
            field: format!("\"service\":{},", Value::from(service)),
        }
    }
}

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for WithService
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let mut line = String::new();
        self.inner.format_event(
            ctx,
            tracing_subscriber::fmt::format::Writer::new(&mut line),
            event,
        )?;
        match line.strip_prefix('{') {
            Some(rest) => write!(writer, "{{{}{rest}", self.field),
            None => writer.write_str(&line),
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

/// Serve Lambda events: each payload goes to `handler` with its [`Invocation`] (request id,
/// the clock read once, the time left), its answer back as JSON, and the invocation's metrics
/// are flushed after each one.
pub async fn serve<F, Fut, R>(
    metrics: Option<&'static metrics_cloudwatch_embedded::Collector>,
    handler: F,
) -> Result<(), lambda_runtime::Error>
where
    F: Fn(Value, Invocation) -> Fut,
    Fut: std::future::Future<Output = Result<R, crate::Error>>,
    R: serde::Serialize,
{
    lambda_runtime::run(lambda_runtime::service_fn(
        |event: lambda_runtime::LambdaEvent<Value>| {
            let invocation = Invocation::from_context(&event.context);
            let outcome = handler(event.payload, invocation);
            async move {
                let outcome = outcome.await;
                flush(metrics);
                outcome
            }
        },
    ))
    .await
}

/// One decision a loop took: what it saw, which guards held, what it chose, and whether it
/// acted. Emitted as exactly one JSON log line (the record as a nested object under
/// `decision`, so Logs Insights queries `decision.inputs.…` without parsing a string) and one
/// `Decisions` metric.
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
    pub fn new(decided_by: Loop, cluster: &ClusterName, action: impl Into<String>) -> Self {
        DecisionRecord {
            loop_name: decided_by.name(),
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

    /// The log line: level, message, service and function beside the record itself.
    pub fn log_line(&self, service: &str, function: &str) -> Value {
        serde_json::json!({
            "level": "INFO",
            "message": "decision",
            "service": service,
            "function": function,
            "loop": self.loop_name,
            "cluster": self.cluster,
            "action": self.action,
            "dry_run": self.dry_run,
            "decision": self,
        })
    }

    pub fn emit(&self) {
        if tracing::enabled!(target: "halfhour::decision", tracing::Level::INFO) {
            use std::io::Write;
            let (service, function) = WRITER
                .get()
                .map_or((SERVICE_NAME, "halfhour"), |(s, f)| (s.as_str(), *f));
            let line = self.log_line(service, function).to_string();
            // One write of one line: it never interleaves with the runtime's own log lines.
            let _ = writeln!(std::io::stdout().lock(), "{line}");
        }
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

    /// Powertools' names set the service, the namespace and the level; Lambda's own level wins.
    #[test]
    fn powertools_settings_are_honoured() {
        let settings = |vars: &[(&str, &str)]| {
            let vars: std::collections::HashMap<String, String> = vars
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            Settings::from_lookup(|name| vars.get(name).cloned())
        };
        assert_eq!(
            settings(&[]),
            Settings {
                service: "halfhour".into(),
                namespace: "halfhour".into(),
                level: LevelFilter::INFO
            }
        );
        let named = settings(&[
            ("POWERTOOLS_SERVICE_NAME", "shop-ops"),
            ("POWERTOOLS_METRICS_NAMESPACE", "Shop/Ops"),
            ("POWERTOOLS_LOG_LEVEL", "DEBUG"),
        ]);
        assert_eq!(
            (
                named.service.as_str(),
                named.namespace.as_str(),
                named.level
            ),
            ("shop-ops", "Shop/Ops", LevelFilter::DEBUG)
        );
        let both = settings(&[
            ("POWERTOOLS_LOG_LEVEL", "DEBUG"),
            ("AWS_LAMBDA_LOG_LEVEL", "WARN"),
        ]);
        assert_eq!(both.level, LevelFilter::WARN);
        assert_eq!(
            settings(&[("POWERTOOLS_METRICS_NAMESPACE", " ")]).namespace,
            "halfhour"
        );
    }

    /// Every JSON log line names the service first and stays one JSON object.
    #[test]
    fn every_json_line_names_the_service() {
        struct Shared(&'static std::sync::Mutex<Vec<u8>>);
        impl std::io::Write for Shared {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buffer: &'static std::sync::Mutex<Vec<u8>> =
            Box::leak(Box::new(std::sync::Mutex::new(Vec::new())));
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || Shared(buffer))
            .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
            .event_format(WithService::new("shop \"ops\""))
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(error = "boom", "notification not sent");
        });
        let text = String::from_utf8(buffer.lock().unwrap().clone()).unwrap();
        let line: Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(line["service"], "shop \"ops\"");
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["fields"]["error"], "boom");
        assert!(text.starts_with("{\"service\":"), "{text}");
    }

    /// The log line carries the record as an object, not a string.
    #[test]
    fn the_decision_line_nests_the_record() {
        let cluster = ClusterName::new("prod").unwrap();
        let record =
            DecisionRecord::new(Loop::Scaling, &cluster, "hold").inputs(json!({"desired": 10}));
        let line = record.log_line("halfhour", "scaler");
        assert_eq!(line["message"], "decision");
        assert_eq!(line["service"], "halfhour");
        assert_eq!(line["loop"], "scaling");
        assert_eq!(line["decision"]["inputs"]["desired"], 10);
    }

    #[test]
    fn decision_record_serialises_every_field() {
        let cluster = ClusterName::new("prod").unwrap();
        let record = DecisionRecord::new(Loop::Scaling, &cluster, "hold")
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
