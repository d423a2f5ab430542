use scaler::{Deps, ScalerConfig, invoke};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let metrics = halfhour::telemetry::init(halfhour::domain::Loop::Scaling);
    let config = ScalerConfig::from_env()?;
    let deps = Deps::from_sdk(config, &halfhour::aws::sdk_config_from_env());
    let deps = &deps;
    halfhour::telemetry::serve(metrics, |payload, invocation| async move {
        invoke(&payload, &invocation, deps).await
    })
    .await
}
