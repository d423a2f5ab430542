//! The answer to a CloudFormation custom resource: an HTTPS PUT of the response document to the
//! request's pre-signed `ResponseURL`, through the same rustls connector the SDK clients use.

use std::time::Duration;

use async_trait::async_trait;
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_types::body::SdkBody;

use crate::error::{Error, Result};
use crate::ports::CustomResourceReplies;

const TIMEOUT: Duration = Duration::from_secs(10);
const OPERATION: &str = "custom resource response";

#[derive(Debug, Default)]
pub struct ResponseUrl;

#[async_trait]
impl CustomResourceReplies for ResponseUrl {
    async fn reply(&self, url: &str, body: &str) -> Result<()> {
        let failed = |message: String| Error::Retryable {
            operation: OPERATION,
            message,
        };
        let mut request = HttpRequest::new(SdkBody::from(body.to_owned()));
        request
            .set_uri(url)
            .map_err(|e| failed(format!("ResponseURL is not a URL: {e}")))?;
        request
            .set_method("PUT")
            .map_err(|e| failed(e.to_string()))?;
        // The URL is pre-signed without a content type: S3 refuses one it did not sign.
        request.headers_mut().insert("content-type", "");
        request
            .headers_mut()
            .insert("content-length", body.len().to_string());
        let response =
            super::http_call(&super::https_connector(), request, TIMEOUT, OPERATION).await?;
        match response.status().as_u16() {
            200..=299 => Ok(()),
            status => Err(failed(format!("the ResponseURL answered HTTP {status}"))),
        }
    }
}
