//! S3 adapter: the static website's pages.

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::primitives::ByteStream;

use super::classify;
use crate::error::{Error, Result};
use crate::ports::StaticSite;

#[derive(Clone, Debug)]
pub struct S3StaticSite {
    client: Client,
}

impl S3StaticSite {
    pub fn new(sdk: &super::SdkConfig) -> Self {
        // Website buckets are named like the record (dots): path-style keeps TLS names valid,
        // and an endpoint override (the emulator) has no per-bucket host names either.
        let config = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(true)
            .build();
        S3StaticSite {
            client: Client::from_conf(config),
        }
    }
}

#[async_trait]
impl StaticSite for S3StaticSite {
    async fn put_page(
        &self,
        bucket: &str,
        key: &str,
        html: &str,
        cache_control: &str,
    ) -> Result<()> {
        self.client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type("text/html; charset=utf-8")
            .cache_control(cache_control)
            .body(ByteStream::from(html.as_bytes().to_vec()))
            .send()
            .await
            .map_err(|e| classify("PutObject", e))?;
        Ok(())
    }

    async fn get_page(&self, bucket: &str, key: &str) -> Result<Option<String>> {
        let out = match self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => out,
            Err(err) if matches!(err.as_service_error(), Some(GetObjectError::NoSuchKey(_))) => {
                return Ok(None);
            }
            // For a missing key S3 answers 403, not 404, to a caller without s3:ListBucket.
            Err(err) if err.raw_response().map(|r| r.status().as_u16()) == Some(403) => {
                return Err(Error::Aws {
                    operation: "GetObject",
                    message: format!(
                        "S3 answered 403 Access Denied for s3://{bucket}/{key}: a missing page looks like this without \
                         s3:ListBucket on arn:aws:s3:::{bucket} (grant it with s3:GetObject) ({})",
                        aws_smithy_types::error::display::DisplayErrorContext(&err)
                    ),
                });
            }
            Err(err) => return Err(classify("GetObject", err)),
        };
        let bytes = out.body.collect().await.map_err(|e| Error::Retryable {
            operation: "GetObject",
            message: format!("reading {bucket}/{key}: {e}"),
        })?;
        Ok(Some(
            String::from_utf8_lossy(&bytes.into_bytes()).into_owned(),
        ))
    }
}
