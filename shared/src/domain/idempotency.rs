//! Idempotency records with AWS Lambda Powertools semantics: a record per function + event key,
//! INPROGRESS while a handler runs (expiring with the Lambda's remaining time, so a timed-out
//! attempt can be retried), COMPLETED with the stored result until the record expires.

use super::Millis;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdempotencyStatus {
    InProgress,
    Completed,
}

impl IdempotencyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            IdempotencyStatus::InProgress => "INPROGRESS",
            IdempotencyStatus::Completed => "COMPLETED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "INPROGRESS" => Some(IdempotencyStatus::InProgress),
            "COMPLETED" => Some(IdempotencyStatus::Completed),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub status: IdempotencyStatus,
    pub payload_hash: String,
    /// When an INPROGRESS record stops blocking (the attempt's Lambda deadline).
    pub in_progress_until: Millis,
    /// When the record stops answering at all (the table's TTL removes it later).
    pub expires_at: Millis,
    /// The stored result of a COMPLETED attempt (JSON).
    pub result: Option<String>,
}

/// What an existing record means for a new attempt with `payload_hash` at `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PriorAttempt {
    /// No live record: the new attempt may run.
    None,
    /// Another attempt is running and has not timed out.
    InProgress,
    /// Done before: answer with the stored result.
    Completed(Option<String>),
    /// The key was used with another payload: a client bug, never silently answered.
    PayloadMismatch,
}

impl PriorAttempt {
    pub fn classify(existing: Option<&IdempotencyRecord>, payload_hash: &str, now: Millis) -> Self {
        let Some(record) = existing else {
            return PriorAttempt::None;
        };
        if record.expires_at <= now {
            return PriorAttempt::None;
        }
        match record.status {
            IdempotencyStatus::InProgress if record.in_progress_until <= now => PriorAttempt::None,
            _ if record.payload_hash != payload_hash => PriorAttempt::PayloadMismatch,
            IdempotencyStatus::InProgress => PriorAttempt::InProgress,
            IdempotencyStatus::Completed => PriorAttempt::Completed(record.result.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(
        status: IdempotencyStatus,
        hash: &str,
        in_progress_until: i64,
        expires_at: i64,
    ) -> IdempotencyRecord {
        IdempotencyRecord {
            status,
            payload_hash: hash.into(),
            in_progress_until: Millis(in_progress_until),
            expires_at: Millis(expires_at),
            result: Some("{\"ok\":true}".into()),
        }
    }

    #[test]
    fn completed_record_answers_with_its_result() {
        let r = record(IdempotencyStatus::Completed, "h", 0, 1000);
        assert_eq!(
            PriorAttempt::classify(Some(&r), "h", Millis(10)),
            PriorAttempt::Completed(Some("{\"ok\":true}".into()))
        );
    }

    #[test]
    fn expired_completed_record_lets_a_new_attempt_run() {
        let r = record(IdempotencyStatus::Completed, "h", 0, 1000);
        assert_eq!(
            PriorAttempt::classify(Some(&r), "h", Millis(1000)),
            PriorAttempt::None
        );
    }

    #[test]
    fn in_progress_blocks_until_the_attempt_deadline() {
        let r = record(IdempotencyStatus::InProgress, "h", 500, 1000);
        assert_eq!(
            PriorAttempt::classify(Some(&r), "h", Millis(499)),
            PriorAttempt::InProgress
        );
        assert_eq!(
            PriorAttempt::classify(Some(&r), "h", Millis(500)),
            PriorAttempt::None
        );
    }

    #[test]
    fn another_payload_is_a_mismatch() {
        let r = record(IdempotencyStatus::Completed, "h", 0, 1000);
        assert_eq!(
            PriorAttempt::classify(Some(&r), "other", Millis(10)),
            PriorAttempt::PayloadMismatch
        );
    }
}
