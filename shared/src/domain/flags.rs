//! Mode flags: what each loop tells the others it is doing to a cluster.

use super::Millis;

/// A flag one loop raises and the others respect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    /// A gold image is being made: no scale-in, no second bake.
    Baking,
    /// An instance refresh runs: no scale-in, no bake.
    Refreshing,
    /// The database is failing over: no DNS flip, no ABANDON, no scale-in.
    DbFailover,
}

impl Flag {
    pub const ALL: [Flag; 3] = [Flag::Baking, Flag::Refreshing, Flag::DbFailover];

    /// The name in the state table (`flag_<name>` attribute).
    pub fn as_str(self) -> &'static str {
        match self {
            Flag::Baking => "baking",
            Flag::Refreshing => "refreshing",
            Flag::DbFailover => "db_failover",
        }
    }
}

/// Who raised a flag, since when, and until when it holds even if nobody lowers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagHold {
    pub by: String,
    pub since: Millis,
    pub until: Millis,
}

/// The flags of one cluster as read from the table; expired holds count as lowered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModeFlags {
    pub holds: Vec<(Flag, FlagHold)>,
}

impl ModeFlags {
    pub fn hold(&self, flag: Flag) -> Option<&FlagHold> {
        self.holds.iter().find(|(f, _)| *f == flag).map(|(_, h)| h)
    }

    pub fn is_raised(&self, flag: Flag, now: Millis) -> bool {
        self.hold(flag).is_some_and(|h| h.until > now)
    }

    /// The flags raised at `now`, in a stable order (for decision records).
    pub fn raised(&self, now: Millis) -> Vec<Flag> {
        Flag::ALL
            .into_iter()
            .filter(|f| self.is_raised(*f, now))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_hold_counts_as_lowered() {
        let flags = ModeFlags {
            holds: vec![(
                Flag::Baking,
                FlagHold {
                    by: "gold-image".into(),
                    since: Millis(0),
                    until: Millis(100),
                },
            )],
        };
        assert!(flags.is_raised(Flag::Baking, Millis(99)));
        assert!(!flags.is_raised(Flag::Baking, Millis(100)));
        assert_eq!(flags.raised(Millis(50)), vec![Flag::Baking]);
        assert!(!flags.is_raised(Flag::DbFailover, Millis(50)));
    }
}
