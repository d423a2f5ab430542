//! Lambda adapter: queue asynchronous invocations.

use async_trait::async_trait;
use aws_sdk_lambda::Client;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;

use super::classify;
use crate::error::Result;
use crate::ports::Invoker;

#[derive(Clone, Debug)]
pub struct LambdaInvoker {
    client: super::LazyClient<Client>,
}

impl LambdaInvoker {
    pub fn new(sdk: &super::SdkConfig) -> Self {
        LambdaInvoker {
            client: super::LazyClient::new(sdk, Client::new),
        }
    }
}

#[async_trait]
impl Invoker for LambdaInvoker {
    async fn invoke_async(&self, function: &str, payload: &serde_json::Value) -> Result<()> {
        self.client
            .invoke()
            .function_name(function)
            .invocation_type(InvocationType::Event)
            .payload(Blob::new(payload.to_string()))
            .send()
            .await
            .map_err(|e| classify("Invoke", e))?;
        Ok(())
    }
}
