//! Mode flags: what each loop tells the others it is doing to a cluster.

use super::Millis;

/// A flag one loop raises and the others respect.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    /// A gold image is being made: no scale-in, no second bake.
    Baking,
    /// An instance refresh runs: no scale-in, no bake.
    Refreshing,
    /// The database is failing over: no DNS flip, no ABANDON, no scale-in.
    DbFailover,
    /// An operator paused halfhour (the kill switch): no loop changes the cluster; each hands
    /// it back to AWS's own behaviour (see [`HandsOff`]).
    Paused,
}

impl Flag {
    pub const ALL: [Flag; 4] = [
        Flag::Baking,
        Flag::Refreshing,
        Flag::DbFailover,
        Flag::Paused,
    ];

    /// The name in the state table (`flag_<name>` attribute).
    pub fn as_str(self) -> &'static str {
        match self {
            Flag::Baking => "baking",
            Flag::Refreshing => "refreshing",
            Flag::DbFailover => "db_failover",
            Flag::Paused => "paused",
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

/// Who raises and lowers the pause: an operator, through the reconciler's `pause`/`resume`.
pub const PAUSE_OWNER: &str = "operator";

/// Why a loop keeps its hands off the cluster: it still observes and records each decision it
/// would take, and makes only the calls that hand the cluster back to AWS's own behaviour
/// (CONTINUE for a waiting lifecycle action, the DNS gate back to following the site).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum HandsOff {
    /// `DryRun=true`: a trial; the cluster behaves as if halfhour were not deployed.
    ObserveMode,
    /// The kill switch: an operator paused every loop of the cluster.
    Paused,
}

impl HandsOff {
    pub fn of(dry_run: bool, flags: &ModeFlags, now: Millis) -> Option<HandsOff> {
        if dry_run {
            Some(HandsOff::ObserveMode)
        } else if flags.is_raised(Flag::Paused, now) {
            Some(HandsOff::Paused)
        } else {
            None
        }
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

    #[test]
    fn observe_mode_wins_over_a_pause_and_a_pause_needs_its_flag() {
        let paused = ModeFlags {
            holds: vec![(
                Flag::Paused,
                FlagHold {
                    by: PAUSE_OWNER.into(),
                    since: Millis(0),
                    until: Millis(i64::MAX),
                },
            )],
        };
        let none = ModeFlags::default();
        assert_eq!(
            HandsOff::of(true, &paused, Millis(5)),
            Some(HandsOff::ObserveMode)
        );
        assert_eq!(
            HandsOff::of(false, &paused, Millis(5)),
            Some(HandsOff::Paused)
        );
        assert_eq!(HandsOff::of(false, &none, Millis(5)), None);
    }
}
