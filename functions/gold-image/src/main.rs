use gold_image::{Deps, GoldImageConfig, function_handler};
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let metrics = halfhour::telemetry::init("gold-image");
    let config = GoldImageConfig::from_env()?;
    let deps = Deps::from_sdk(config, &halfhour::aws::sdk_config_loader().load().await);
    run(service_fn(|event: LambdaEvent<Value>| async {
        let outcome = function_handler(event, &deps).await;
        halfhour::telemetry::flush(metrics);
        outcome
    }))
    .await
}
