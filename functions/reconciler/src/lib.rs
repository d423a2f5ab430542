//! The reconciler: events are hints, the reconciler is the truth. Every minute it asks each
//! loop's function to reconcile (`{"action": "reconcile"}`, an asynchronous invoke each), and each
//! loop re-derives what should be true from what it observes: the scaler re-evaluates alarms
//! still in ALARM, the gold-image loop re-drives a bake whose AMI event was lost and brings a
//! reference left in Standby back, the lifecycle loop drives instances stuck in a wait state,
//! the failover loop times its hold-downs and keeps the static page published, the database
//! loop checks for drift.
//!
//! The repairs run inside each loop's function, with that loop's own least-privilege policy:
//! the reconciler may only invoke them. One loop's failure never holds up another's repair.

use std::sync::Arc;

use halfhour::Error;
use halfhour::aws::SdkConfig;
use halfhour::aws::lambda::LambdaInvoker;
use halfhour::config::{CommonConfig, ConfigError, Vars};
use halfhour::domain::Command;
pub use halfhour::invocation::Invocation;
use halfhour::ports::Invoker;
use halfhour::telemetry::DecisionRecord;
use lambda_runtime::LambdaEvent;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub const FUNCTIONS: &str = "HALFHOUR_RECONCILE_FUNCTIONS";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconcilerConfig {
    pub common: CommonConfig,
    /// The loops' functions (names or ARNs), each asked to reconcile every tick.
    pub functions: Vec<String>,
}

impl ReconcilerConfig {
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String> + Copy,
    ) -> Result<Self, ConfigError> {
        let vars = Vars::new(lookup);
        let functions: Vec<String> = vars
            .required(FUNCTIONS)?
            .split(',')
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(str::to_owned)
            .collect();
        if functions.is_empty() {
            return Err(ConfigError::Invalid {
                var: FUNCTIONS,
                value: String::new(),
                reason: "names no function".into(),
            });
        }
        Ok(ReconcilerConfig {
            common: CommonConfig::from_lookup(lookup)?,
            functions,
        })
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }
}

pub struct Deps {
    pub config: ReconcilerConfig,
    pub invoker: Arc<dyn Invoker>,
}

impl Deps {
    pub fn from_sdk(config: ReconcilerConfig, sdk: &SdkConfig) -> Self {
        Deps {
            invoker: Arc::new(LambdaInvoker::new(sdk)),
            config,
        }
    }
}

/// What one tick asked of each loop.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TickReport {
    pub invoked: Vec<String>,
    pub failed: Vec<String>,
    pub dry_run: bool,
}

/// The EventBridge schedule's event, or a manual `{"action": "reconcile"}`.
pub fn parse(payload: &Value, config: &ReconcilerConfig) -> Result<(), Error> {
    let cluster = &config.common.cluster;
    match Command::from_event(payload, cluster) {
        Some(Ok(command)) if command.action == "reconcile" => Ok(()),
        Some(Ok(command)) => Err(Error::bad_event(format!(
            "the reconciler knows no action `{}` (reconcile)",
            command.action
        ))),
        Some(Err(err)) => Err(Error::from_command(err, cluster)),
        None if payload.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event")
            && payload.get("source").and_then(Value::as_str) == Some("aws.events") =>
        {
            Ok(())
        }
        None => Err(Error::bad_event(
            "not a reconcile tick: expected an EventBridge Scheduled Event or {\"action\": \"reconcile\"}",
        )),
    }
}

pub async fn function_handler(event: LambdaEvent<Value>, deps: &Deps) -> Result<Value, Error> {
    let invocation = Invocation::from_context(&event.context);
    Ok(json!(handle(&event.payload, &invocation, deps).await?))
}

pub async fn handle(
    payload: &Value,
    invocation: &Invocation,
    deps: &Deps,
) -> Result<TickReport, Error> {
    parse(payload, &deps.config)?;
    let config = &deps.config;
    let dry_run = config.common.dry_run;
    let request = json!({"action": "reconcile", "cluster": config.common.cluster.as_str()});
    let (mut invoked, mut failed) = (Vec::new(), Vec::new());
    if !dry_run {
        for function in &config.functions {
            match deps.invoker.invoke_async(function, &request).await {
                Ok(()) => invoked.push(function.clone()),
                Err(err) => {
                    tracing::warn!(%function, error = %err, "reconcile tick not delivered");
                    failed.push(function.clone());
                }
            }
        }
    }
    DecisionRecord::new("reconciler", &config.common.cluster, "tick")
        .inputs(json!({"functions": config.functions, "request_id": invocation.request_id}))
        .reason(format!(
            "asked {} loops to reconcile, {} failed",
            invoked.len(),
            failed.len()
        ))
        .dry_run(dry_run)
        .emit();
    if !failed.is_empty() {
        // Every loop was tried; Lambda's retry re-asks all of them, which is harmless.
        return Err(Error::Retryable {
            operation: "Invoke",
            message: format!("reconcile tick not delivered to {}", failed.join(", ")),
        });
    }
    Ok(TickReport {
        invoked,
        failed,
        dry_run,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ReconcilerConfig {
        let vars = [
            ("HALFHOUR_TABLE", "t"),
            ("HALFHOUR_CLUSTER", "prod"),
            (FUNCTIONS, "scaler, lifecycle,,failover"),
        ];
        ReconcilerConfig::from_lookup(halfhour::testing::lookup(&vars)).unwrap()
    }

    #[test]
    fn functions_are_listed_once_each() {
        assert_eq!(config().functions, vec!["scaler", "lifecycle", "failover"]);
    }

    #[test]
    fn the_schedule_and_the_manual_tick_are_accepted_and_nothing_else() {
        let config = config();
        let scheduled = halfhour::testing::event_fixture(
            env!("CARGO_MANIFEST_DIR"),
            "reconciler/scheduled.json",
        );
        assert!(parse(&scheduled, &config).is_ok());
        assert!(parse(&json!({"action": "reconcile"}), &config).is_ok());
        assert!(matches!(
            parse(&json!({"action": "reconcile", "cluster": "x"}), &config),
            Err(Error::WrongCluster { .. })
        ));
        assert!(parse(&json!({"action": "bake"}), &config).is_err());
        assert!(
            parse(
                &json!({"detail-type": "Scheduled Event", "source": "evil"}),
                &config
            )
            .is_err()
        );
    }
}
