//! The CloudWatch alarms adapter.

use async_trait::async_trait;
use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::types::AlarmType;

use super::classify;
use crate::domain::{AlarmState, AlarmStatus, Millis};
use crate::error::{Error, Result};
use crate::ports::Alarms;

/// DescribeAlarms takes at most 100 names per call.
const NAMES_PER_CALL: usize = 100;

#[derive(Clone, Debug)]
pub struct CloudWatchAlarms {
    client: super::LazyClient<Client>,
}

impl CloudWatchAlarms {
    pub fn new(sdk: &super::SdkConfig) -> Self {
        CloudWatchAlarms {
            client: super::LazyClient::new(sdk, Client::new),
        }
    }
}

#[async_trait]
impl Alarms for CloudWatchAlarms {
    async fn alarm_states(&self, names: &[String]) -> Result<Vec<AlarmStatus>> {
        let mut statuses = Vec::new();
        for chunk in names.chunks(NAMES_PER_CALL) {
            let mut pages = self
                .client
                .describe_alarms()
                .set_alarm_names(Some(chunk.to_vec()))
                .alarm_types(AlarmType::MetricAlarm)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| classify("DescribeAlarms", e))?;
                for alarm in page.metric_alarms() {
                    let name = alarm.alarm_name().unwrap_or_default().to_owned();
                    let state = alarm
                        .state_value()
                        .map(|s| AlarmState::parse(s.as_str()))
                        .transpose()
                        .map_err(|message| Error::aws("DescribeAlarms", message))?
                        .unwrap_or(AlarmState::InsufficientData);
                    let since = alarm
                        .state_updated_timestamp()
                        .and_then(|t| t.to_millis().ok())
                        .map_or(Millis(0), Millis);
                    statuses.push(AlarmStatus { name, state, since });
                }
            }
        }
        Ok(statuses)
    }
}
