//! The one place halfhour reads the wall clock: handlers read it once per event and pass it on.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::domain::Millis;

pub fn now() -> Millis {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    Millis(i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX))
}

/// Time left before a Lambda deadline (epoch milliseconds), zero once it has passed.
pub fn remaining(deadline_ms: u64, now: Millis) -> Duration {
    Duration::from_millis(deadline_ms.saturating_sub(u64::try_from(now.0).unwrap_or(0)))
}
