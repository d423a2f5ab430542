use std::time::Duration;

/// Milliseconds since the Unix epoch: the one time type the domain and the state table share.
/// Handlers read the clock once per event and pass it in; the domain never reads it.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct Millis(pub i64);

impl Millis {
    pub fn plus(self, d: Duration) -> Millis {
        Millis(
            self.0
                .saturating_add(d.as_millis().min(i64::MAX as u128) as i64),
        )
    }

    pub fn minus(self, d: Duration) -> Millis {
        Millis(
            self.0
                .saturating_sub(d.as_millis().min(i64::MAX as u128) as i64),
        )
    }

    /// Whole seconds, rounded up: DynamoDB's TTL attribute is in epoch seconds.
    pub fn epoch_seconds_ceil(self) -> i64 {
        self.0.div_euclid(1000) + i64::from(self.0.rem_euclid(1000) != 0)
    }

    /// The time elapsed since `earlier`, zero if `earlier` is later.
    pub fn since(self, earlier: Millis) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0).max(0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_seconds_round_up() {
        assert_eq!(Millis(1000).epoch_seconds_ceil(), 1);
        assert_eq!(Millis(1001).epoch_seconds_ceil(), 2);
    }

    #[test]
    fn since_never_goes_negative() {
        assert_eq!(Millis(5).since(Millis(10)), Duration::ZERO);
        assert_eq!(Millis(1500).since(Millis(500)), Duration::from_secs(1));
    }
}
