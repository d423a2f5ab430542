//! What halfhour tells the operator: one notice per decision worth hearing of, readable by
//! people in e-mail and by Amazon Q Developer in chat applications (AWS Chatbot) in Slack or
//! Teams, with repeats of one cause summarised instead of sent again.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{ClusterName, Loop, Millis, format_utc};

/// A notice of the same kind within this long of the last one sent is counted, not sent; the
/// next one sent after it says how many it stands for.
pub const QUIET_PERIOD: Duration = Duration::from_secs(30 * 60);

/// SNS subjects are at most 100 characters
/// (https://docs.aws.amazon.com/sns/latest/api/API_Publish.html).
const SUBJECT_LIMIT: usize = 100;

/// One operator notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notice {
    /// The loop that decided (`scaling`, `failover`, `database`, `gold-image`, ...).
    pub loop_name: &'static str,
    pub cluster: String,
    /// What kind of event this is within the loop (`at-max`, `rolled-back`): repeats of one
    /// kind are summarised.
    pub kind: &'static str,
    pub title: String,
    /// What happened, in a sentence or two.
    pub description: String,
    /// The decision the loop took (its decision record's action).
    pub decision: String,
    /// What the operator should do or look at next.
    pub next_steps: Vec<String>,
    /// Ids or ARNs of what it concerns (the group, the image, the record).
    pub resources: Vec<String>,
    /// How many notices of this kind the quiet period held back before this one, and since when.
    pub summarised: Option<(u32, Millis)>,
}

impl Notice {
    pub fn new(
        told_by: Loop,
        cluster: &ClusterName,
        kind: &'static str,
        title: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        Notice {
            loop_name: told_by.name(),
            cluster: cluster.to_string(),
            kind,
            title: title.into(),
            description: description.into(),
            decision: kind.replace('-', "_"),
            next_steps: Vec::new(),
            resources: Vec::new(),
            summarised: None,
        }
    }

    pub fn decision(mut self, decision: impl Into<String>) -> Self {
        self.decision = decision.into();
        self
    }

    pub fn next_step(mut self, step: impl Into<String>) -> Self {
        self.next_steps.push(step.into());
        self
    }

    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        let resource = resource.into();
        if !resource.is_empty() {
            self.resources.push(resource);
        }
        self
    }

    /// `halfhour: <cluster> <title>`: the chat title, and the e-mail subject once cut.
    fn headline(&self) -> String {
        format!("halfhour: {} {}", self.cluster, self.title)
    }

    /// The e-mail subject: the headline cut to SNS's limit.
    pub fn subject(&self) -> String {
        self.headline().chars().take(SUBJECT_LIMIT).collect()
    }

    fn summary_line(&self) -> Option<String> {
        self.summarised.map(|(count, since)| {
            format!(
                "{count} more notice(s) of this kind since {} were held back (one per {} minutes).",
                format_utc(since),
                QUIET_PERIOD.as_secs() / 60
            )
        })
    }

    /// What a person reads in e-mail.
    pub fn email_text(&self) -> String {
        let mut text = self.description.clone();
        if let Some(summary) = self.summary_line() {
            text.push_str("\n\n");
            text.push_str(&summary);
        }
        if !self.next_steps.is_empty() {
            text.push_str("\n\nNext:");
            for step in &self.next_steps {
                text.push_str("\n- ");
                text.push_str(step);
            }
        }
        text.push_str(&format!(
            "\n\nCluster: {}. Loop: {}. Decision: {}.",
            self.cluster, self.loop_name, self.decision
        ));
        if !self.resources.is_empty() {
            text.push_str(&format!(" Concerns: {}.", self.resources.join(", ")));
        }
        text
    }

    /// The notice as an Amazon Q Developer in chat applications custom notification: version
    /// 1.0, source `custom`, the content and metadata of its documented event schema
    /// (https://docs.aws.amazon.com/chatbot/latest/adminguide/custom-notifs.html). One thread
    /// per cluster and loop, so a channel reads each loop's story in order.
    pub fn chatbot(&self) -> Value {
        let mut description = self.description.clone();
        if let Some(summary) = self.summary_line() {
            description.push('\n');
            description.push_str(&summary);
        }
        json!({
            "version": "1.0",
            "source": "custom",
            "content": {
                "textType": "client-markdown",
                "title": self.headline(),
                "description": description,
                "nextSteps": self.next_steps,
                "keywords": ["halfhour", self.cluster, self.loop_name, self.decision],
            },
            "metadata": {
                "threadId": format!("halfhour-{}-{}", self.cluster, self.loop_name),
                "summary": self.subject(),
                "eventType": format!("halfhour.{}.{}", self.loop_name, self.kind),
                "relatedResources": self.resources,
                "additionalContext": {
                    "cluster": self.cluster,
                    "loop": self.loop_name,
                    "decision": self.decision,
                },
            },
        })
    }

    /// The SNS message with `MessageStructure=json`: e-mail subscribers get the text, every
    /// other protocol (Chatbot's HTTPS endpoint, SQS, Lambda) the custom notification. "Set
    /// MessageStructure to json if you want to send a different message for each protocol"; the
    /// message must hold a top-level `default` string
    /// (https://docs.aws.amazon.com/sns/latest/api/API_Publish.html).
    pub fn sns_message(&self) -> String {
        json!({
            "default": self.chatbot().to_string(),
            "email": self.email_text(),
        })
        .to_string()
    }
}

/// When each kind of notice was last sent and how many were held back since: the state-table
/// document `doc#notices`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeLedger {
    #[serde(default)]
    pub kinds: BTreeMap<String, KindSent>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindSent {
    pub sent_at: Millis,
    /// The title of the last one sent, for the summary of those held back after it.
    #[serde(default)]
    pub title: String,
    /// Notices of this kind held back since `sent_at`.
    #[serde(default)]
    pub held: u32,
}

/// Whether a notice goes out now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Send it, saying it stands for `held` earlier ones since the given time (when any).
    Send { summarises: Option<(u32, Millis)> },
    /// Within the quiet period of the last one of its kind: count it.
    Hold,
}

impl NoticeLedger {
    fn key(loop_name: &str, kind: &str) -> String {
        format!("{loop_name}/{kind}")
    }

    /// Decide `notice`'s delivery at `now` and record it in the ledger.
    pub fn admit(&mut self, notice: &Notice, now: Millis) -> Delivery {
        let key = Self::key(notice.loop_name, notice.kind);
        match self.kinds.get_mut(&key) {
            Some(last) if now.since(last.sent_at) < QUIET_PERIOD => {
                last.held = last.held.saturating_add(1);
                Delivery::Hold
            }
            previous => {
                let summarises = previous
                    .filter(|last| last.held > 0)
                    .map(|last| (last.held, last.sent_at));
                self.kinds.insert(
                    key,
                    KindSent {
                        sent_at: now,
                        title: notice.title.clone(),
                        held: 0,
                    },
                );
                Delivery::Send { summarises }
            }
        }
    }

    /// The kinds whose quiet period is over with notices still held back, as the summary
    /// notices to send for them; the ledger forgets what they summarise.
    pub fn take_overdue(&mut self, cluster: &ClusterName, now: Millis) -> Vec<Notice> {
        let mut summaries = Vec::new();
        for (key, last) in &mut self.kinds {
            if last.held == 0 || now.since(last.sent_at) < QUIET_PERIOD {
                continue;
            }
            let (loop_name, kind) = key.split_once('/').unwrap_or(("halfhour", key.as_str()));
            let mut notice = Notice::new(
                Loop::Reconciler,
                cluster,
                "held-back",
                format!("{}: {} more", last.title, last.held),
                format!(
                    "The {loop_name} loop decided \"{}\" ({kind}) {} more time(s) after the last notice; they were held back so the channel is not flooded. Each decision is in the function's log (decision records) and in the cluster's status.",
                    last.title, last.held
                ),
            )
            .decision(kind.replace('-', "_"));
            notice.summarised = Some((last.held, last.sent_at));
            summaries.push(notice);
            last.held = 0;
        }
        summaries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice() -> Notice {
        Notice::new(
            Loop::Scaling,
            &ClusterName::new("prod").unwrap(),
            "at-max",
            "is at its maximum",
            "The group is at 10.",
        )
        .next_step("Raise MaxSize")
        .resource("prod-web")
    }

    #[test]
    fn email_reads_as_text_and_chat_as_a_custom_notification() {
        let n = notice();
        assert_eq!(n.subject(), "halfhour: prod is at its maximum");
        let text = n.email_text();
        assert!(text.starts_with("The group is at 10.\n\nNext:\n- Raise MaxSize"));
        assert!(text.contains("Decision: at_max"));
        let chat = n.chatbot();
        assert_eq!(chat["version"], "1.0");
        assert_eq!(chat["source"], "custom");
        assert_eq!(chat["metadata"]["eventType"], "halfhour.scaling.at-max");
        let sns: Value = serde_json::from_str(&n.sns_message()).unwrap();
        let default: Value = serde_json::from_str(sns["default"].as_str().unwrap()).unwrap();
        assert_eq!(default, chat);
        assert_eq!(sns["email"], text);
    }

    #[test]
    fn subjects_fit_snss_limit() {
        let n = Notice::new(
            Loop::Scaling,
            &ClusterName::new("prod").unwrap(),
            "at-max",
            "x".repeat(300),
            "",
        );
        assert_eq!(n.subject().chars().count(), 100);
    }

    #[test]
    fn repeats_within_the_quiet_period_are_held_and_summarised_by_the_next() {
        let mut ledger = NoticeLedger::default();
        let t0 = Millis(1_000_000);
        let minute = Duration::from_secs(60);
        let cluster = ClusterName::new("prod").unwrap();
        let at_min = Notice {
            kind: "at-min",
            ..notice()
        };
        assert_eq!(
            ledger.admit(&notice(), t0),
            Delivery::Send { summarises: None }
        );
        assert_eq!(ledger.admit(&notice(), t0.plus(minute)), Delivery::Hold);
        assert_eq!(ledger.admit(&notice(), t0.plus(2 * minute)), Delivery::Hold);
        // Another kind is not held by this one.
        assert_eq!(
            ledger.admit(&at_min, t0.plus(minute)),
            Delivery::Send { summarises: None }
        );
        // The next one after the quiet period says what it stands for.
        let later = t0.plus(QUIET_PERIOD);
        let mut sent_next = ledger.clone();
        assert_eq!(
            sent_next.admit(&notice(), later),
            Delivery::Send {
                summarises: Some((2, t0))
            }
        );
        assert!(sent_next.take_overdue(&cluster, later).is_empty());
        // Without a next one, the reconciler's tick sends the summary once the period is over.
        assert!(
            ledger
                .take_overdue(&cluster, t0.plus(10 * minute))
                .is_empty()
        );
        let summaries = ledger.take_overdue(&cluster, later);
        assert_eq!(summaries.len(), 1, "{summaries:?}");
        assert_eq!(summaries[0].summarised, Some((2, t0)));
        assert!(summaries[0].title.contains("is at its maximum: 2 more"));
        assert!(
            ledger
                .take_overdue(&cluster, later.plus(QUIET_PERIOD))
                .is_empty()
        );
    }
}
