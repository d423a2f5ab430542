//! Every shape an invocation's payload arrives in, recognised once for every loop: an
//! operator's (or the reconciler's) command, a CloudFormation custom-resource request, and what
//! AWS reports through EventBridge, an SNS subscription or a CloudWatch alarm's own Lambda
//! action. AWS's shapes are read through `aws_lambda_events`' types; what they carry becomes
//! one typed [`Event`], so a loop only says which events it handles.

use aws_lambda_events::cloudformation::CloudFormationCustomResourceRequest;
use aws_lambda_events::cloudwatch_alarms::{
    CloudWatchAlarm, CloudWatchAlarmData, CloudWatchAlarmState, CloudWatchAlarmStateValue,
};
use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::sns::SnsEvent;
use serde::Deserialize;
use serde_json::Value;

use crate::domain::custom_resource::{CustomResourceRequest, RequestType};
use crate::domain::{
    AlarmState, AlarmTransition, ClusterName, Command, ImageId, Millis, parse_timestamp,
};
use crate::error::{Error, Result};

/// One payload, recognised.
#[derive(Debug, Clone, PartialEq)]
pub enum Envelope {
    /// `{"action": …}`, already checked against this deployment's cluster.
    Command(Command),
    /// CloudFormation asks the function behind a custom resource of the stack.
    CustomResource(CustomResourceRequest),
    /// Something AWS reports, whichever way it was delivered.
    Event(Event),
}

/// What AWS reports, typed.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A CloudWatch alarm changed state: its Lambda action, EventBridge, or SNS.
    Alarm(AlarmTransition),
    /// An Auto Scaling lifecycle action waits: EventBridge, or the hook's SNS target.
    LifecycleAction(LifecycleActionEvent),
    /// Auto Scaling's test message, sent to a hook's SNS target when the hook is created.
    LifecycleTest,
    /// EventBridge's `EC2 AMI State Change`.
    ImageState(ImageStateChange),
    /// EventBridge's `RDS DB Instance Event`.
    DbInstance(DbInstanceEvent),
    /// EventBridge's `Scheduled Event`.
    Schedule,
}

impl Event {
    /// The event as a sentence's object, for the error a loop answers when it is not for it.
    pub fn describe(&self) -> &'static str {
        match self {
            Event::Alarm(_) => "a CloudWatch alarm state change",
            Event::LifecycleAction(_) => "an Auto Scaling lifecycle action",
            Event::LifecycleTest => "Auto Scaling's test notification",
            Event::ImageState(_) => "an EC2 AMI State Change",
            Event::DbInstance(_) => "an RDS DB Instance Event",
            Event::Schedule => "an EventBridge Scheduled Event",
        }
    }
}

/// The detail of a lifecycle action, as EventBridge and the hook's SNS message both name it
/// (<https://docs.aws.amazon.com/autoscaling/ec2/userguide/prepare-for-lifecycle-notifications.html>).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LifecycleActionEvent {
    #[serde(default)]
    pub lifecycle_action_token: Option<String>,
    pub auto_scaling_group_name: String,
    pub lifecycle_hook_name: String,
    #[serde(rename = "EC2InstanceId")]
    pub ec2_instance_id: String,
    pub lifecycle_transition: String,
    #[serde(default)]
    pub origin: Option<String>,
    #[serde(default)]
    pub destination: Option<String>,
    /// When the action began: the EventBridge event's `time`, or the SNS message's `Time`.
    #[serde(rename = "Time", default, deserialize_with = "optional_timestamp")]
    pub started_at: Option<Millis>,
}

/// The detail of an `EC2 AMI State Change`
/// (<https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/monitor-ami-events.html>).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageStateChange {
    #[serde(deserialize_with = "image_id")]
    pub image_id: ImageId,
    pub state: String,
    #[serde(default)]
    pub error_message: Option<String>,
}

/// An `RDS DB Instance Event`: EventBridge's event id and the detail RDS writes
/// (<https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-cloud-watch-events.html>).
/// Every detail field may be absent: RDS leaves `EventID` out of some events.
#[derive(Debug, Clone, PartialEq)]
pub struct DbInstanceEvent {
    pub id: String,
    pub detail: DbInstanceDetail,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DbInstanceDetail {
    pub event_categories: Vec<String>,
    pub source_identifier: Option<String>,
    pub source_arn: Option<String>,
    pub message: String,
    #[serde(rename = "EventID")]
    pub event_id: String,
}

impl Envelope {
    /// Recognise `payload`; a command for another cluster is [`Error::WrongCluster`], anything
    /// else unrecognised or malformed a [`Error::BadEvent`] naming what was wrong.
    pub fn recognise(payload: &Value, cluster: &ClusterName) -> Result<Envelope> {
        if let Some(command) = Command::from_event(payload, cluster) {
            return Ok(Envelope::Command(
                command.map_err(|e| Error::from_command(e, cluster))?,
            ));
        }
        let has = |key: &str| payload.get(key).is_some();
        if has("RequestType") {
            return custom_resource(payload).map(Envelope::CustomResource);
        }
        let event = if has("Records") {
            sns(payload)?
        } else if has("alarmData") {
            alarm_action(payload)?
        } else if has("detail-type") {
            eventbridge(payload)?
        } else {
            return Err(Error::bad_event(
                "not a payload halfhour knows: expected {\"action\": …}, an EventBridge event, an SNS notification, a CloudWatch alarm action or a CloudFormation request",
            ));
        };
        Ok(Envelope::Event(event))
    }

    /// The error for a recognised payload the loop does not handle, naming what it does.
    pub fn not_handled(&self, expected: &str) -> Error {
        let what = match self {
            Envelope::Command(command) => return unknown_action(&command.action, expected),
            Envelope::CustomResource(_) => "a CloudFormation custom-resource request",
            Envelope::Event(event) => event.describe(),
        };
        Error::bad_event(format!("{what} is not for this loop: expected {expected}"))
    }
}

fn unknown_action(action: &str, expected: &str) -> Error {
    Error::bad_event(format!("unknown action `{action}`: expected {expected}"))
}

fn malformed(what: &str) -> impl Fn(serde_json::Error) -> Error + '_ {
    move |e| Error::bad_event(format!("malformed {what}: {e}"))
}

fn custom_resource(payload: &Value) -> Result<CustomResourceRequest> {
    use CloudFormationCustomResourceRequest as Cfn;
    let request = Cfn::<Value, Value>::deserialize(payload)
        .map_err(malformed("CloudFormation custom resource request"))?;
    // The three request types share every field halfhour reads but the physical id.
    macro_rules! ours {
        ($r:expr, $request_type:expr, $physical_resource_id:expr) => {
            CustomResourceRequest {
                request_type: $request_type,
                physical_resource_id: $physical_resource_id,
                response_url: $r.response_url,
                stack_id: $r.stack_id,
                request_id: $r.request_id,
                logical_resource_id: $r.logical_resource_id,
                resource_type: Some($r.resource_type),
                resource_properties: $r.resource_properties,
            }
        };
    }
    Ok(match request {
        Cfn::Create(r) => ours!(r, RequestType::Create, None),
        Cfn::Update(r) => ours!(r, RequestType::Update, Some(r.physical_resource_id)),
        Cfn::Delete(r) => ours!(r, RequestType::Delete, Some(r.physical_resource_id)),
        _ => return Err(Error::bad_event("unknown CloudFormation request type")),
    })
}

/// SNS delivers one record per invocation
/// (<https://docs.aws.amazon.com/lambda/latest/dg/with-sns.html>); its message is an alarm's
/// or a lifecycle hook's notification.
fn sns(payload: &Value) -> Result<Event> {
    let event = SnsEvent::deserialize(payload).map_err(malformed("SNS notification"))?;
    let [record] = event.records.as_slice() else {
        return Err(Error::bad_event(format!(
            "expected one SNS record, got {}",
            event.records.len()
        )));
    };
    let message: Value = serde_json::from_str(&record.sns.message)
        .map_err(|e| Error::bad_event(format!("SNS message is not JSON: {e}")))?;
    let has = |key: &str| message.get(key).is_some();
    if message.get("Event").and_then(Value::as_str) == Some("autoscaling:TEST_NOTIFICATION") {
        Ok(Event::LifecycleTest)
    } else if has("LifecycleTransition") {
        LifecycleActionEvent::deserialize(&message)
            .map(Event::LifecycleAction)
            .map_err(malformed("lifecycle action"))
    } else if has("AlarmName") {
        alarm_notification(&message).map(Event::Alarm)
    } else {
        Err(Error::bad_event(
            "SNS message is neither an alarm's nor a lifecycle hook's notification",
        ))
    }
}

/// The alarm notification CloudWatch publishes to SNS
/// (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-sns.html>); no
/// `aws_lambda_events` type models it.
fn alarm_notification(message: &Value) -> Result<AlarmTransition> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Notification {
        alarm_name: String,
        new_state_value: String,
        #[serde(default)]
        old_state_value: Option<String>,
        state_change_time: String,
    }
    let n = Notification::deserialize(message).map_err(malformed("alarm notification"))?;
    let state = |s: &str| AlarmState::parse(s).map_err(Error::BadEvent);
    Ok(AlarmTransition {
        state: state(&n.new_state_value)?,
        previous: n.old_state_value.as_deref().map(state).transpose()?,
        changed_at: parse_timestamp(&n.state_change_time).map_err(Error::BadEvent)?,
        alarm_name: alarm_name(n.alarm_name)?,
    })
}

/// The payload of an alarm's Lambda action
/// (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarms-and-actions-Lambda.html>).
fn alarm_action(payload: &Value) -> Result<Event> {
    let alarm = CloudWatchAlarm::<Value, Value>::deserialize(payload)
        .map_err(malformed("CloudWatch alarm action"))?;
    alarm_data(alarm.alarm_data).map(Event::Alarm)
}

fn alarm_data(data: CloudWatchAlarmData<Value, Value>) -> Result<AlarmTransition> {
    let state = data
        .state
        .ok_or_else(|| Error::bad_event("alarm data without a state"))?;
    Ok(AlarmTransition {
        previous: data.previous_state.as_ref().map(alarm_state).transpose()?,
        state: alarm_state(&state)?,
        changed_at: Millis(state.timestamp.timestamp_millis()),
        alarm_name: alarm_name(data.alarm_name)?,
    })
}

fn alarm_state(state: &CloudWatchAlarmState<Value>) -> Result<AlarmState> {
    match state.value {
        CloudWatchAlarmStateValue::Ok => Ok(AlarmState::Ok),
        CloudWatchAlarmStateValue::Alarm => Ok(AlarmState::Alarm),
        CloudWatchAlarmStateValue::InsufficientData => Ok(AlarmState::InsufficientData),
        ref other => Err(Error::bad_event(format!("unknown alarm state {other:?}"))),
    }
}

fn alarm_name(name: String) -> Result<String> {
    if name.trim().is_empty() {
        return Err(Error::bad_event("alarm name is empty"));
    }
    Ok(name)
}

/// An EventBridge event, by its source and detail-type. The source is checked too: an event
/// put on a bus by anyone else cannot carry an `aws.` source
/// (<https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-events-structure.html>).
fn eventbridge(payload: &Value) -> Result<Event> {
    let event =
        EventBridgeEvent::<Value>::deserialize(payload).map_err(malformed("EventBridge event"))?;
    let detail = &event.detail;
    match (event.source.as_str(), event.detail_type.as_str()) {
        ("aws.cloudwatch", "CloudWatch Alarm State Change") => {
            CloudWatchAlarmData::<Value, Value>::deserialize(detail)
                .map_err(malformed("alarm state change"))
                .and_then(alarm_data)
                .map(Event::Alarm)
        }
        (
            "aws.autoscaling",
            "EC2 Instance-launch Lifecycle Action" | "EC2 Instance-terminate Lifecycle Action",
        ) => {
            let mut action =
                LifecycleActionEvent::deserialize(detail).map_err(malformed("lifecycle action"))?;
            if let Some(time) = event.time {
                action.started_at = Some(Millis(time.timestamp_millis()));
            }
            Ok(Event::LifecycleAction(action))
        }
        ("aws.ec2", "EC2 AMI State Change") => ImageStateChange::deserialize(detail)
            .map(Event::ImageState)
            .map_err(malformed("AMI state change")),
        ("aws.rds", "RDS DB Instance Event") => Ok(Event::DbInstance(DbInstanceEvent {
            detail: DbInstanceDetail::deserialize(detail).map_err(malformed("RDS event"))?,
            id: event
                .id
                .ok_or_else(|| Error::bad_event("RDS event without an id"))?,
        })),
        ("aws.events", "Scheduled Event") => Ok(Event::Schedule),
        (source, detail_type) => Err(Error::bad_event(format!(
            "EventBridge event `{detail_type}` from `{source}` is not one halfhour handles"
        ))),
    }
}

/// An image id as an event names it: refused unless it has the form AWS gives it.
fn image_id<'de, D>(deserializer: D) -> std::result::Result<ImageId, D::Error>
where
    D: serde::Deserializer<'de>,
{
    ImageId::parse(&String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
}

fn optional_timestamp<'de, D>(deserializer: D) -> std::result::Result<Option<Millis>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Option::<String>::deserialize(deserializer)?
        .map(|s| parse_timestamp(&s).map_err(serde::de::Error::custom))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn prod() -> ClusterName {
        ClusterName::new("prod").unwrap()
    }

    fn event(payload: &Value) -> Event {
        match Envelope::recognise(payload, &prod()).unwrap() {
            Envelope::Event(event) => event,
            other => panic!("not an event: {other:?}"),
        }
    }

    fn refused(payload: Value) -> String {
        let err = Envelope::recognise(&payload, &prod()).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::BadEvent, "{err}");
        err.to_string()
    }

    #[test]
    fn an_alarm_arrives_the_same_in_each_of_its_three_shapes() {
        let state = json!({"value": "ALARM", "reason": "Threshold Crossed", "timestamp": "2026-11-27T13:47:30.123+0000"});
        let previous =
            json!({"value": "OK", "reason": "", "timestamp": "2026-11-27T12:00:00.000+0000"});
        let data = json!({"alarmName": "cpu-high", "state": state, "previousState": previous, "configuration": {}});
        let action = json!({"source": "aws.cloudwatch", "alarmArn": "arn:aws:cloudwatch:us-east-1:1:alarm:cpu-high",
            "accountId": "1", "time": "2026-11-27T13:47:30.123+0000", "region": "us-east-1", "alarmData": data});
        let bridged = json!({"version": "0", "id": "e", "detail-type": "CloudWatch Alarm State Change",
            "source": "aws.cloudwatch", "account": "1", "time": "2026-11-27T13:47:30Z", "region": "us-east-1",
            "resources": [], "detail": data});
        let message = json!({"AlarmName": "cpu-high", "NewStateValue": "ALARM", "OldStateValue": "OK",
            "StateChangeTime": "2026-11-27T13:47:30.123+0000"});
        let sns = json!({"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0", "EventSubscriptionArn": "arn:aws:sns:us-east-1:1:t:s",
            "Sns": {"Type": "Notification", "MessageId": "m", "TopicArn": "arn:aws:sns:us-east-1:1:t", "Subject": null,
                "Message": message.to_string(), "Timestamp": "2026-11-27T13:47:31.000Z", "SignatureVersion": "1",
                "Signature": "s", "SigningCertUrl": "https://c", "UnsubscribeUrl": "https://u", "MessageAttributes": {}}}]});
        let expected = Event::Alarm(AlarmTransition {
            alarm_name: "cpu-high".into(),
            state: AlarmState::Alarm,
            previous: Some(AlarmState::Ok),
            changed_at: parse_timestamp("2026-11-27T13:47:30.123Z").unwrap(),
        });
        for payload in [action, bridged, sns] {
            assert_eq!(event(&payload), expected, "{payload}");
        }
        let Event::Alarm(transition) = expected else {
            unreachable!()
        };
        assert_eq!(transition.event_key(), "cpu-high@1795787250123");
    }

    #[test]
    fn an_aws_event_from_another_source_or_of_another_type_is_refused() {
        let spoofed = json!({"detail-type": "Scheduled Event", "source": "my.app", "detail": {}});
        assert!(refused(spoofed).contains("`Scheduled Event` from `my.app`"));
        let unknown = json!({"detail-type": "EC2 Instance State-change Notification", "source": "aws.ec2", "detail": {}});
        assert!(refused(unknown).contains("not one halfhour handles"));
        assert_eq!(
            event(&json!({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}})),
            Event::Schedule
        );
    }

    #[test]
    fn malformed_shapes_say_what_they_are_not() {
        assert!(refused(json!({"Records": []})).contains("SNS"));
        assert!(refused(json!({"hello": 1})).contains("not a payload halfhour knows"));
        assert!(
            refused(json!({"alarmData": {"alarmName": "x"}, "time": "2026-11-27T13:47:30Z"}))
                .contains("alarm")
        );
        assert!(refused(json!({"RequestType": "Create"})).contains("CloudFormation"));
        let no_state = json!({"detail-type": "CloudWatch Alarm State Change", "source": "aws.cloudwatch",
            "detail": {"alarmName": "x", "configuration": {}}});
        assert!(refused(no_state).contains("without a state"));
        let maybe = json!({"detail-type": "CloudWatch Alarm State Change", "source": "aws.cloudwatch",
            "detail": {"alarmName": "x", "configuration": {},
                       "state": {"value": "MAYBE", "reason": "", "timestamp": "2026-01-01T00:00:00Z"}}});
        assert!(refused(maybe).contains("MAYBE"));
    }

    #[test]
    fn commands_are_checked_against_the_cluster_before_anything_else() {
        let other = Envelope::recognise(&json!({"action": "reconcile", "cluster": "b"}), &prod());
        assert!(matches!(other, Err(Error::WrongCluster { .. })));
        let ours = Envelope::recognise(&json!({"action": "reconcile"}), &prod()).unwrap();
        assert!(
            ours.not_handled("`bake`")
                .to_string()
                .contains("unknown action `reconcile`")
        );
    }

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
        let Envelope::CustomResource(request) = Envelope::recognise(&create(), &prod()).unwrap()
        else {
            panic!("not a custom-resource request")
        };
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
    fn a_custom_resource_request_of_an_unknown_type_is_refused() {
        let mut bad = create();
        bad["RequestType"] = "Rename".into();
        assert!(refused(bad).contains("CloudFormation"));
    }
}
