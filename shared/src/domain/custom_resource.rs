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

/// One custom-resource request (the fields halfhour reads).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CustomResourceRequest {
    pub request_type: RequestType,
    #[serde(rename = "ResponseURL")]
    pub response_url: String,
    pub stack_id: String,
    pub request_id: String,
    pub logical_resource_id: String,
    /// Absent on Create (the function names it); present on Update and Delete.
    #[serde(default)]
    pub physical_resource_id: Option<String>,
    #[serde(default)]
    pub resource_type: Option<String>,
    #[serde(default)]
    pub resource_properties: Value,
}

impl CustomResourceRequest {
    /// A payload shaped like a custom-resource request, else None.
    pub fn from_event(payload: &Value) -> Option<Result<Self, String>> {
        payload.get("RequestType")?;
        payload.get("ResponseURL")?;
        Some(
            CustomResourceRequest::deserialize(payload)
                .map_err(|e| format!("malformed CloudFormation custom resource request: {e}")),
        )
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    fn create() -> Value {
        serde_json::json!({
            "RequestType": "Create",
            "ResponseURL": "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/x?X-Amz-Signature=s",
            "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/halfhour/1",
            "RequestId": "unique id for this create request",
            "ResourceType": "Custom::StaticPage",
            "LogicalResourceId": "StaticPage",
            "ResourceProperties": {"ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:f", "Bucket": "www.example.com"}
        })
    }

    #[test]
    fn a_create_request_parses_and_is_answered() {
        let request = CustomResourceRequest::from_event(&create())
            .unwrap()
            .unwrap();
        assert_eq!(request.request_type, RequestType::Create);
        let answer: Value =
            serde_json::from_str(&request.response(Ok(()), "www.example.com")).unwrap();
        assert_eq!(answer["Status"], "SUCCESS");
        assert_eq!(answer["PhysicalResourceId"], "www.example.com");
        assert_eq!(answer["LogicalResourceId"], "StaticPage");
        let failed: Value =
            serde_json::from_str(&request.response(Err("denied".into()), "p")).unwrap();
        assert_eq!(failed["Status"], "FAILED");
        assert_eq!(failed["Reason"], "denied");
    }

    #[test]
    fn other_payloads_are_not_custom_resource_requests() {
        assert!(
            CustomResourceRequest::from_event(&serde_json::json!({"action": "status"})).is_none()
        );
        let mut bad = create();
        bad["RequestType"] = "Rename".into();
        assert!(CustomResourceRequest::from_event(&bad).unwrap().is_err());
    }
}
