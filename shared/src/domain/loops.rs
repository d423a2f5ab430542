//! halfhour's loops, each one function: the name its decision records, notices and `status`
//! give it, and the name of its crate and Lambda (`scaler` runs the scaling loop).

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Loop {
    Scaling,
    Lifecycle,
    Failover,
    GoldImage,
    Database,
    Reconciler,
}

impl Loop {
    pub const ALL: [Loop; 6] = [
        Loop::Scaling,
        Loop::Lifecycle,
        Loop::Failover,
        Loop::GoldImage,
        Loop::Database,
        Loop::Reconciler,
    ];

    /// The loop's name in decision records, notices and `status`.
    pub const fn name(self) -> &'static str {
        match self {
            Loop::Scaling => "scaling",
            Loop::Lifecycle => "lifecycle",
            Loop::Failover => "failover",
            Loop::GoldImage => "gold-image",
            Loop::Database => "database",
            Loop::Reconciler => "reconciler",
        }
    }

    /// The function that runs it: its crate under `functions/` and its idempotency records.
    pub const fn function(self) -> &'static str {
        match self {
            Loop::Scaling => "scaler",
            Loop::Lifecycle => "lifecycle",
            Loop::Failover => "failover",
            Loop::GoldImage => "gold-image",
            Loop::Database => "db-events",
            Loop::Reconciler => "reconciler",
        }
    }
}

impl std::fmt::Display for Loop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Serialised as the records name it.
    #[test]
    fn serialises_as_its_name() {
        for l in Loop::ALL {
            assert_eq!(serde_json::to_value(l).unwrap(), l.name());
        }
    }
}
