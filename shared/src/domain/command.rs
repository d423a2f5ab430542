//! Manual and scheduled invocations: `{"action": "...", "cluster": "...", ...}`.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::ClusterName;

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Command {
    pub action: String,
    pub cluster: Option<String>,
    #[serde(flatten)]
    pub args: Map<String, Value>,
}

/// Why a command was refused (the caller maps it to its typed error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandError {
    Malformed(String),
    WrongCluster { got: String },
}

impl Command {
    /// None when the payload is not a command (no `action` key): it is some AWS event instead.
    pub fn from_event(
        payload: &Value,
        ours: &ClusterName,
    ) -> Option<Result<Command, CommandError>> {
        payload.get("action")?;
        Some(
            Command::deserialize(payload)
                .map_err(|e| CommandError::Malformed(format!("malformed command: {e}")))
                .and_then(|c| match c.cluster.as_deref() {
                    Some(named) if named != ours.as_str() => Err(CommandError::WrongCluster {
                        got: named.to_owned(),
                    }),
                    _ => Ok(c),
                }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn commands_are_recognised_and_checked_against_the_cluster() {
        let ours = ClusterName::new("prod").unwrap();
        assert_eq!(Command::from_event(&json!({"detail": {}}), &ours), None);
        let c = Command::from_event(&json!({"action": "reconcile"}), &ours)
            .unwrap()
            .unwrap();
        assert_eq!((c.action.as_str(), c.cluster), ("reconcile", None));
        assert_eq!(
            Command::from_event(&json!({"action": "reconcile", "cluster": "other"}), &ours),
            Some(Err(CommandError::WrongCluster {
                got: "other".into()
            }))
        );
        assert!(matches!(
            Command::from_event(&json!({"action": 7}), &ours),
            Some(Err(CommandError::Malformed(_)))
        ));
    }
}
