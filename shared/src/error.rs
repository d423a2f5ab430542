//! One error enum for every loop, grouped by what the caller does about it.

use crate::config::ConfigError;

/// What a caller (and Lambda) should do about an [`Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The event itself is wrong: retrying cannot help, nothing was mutated.
    BadEvent,
    /// The deployment's configuration is wrong: fix the stack, not the event.
    Config,
    /// Another writer holds the cluster (lease, flag, idempotency record in progress).
    Conflict,
    /// A transient AWS failure (throttling, 5xx, timeout) that outlasted the SDK's retries;
    /// Lambda's retry or the reconciler takes over.
    Retryable,
    /// AWS refused the request for good (validation, access denied), or answered what this
    /// release cannot use.
    Aws,
    /// What the deployment names (a group, a database, a launch template) is not there.
    NotFound,
    /// halfhour's own state cannot be read or written as it is: a person must look.
    CorruptState,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("bad event: {0}")]
    BadEvent(String),
    #[error("event is for cluster `{got}`, but this deployment manages `{expected}`")]
    WrongCluster { got: String, expected: String },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("idempotency key `{key}` was first used with a different payload")]
    PayloadMismatch { key: String },
    #[error("AWS {operation} failed transiently: {message}")]
    Retryable {
        operation: &'static str,
        message: String,
    },
    /// AWS refused the request (its error `code` kept, e.g. `AccessDenied`), or answered
    /// without what the request exists for.
    #[error("AWS {operation} failed{}: {message}", code_suffix(code.as_deref()))]
    Aws {
        operation: &'static str,
        code: Option<String>,
        message: String,
    },
    #[error("{what} does not exist")]
    NotFound { what: String },
    #[error("{what} {reason}")]
    CorruptState { what: String, reason: String },
    /// State written by a newer halfhour than this one (a downgrade): this release cannot tell
    /// what it means, so it acts on none of it.
    #[error(
        "{what} was written by a newer halfhour (schema {found}; this release reads up to {known}): deploy that release again (a downgrade leaves its state unread)"
    )]
    NewerState {
        what: String,
        found: u64,
        known: u64,
    },
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::BadEvent(_) | Error::WrongCluster { .. } | Error::PayloadMismatch { .. } => {
                ErrorKind::BadEvent
            }
            Error::Config(_) | Error::NewerState { .. } => ErrorKind::Config,
            Error::Conflict(_) => ErrorKind::Conflict,
            Error::Retryable { .. } => ErrorKind::Retryable,
            Error::Aws { .. } => ErrorKind::Aws,
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::CorruptState { .. } => ErrorKind::CorruptState,
        }
    }

    pub fn bad_event(reason: impl Into<String>) -> Self {
        Error::BadEvent(reason.into())
    }

    /// AWS answered, but not with what halfhour can use (no error code: it did not refuse).
    pub fn aws(operation: &'static str, message: impl Into<String>) -> Self {
        Error::Aws {
            operation,
            code: None,
            message: message.into(),
        }
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Error::NotFound { what: what.into() }
    }

    pub fn corrupt_state(what: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        Error::CorruptState {
            what: what.into(),
            reason: reason.to_string(),
        }
    }

    /// AWS's error code, when AWS refused.
    pub fn aws_code(&self) -> Option<&str> {
        match self {
            Error::Aws { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// Whether IAM refused the call: a retry is refused again until the role changes.
    pub fn is_access_denied(&self) -> bool {
        self.aws_code()
            .is_some_and(|code| ACCESS_DENIED_CODES.contains(&code))
    }
}

/// How each service names IAM's refusal (EC2, SNS and the JSON protocols have their own).
const ACCESS_DENIED_CODES: [&str; 4] = [
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "AuthorizationError",
];

fn code_suffix(code: Option<&str>) -> String {
    code.map(|c| format!(" ({c})")).unwrap_or_default()
}

/// CloudWatch shows `errorType` per kind, so alarms and DLQ triage can tell them apart.
impl From<Error> for lambda_runtime::Diagnostic {
    fn from(err: Error) -> Self {
        let kind = match err.kind() {
            ErrorKind::BadEvent => "halfhour.BadEvent",
            ErrorKind::Config => "halfhour.Config",
            ErrorKind::Conflict => "halfhour.Conflict",
            ErrorKind::Retryable => "halfhour.Retryable",
            ErrorKind::Aws => "halfhour.Aws",
            ErrorKind::NotFound => "halfhour.NotFound",
            ErrorKind::CorruptState => "halfhour.CorruptState",
        };
        lambda_runtime::Diagnostic {
            error_type: kind.to_owned(),
            error_message: err.to_string(),
        }
    }
}

impl Error {
    /// The typed error for a refused command, naming this deployment's cluster.
    pub fn from_command(
        err: crate::domain::CommandError,
        ours: &crate::domain::ClusterName,
    ) -> Self {
        match err {
            crate::domain::CommandError::Malformed(reason) => Error::BadEvent(reason),
            crate::domain::CommandError::WrongCluster { got } => Error::WrongCluster {
                got,
                expected: ours.to_string(),
            },
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagnostic_names_the_kind() {
        let diagnostic: lambda_runtime::Diagnostic = Error::bad_event("no detail").into();
        assert_eq!(diagnostic.error_type, "halfhour.BadEvent");
        assert_eq!(diagnostic.error_message, "bad event: no detail");
    }

    #[test]
    fn an_aws_refusal_keeps_its_code_and_says_it() {
        let refused = Error::Aws {
            operation: "GetObject",
            code: Some("AccessDenied".into()),
            message: "no".into(),
        };
        assert_eq!(refused.aws_code(), Some("AccessDenied"));
        assert!(refused.is_access_denied());
        assert_eq!(
            refused.to_string(),
            "AWS GetObject failed (AccessDenied): no"
        );
        assert_eq!(
            Error::aws("CreateImage", "no image id in the answer").to_string(),
            "AWS CreateImage failed: no image id in the answer"
        );
        let missing = Error::not_found("cluster prod's group prod-web");
        assert_eq!(missing.kind(), ErrorKind::NotFound);
        let diagnostic: lambda_runtime::Diagnostic = missing.into();
        assert_eq!(diagnostic.error_type, "halfhour.NotFound");
        assert_eq!(
            diagnostic.error_message,
            "cluster prod's group prod-web does not exist"
        );
    }

    #[test]
    fn wrong_cluster_is_a_bad_event() {
        let err = Error::WrongCluster {
            got: "b".into(),
            expected: "a".into(),
        };
        assert_eq!(err.kind(), ErrorKind::BadEvent);
    }
}
