//! What a visitor's browser gets from a URL: a plain GET (no redirect followed, no cookies)
//! through the same rustls connector the SDK clients use.

use std::sync::OnceLock;
use std::time::Duration;

use async_trait::async_trait;
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;

use crate::error::{Error, Result};
use crate::ports::{Web, WebAnswer};

const TIMEOUT: Duration = Duration::from_secs(5);
const OPERATION: &str = "GET the static site";

/// Its connector is made on the first GET and kept: a warm process reuses the connection (and
/// the parsed roots) on every tick instead of building TLS anew.
#[derive(Debug, Default)]
pub struct HttpsWeb {
    connector: OnceLock<aws_smithy_http_client::Connector>,
}

#[async_trait]
impl Web for HttpsWeb {
    async fn get(&self, url: &str) -> Result<WebAnswer> {
        let failed = |message: String| Error::Retryable {
            operation: OPERATION,
            message: format!("{url}: {message}"),
        };
        let mut request = HttpRequest::new(SdkBody::empty());
        request
            .set_uri(url)
            .map_err(|e| failed(format!("not a URL: {e}")))?;
        request
            .set_method("GET")
            .map_err(|e| failed(e.to_string()))?;
        let connector = self.connector.get_or_init(super::https_connector);
        let response = super::http_call(connector, request, TIMEOUT, OPERATION).await?;
        let status = response.status().as_u16();
        let retry_after = response.headers().get("retry-after").map(str::to_owned);
        let body = tokio::time::timeout(TIMEOUT, ByteStream::new(response.into_body()).collect())
            .await
            .map_err(|_| failed("the body did not arrive in time".into()))?
            .map_err(|e| failed(e.to_string()))?
            .into_bytes();
        Ok(WebAnswer {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
            retry_after,
        })
    }
}
