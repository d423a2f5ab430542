//! CloudFormation custom resources: the request CloudFormation sends a function that backs one,
//! and the answer it waits for at the request's `ResponseURL`
//! (<https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/crpg-ref-requests.html>,
//! <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/crpg-ref-responses.html>).

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RequestType {
    Create,
    Update,
    Delete,
}

/// One custom-resource request (the fields halfhour reads), as [`crate::envelope`] recognises it.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomResourceRequest {
    pub request_type: RequestType,
    pub response_url: String,
    pub stack_id: String,
    pub request_id: String,
    pub logical_resource_id: String,
    /// Absent on Create (the function names it); present on Update and Delete.
    pub physical_resource_id: Option<String>,
    pub resource_type: Option<String>,
    pub resource_properties: Value,
}

impl CustomResourceRequest {
    /// The answer to PUT to `response_url`: SUCCESS, or FAILED with the reason CloudFormation
    /// shows in the stack's events. CloudFormation caps the whole response at 4096 bytes.
    pub fn response(&self, outcome: Result<(), String>, physical_id: &str) -> String {
        let (status, reason) = match outcome {
            Ok(()) => ("SUCCESS", "done".to_owned()),
            Err(reason) => ("FAILED", reason.chars().take(1000).collect()),
        };
        serde_json::json!({
            "Status": status,
            "Reason": reason,
            "PhysicalResourceId": self.physical_resource_id.as_deref().unwrap_or(physical_id),
            "StackId": self.stack_id,
            "RequestId": self.request_id,
            "LogicalResourceId": self.logical_resource_id,
            "NoEcho": false,
            "Data": {}
        })
        .to_string()
    }
}
