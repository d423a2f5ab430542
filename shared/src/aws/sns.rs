//! SNS adapter: operator-visible notifications.

use async_trait::async_trait;
use aws_sdk_sns::Client;

use super::classify;
use crate::error::Result;
use crate::ports::Notifier;

#[derive(Clone, Debug)]
pub struct SnsNotifier {
    client: super::LazyClient<Client>,
    topic_arn: String,
}

impl SnsNotifier {
    pub fn new(sdk: &super::SdkConfig, topic_arn: impl Into<String>) -> Self {
        SnsNotifier {
            client: super::LazyClient::new(sdk, Client::new),
            topic_arn: topic_arn.into(),
        }
    }
}

/// The notifier for an optional topic: None (notifications only logged) without one.
pub fn notifier(
    sdk: &super::SdkConfig,
    topic_arn: Option<&String>,
) -> Option<std::sync::Arc<dyn Notifier>> {
    topic_arn
        .map(|arn| std::sync::Arc::new(SnsNotifier::new(sdk, arn)) as std::sync::Arc<dyn Notifier>)
}

#[async_trait]
impl Notifier for SnsNotifier {
    async fn notify(&self, notice: &crate::domain::Notice) -> Result<()> {
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(notice.subject())
            .message_structure("json")
            .message(notice.sns_message())
            .send()
            .await
            .map_err(|e| classify("Publish", e))?;
        Ok(())
    }
}
