//! The baseline every halfhour function is measured against: lambda_runtime, no AWS SDK.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Error> {
    run(service_fn(|event: LambdaEvent<Value>| async move {
        Ok::<Value, Error>(json!({"hello": event.payload}))
    }))
    .await
}
