//! S3 adapter: the static website's pages.

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;

use aws_sdk_s3::types::{
    BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration, ErrorDocument,
    IndexDocument, PublicAccessBlockConfiguration, ServerSideEncryption,
    ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    Tag, Tagging, VersioningConfiguration, WebsiteConfiguration,
};

use super::classify;
use crate::domain::{BucketFound, CLUSTER_TAG, ClusterName};
use crate::error::{Error, Result};
use crate::ports::StaticSite;

fn built<T>(
    what: &'static str,
    built: std::result::Result<T, aws_sdk_s3::error::BuildError>,
) -> Result<T> {
    built.map_err(|e| Error::aws(what, format!("request not expressible: {e}")))
}

#[derive(Clone, Debug)]
pub struct S3StaticSite {
    client: super::LazyClient<Client>,
}

impl S3StaticSite {
    pub fn new(sdk: &super::SdkConfig) -> Self {
        // Website buckets are named like the record (dots): path-style keeps TLS names valid,
        // and an endpoint override (the emulator) has no per-bucket host names either.
        S3StaticSite {
            client: super::LazyClient::new(sdk, |sdk| {
                Client::from_conf(
                    aws_sdk_s3::config::Builder::from(sdk)
                        .force_path_style(true)
                        .build(),
                )
            }),
        }
    }
}

impl S3StaticSite {
    fn partition(&self) -> &'static str {
        match self.client.config().region().map(|r| r.as_ref()) {
            Some(r) if r.starts_with("cn-") => "aws-cn",
            Some(r) if r.starts_with("us-gov-") => "aws-us-gov",
            _ => "aws",
        }
    }
}

#[async_trait]
impl StaticSite for S3StaticSite {
    async fn put_page_if_absent(
        &self,
        bucket: &str,
        key: &str,
        html: &str,
        cache_control: &str,
    ) -> Result<bool> {
        // A conditional write: S3 answers 412 Precondition Failed when the key exists
        // (https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html).
        match self
            .client
            .put_object()
            .bucket(bucket)
            .key(key)
            .if_none_match("*")
            .content_type("text/html; charset=utf-8")
            .cache_control(cache_control)
            .body(ByteStream::from(html.as_bytes().to_vec()))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(err) if err.raw_response().map(|r| r.status().as_u16()) == Some(412) => Ok(false),
            Err(err) => Err(classify("PutObject", err)),
        }
    }

    async fn find_bucket(&self, bucket: &str) -> Result<BucketFound> {
        match self.client.head_bucket().bucket(bucket).send().await {
            Ok(_) => {}
            Err(err) => {
                return match err.raw_response().map(|r| r.status().as_u16()) {
                    Some(404) => Ok(BucketFound::Missing),
                    Some(403) => Ok(BucketFound::OwnedElsewhere),
                    _ => Err(classify("HeadBucket", err)),
                };
            }
        }
        let tags = match self.client.get_bucket_tagging().bucket(bucket).send().await {
            Ok(out) => out.tag_set,
            // A bucket without tags answers NoSuchTagSet.
            Err(err)
                if err.as_service_error().and_then(|e| e.meta().code()) == Some("NoSuchTagSet") =>
            {
                Vec::new()
            }
            Err(err) => return Err(classify("GetBucketTagging", err)),
        };
        Ok(BucketFound::Exists {
            cluster_tag: tags
                .into_iter()
                .find(|t| t.key == CLUSTER_TAG)
                .map(|t| t.value),
        })
    }

    async fn create_bucket(&self, bucket: &str) -> Result<()> {
        let region = self.client.config().region().map(|r| r.as_ref().to_owned());
        // us-east-1 takes no location constraint; every other region needs its own.
        let placement = region.filter(|r| r != "us-east-1").map(|r| {
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(r.as_str()))
                .build()
        });
        self.client
            .create_bucket()
            .bucket(bucket)
            .set_create_bucket_configuration(placement)
            .send()
            .await
            .map_err(|e| classify("CreateBucket", e))?;
        Ok(())
    }

    async fn configure_bucket(
        &self,
        bucket: &str,
        cluster: &ClusterName,
        website: bool,
        page_key: &str,
    ) -> Result<()> {
        let c = &self.client;
        let tag = built(
            "PutBucketTagging",
            Tag::builder()
                .key(CLUSTER_TAG)
                .value(cluster.as_str())
                .build(),
        )?;
        let tagging = built("PutBucketTagging", Tagging::builder().tag_set(tag).build())?;
        c.put_bucket_tagging()
            .bucket(bucket)
            .tagging(tagging)
            .send()
            .await
            .map_err(|e| classify("PutBucketTagging", e))?;
        let encryption = ServerSideEncryptionConfiguration::builder()
            .rules(
                ServerSideEncryptionRule::builder()
                    .apply_server_side_encryption_by_default(built(
                        "PutBucketEncryption",
                        ServerSideEncryptionByDefault::builder()
                            .sse_algorithm(ServerSideEncryption::Aes256)
                            .build(),
                    )?)
                    .build(),
            )
            .build();
        c.put_bucket_encryption()
            .bucket(bucket)
            .server_side_encryption_configuration(built("PutBucketEncryption", encryption)?)
            .send()
            .await
            .map_err(|e| classify("PutBucketEncryption", e))?;
        c.put_bucket_versioning()
            .bucket(bucket)
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| classify("PutBucketVersioning", e))?;
        // ACLs stay blocked; only a website needs a public policy (CloudFront reads through
        // the stack's own policy for its origin access control, which is not public).
        c.put_public_access_block()
            .bucket(bucket)
            .public_access_block_configuration(
                PublicAccessBlockConfiguration::builder()
                    .block_public_acls(true)
                    .ignore_public_acls(true)
                    .block_public_policy(!website)
                    .restrict_public_buckets(!website)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| classify("PutPublicAccessBlock", e))?;
        if !website {
            return Ok(());
        }
        // Every path shows the page: it is the index and the error document.
        let index = built(
            "PutBucketWebsite",
            IndexDocument::builder().suffix(page_key).build(),
        )?;
        let error = built(
            "PutBucketWebsite",
            ErrorDocument::builder().key(page_key).build(),
        )?;
        c.put_bucket_website()
            .bucket(bucket)
            .website_configuration(
                WebsiteConfiguration::builder()
                    .index_document(index)
                    .error_document(error)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| classify("PutBucketWebsite", e))?;
        let policy = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{"Sid": "PublicReadOfTheStaticPageOnly", "Effect": "Allow", "Principal": "*",
                           "Action": "s3:GetObject", "Resource": format!("arn:{}:s3:::{bucket}/*", self.partition())}]
        });
        c.put_bucket_policy()
            .bucket(bucket)
            .policy(policy.to_string())
            .send()
            .await
            .map_err(|e| classify("PutBucketPolicy", e))?;
        Ok(())
    }
}
