//! The notifications a function published, read back as their subscribers get them: the e-mail
//! text, and the custom notification Amazon Q Developer in chat applications (AWS Chatbot)
//! posts to Slack or Teams, checked against its documented event schema.

use serde_json::Value;

use crate::Emulator;

/// One Publish, as each kind of subscriber receives it.
#[derive(Debug, Clone)]
pub struct Published {
    pub subject: String,
    /// What e-mail subscribers read (the `email` entry of the structured message).
    pub email: String,
    /// What every other protocol gets (the `default` entry): a Chatbot custom notification.
    pub chat: Value,
}

impl Published {
    /// Everything a reader sees, for `contains` checks.
    pub fn text(&self) -> String {
        format!("{}\n{}\n{}", self.subject, self.email, self.chat)
    }
}

/// Every notification `app` published, in order: those SNS took (a Publish it refused or never
/// answered reached no subscriber). Panics when one is not a structured message whose `default`
/// entry is a valid custom notification: every test that reads notifications checks their
/// shape too.
pub fn published(app: &str) -> Vec<Published> {
    Emulator::shared()
        .requests(app)
        .iter()
        .filter(|r| r.action == "Publish" && r.took_effect())
        .map(|r| read(&r.params).unwrap_or_else(|e| panic!("{e}: {}", r.params)))
        .collect()
}

fn read(params: &Value) -> Result<Published, String> {
    if params["MessageStructure"] != "json" {
        return Err("not published with MessageStructure=json".into());
    }
    let message: Value = serde_json::from_str(params["Message"].as_str().unwrap_or_default())
        .map_err(|e| format!("Message is not JSON: {e}"))?;
    let default = message["default"].as_str().ok_or("no default entry")?;
    let chat: Value =
        serde_json::from_str(default).map_err(|e| format!("default is not JSON: {e}"))?;
    let violations = chatbot_violations(&chat);
    if !violations.is_empty() {
        return Err(format!(
            "not a Chatbot custom notification: {}",
            violations.join("; ")
        ));
    }
    Ok(Published {
        subject: params["Subject"].as_str().unwrap_or_default().to_owned(),
        email: message["email"]
            .as_str()
            .ok_or("no email entry")?
            .to_owned(),
        chat,
    })
}

/// Where `event` breaks the custom notification event schema of
/// https://docs.aws.amazon.com/chatbot/latest/adminguide/custom-notifs.html: `version` must be
/// "1.0" and `source` "custom"; `content` carries the text (`textType` only `client-markdown`,
/// strings `title` and `description`, string lists `nextSteps` and `keywords`); `metadata` is
/// optional (strings `threadId`, `summary`, `eventType`; a string list `relatedResources`;
/// `additionalContext` a map of strings; boolean `enableCustomActions`). Stricter than the page
/// where it is silent: no keys it does not name, and a title and a description always.
pub fn chatbot_violations(event: &Value) -> Vec<String> {
    let mut found = Vec::new();
    let Some(top) = event.as_object() else {
        return vec!["not an object".into()];
    };
    unknown_keys(
        top,
        &["version", "source", "id", "content", "metadata"],
        "",
        &mut found,
    );
    if event["version"] != "1.0" {
        found.push(format!("version must be \"1.0\", not {}", event["version"]));
    }
    if event["source"] != "custom" {
        found.push(format!(
            "source must be \"custom\", not {}",
            event["source"]
        ));
    }
    if top.get("id").is_some_and(|id| !id.is_string()) {
        found.push("id must be a string".into());
    }
    match event["content"].as_object() {
        None => found.push("content is required and must be an object".into()),
        Some(content) => {
            unknown_keys(
                content,
                &["textType", "title", "description", "nextSteps", "keywords"],
                "content.",
                &mut found,
            );
            if content
                .get("textType")
                .is_some_and(|t| t != "client-markdown")
            {
                found.push("content.textType must be client-markdown".into());
            }
            for field in ["title", "description"] {
                if content
                    .get(field)
                    .and_then(Value::as_str)
                    .is_none_or(|s| s.trim().is_empty())
                {
                    found.push(format!("content.{field} must be a non-empty string"));
                }
            }
            for field in ["nextSteps", "keywords"] {
                string_list(content.get(field), &format!("content.{field}"), &mut found);
            }
        }
    }
    if let Some(metadata) = top.get("metadata") {
        let Some(metadata) = metadata.as_object() else {
            found.push("metadata must be an object".into());
            return found;
        };
        unknown_keys(
            metadata,
            &[
                "threadId",
                "summary",
                "eventType",
                "relatedResources",
                "additionalContext",
                "enableCustomActions",
            ],
            "metadata.",
            &mut found,
        );
        for field in ["threadId", "summary", "eventType"] {
            if metadata.get(field).is_some_and(|v| !v.is_string()) {
                found.push(format!("metadata.{field} must be a string"));
            }
        }
        string_list(
            metadata.get("relatedResources"),
            "metadata.relatedResources",
            &mut found,
        );
        if let Some(context) = metadata.get("additionalContext") {
            let strings = context
                .as_object()
                .is_some_and(|m| m.values().all(Value::is_string));
            if !strings {
                found.push("metadata.additionalContext must map keys to strings".into());
            }
        }
        if metadata
            .get("enableCustomActions")
            .is_some_and(|v| !v.is_boolean())
        {
            found.push("metadata.enableCustomActions must be a boolean".into());
        }
    }
    found
}

fn unknown_keys(
    object: &serde_json::Map<String, Value>,
    known: &[&str],
    prefix: &str,
    found: &mut Vec<String>,
) {
    for key in object.keys().filter(|k| !known.contains(&k.as_str())) {
        found.push(format!("{prefix}{key} is not in the schema"));
    }
}

fn string_list(value: Option<&Value>, name: &str, found: &mut Vec<String>) {
    if let Some(value) = value
        && !value
            .as_array()
            .is_some_and(|items| items.iter().all(Value::is_string))
    {
        found.push(format!("{name} must be a list of strings"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use halfhour::domain::{ClusterName, Loop, Millis, Notice};
    use proptest::prelude::*;
    use serde_json::json;

    proptest! {
        /// Every notice any loop builds, whatever its text, is a valid custom notification in
        /// its structured message, beside the e-mail text.
        #[test]
        fn every_notice_is_a_valid_custom_notification(
            title in "[^\\p{C}]{1,120}",
            description in "[^\\p{C}]{1,400}",
            steps in proptest::collection::vec("[^\\p{C}]{1,80}", 0..4),
            resources in proptest::collection::vec("[a-z0-9:/-]{0,40}", 0..3),
            summarised in proptest::option::of((1u32..500, 0i64..4_000_000_000_000)),
        ) {
            prop_assume!(!title.trim().is_empty() && !description.trim().is_empty());
            let cluster = ClusterName::new("prod").unwrap();
            let mut notice = Notice::new(Loop::GoldImage, &cluster, "rolled-back", title, description);
            for step in steps {
                notice = notice.next_step(step);
            }
            for resource in resources {
                notice = notice.resource(resource);
            }
            notice.summarised = summarised.map(|(n, at)| (n, Millis(at)));
            let published = read(&json!({
                "MessageStructure": "json",
                "Subject": notice.subject(),
                "Message": notice.sns_message(),
            }))
            .map_err(TestCaseError::fail)?;
            prop_assert!(published.subject.chars().count() <= 100);
            prop_assert_eq!(published.email, notice.email_text());
        }
    }

    /// A notification in the documented shape passes; each kind of break is named.
    #[test]
    fn the_schema_check_accepts_the_documented_shape_and_names_each_break() {
        let sample = json!({
            "version": "1.0",
            "source": "custom",
            "id": "c-weihfjdsf",
            "content": {
                "textType": "client-markdown",
                "title": ":warning: Banana Order processing is down!",
                "description": "Banana Order processor application is no longer responding.",
                "nextSteps": ["Refer to <http://www.example.com|*diagnosis* runbook>"],
                "keywords": ["BananaOrderIntake", "Production"]
            },
            "metadata": {
                "threadId": "BananaOrderProcessing-1",
                "summary": "Order Processing Update - No new orders received",
                "eventType": "BananaOrderAppEvent",
                "relatedResources": ["i-1234567890abcdef0"],
                "additionalContext": {"priority": "critical"}
            }
        });
        assert_eq!(chatbot_violations(&sample), Vec::<String>::new());
        let mut broken = sample.clone();
        broken["version"] = json!("2.0");
        broken["content"]["textType"] = json!("html");
        broken["content"]["nextSteps"] = json!("one string");
        broken["metadata"]["additionalContext"] = json!({"n": 1});
        broken["extra"] = json!(true);
        let found = chatbot_violations(&broken);
        assert_eq!(found.len(), 5, "{found:?}");
        assert!(!chatbot_violations(&json!({"version": "1.0", "source": "custom"})).is_empty());
    }
}
