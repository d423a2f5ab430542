use lifecycle::{Deps, LifecycleConfig, handle};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let metrics = halfhour::telemetry::init(halfhour::domain::Loop::Lifecycle);
    let config = LifecycleConfig::from_env()?;
    let deps = Deps::from_sdk(config, &halfhour::aws::sdk_config_from_env());
    let deps = &deps;
    halfhour::telemetry::serve(metrics, |payload, invocation| async move {
        handle(&payload, &invocation, deps).await
    })
    .await
}
