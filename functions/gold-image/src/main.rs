use gold_image::{Deps, GoldImageConfig, function_handler};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let metrics = halfhour::telemetry::init(halfhour::domain::Loop::GoldImage);
    let config = GoldImageConfig::from_env()?;
    let deps = Deps::from_sdk(config, &halfhour::aws::sdk_config_from_env());
    halfhour::telemetry::serve(metrics, |event| function_handler(event, &deps)).await
}
