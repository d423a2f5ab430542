//! SSM adapter: the application's health asked on the instance itself with Run Command.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ssm::Client;
use aws_sdk_ssm::operation::get_command_invocation::GetCommandInvocationError;
use aws_sdk_ssm::operation::send_command::SendCommandError;
use aws_sdk_ssm::types::CommandInvocationStatus;

use super::classify;
use crate::domain::{InstanceId, ProbeOutcome};
use crate::error::{Error, Result};
use crate::ports::HealthProbe;

/// How often, and how long apart, one look asks for a command's result (a command still
/// running after that is read again on the lifecycle loop's next tick).
const POLLS: u32 = 5;
const POLL_INTERVAL: Duration = Duration::from_millis(500);

#[derive(Clone, Debug)]
pub struct SsmProbe {
    client: super::LazyClient<Client>,
}

impl SsmProbe {
    pub fn new(sdk: &super::SdkConfig) -> Self {
        SsmProbe {
            client: super::LazyClient::new(sdk, Client::new),
        }
    }
}

/// The shell command: fail on any HTTP error, never hang.
pub fn probe_command(path: &str) -> String {
    format!("curl -fsS --max-time 5 -o /dev/null http://localhost{path}")
}

#[async_trait]
impl HealthProbe for SsmProbe {
    async fn start_probe(&self, instance_id: &InstanceId, path: &str) -> Result<Option<String>> {
        let sent = self
            .client
            .send_command()
            .document_name("AWS-RunShellScript")
            .instance_ids(instance_id)
            .parameters("commands", vec![probe_command(path)])
            .timeout_seconds(30)
            .comment("halfhour launch readiness probe")
            .send()
            .await;
        let sent = match sent {
            Ok(out) => out,
            // Not a managed node (yet): SSM documents InvalidInstanceId for exactly that.
            Err(err)
                if matches!(
                    err.as_service_error(),
                    Some(SendCommandError::InvalidInstanceId(_))
                ) =>
            {
                return Ok(None);
            }
            Err(err) => return Err(classify("SendCommand", err)),
        };
        sent.command
            .and_then(|c| c.command_id)
            .map(Some)
            .ok_or_else(|| Error::aws("SendCommand", "no command id in the answer"))
    }

    async fn probe_result(
        &self,
        command_id: &str,
        instance_id: &InstanceId,
    ) -> Result<ProbeOutcome> {
        for attempt in 0..POLLS {
            if attempt > 0 {
                tokio::time::sleep(POLL_INTERVAL).await;
            }
            let invocation = self
                .client
                .get_command_invocation()
                .command_id(command_id)
                .instance_id(instance_id)
                .send()
                .await;
            let invocation = match invocation {
                Ok(out) => out,
                // Right after SendCommand the invocation may not exist yet.
                Err(err)
                    if matches!(
                        err.as_service_error(),
                        Some(GetCommandInvocationError::InvocationDoesNotExist(_))
                    ) =>
                {
                    continue;
                }
                Err(err) => return Err(classify("GetCommandInvocation", err)),
            };
            match invocation.status() {
                Some(CommandInvocationStatus::Success) => return Ok(ProbeOutcome::Healthy),
                Some(
                    CommandInvocationStatus::Failed
                    | CommandInvocationStatus::TimedOut
                    | CommandInvocationStatus::Cancelled,
                ) => {
                    let detail = invocation
                        .standard_error_content()
                        .filter(|e| !e.is_empty())
                        .unwrap_or("probe failed");
                    return Ok(ProbeOutcome::Failing(detail.to_owned()));
                }
                _ => {}
            }
        }
        Ok(ProbeOutcome::Pending)
    }
}
