//! Fault plans for the emulator and Lambda's retry, modelled: the same event re-driven a minute
//! later while the handler answers a retryable error.

use std::future::Future;
use std::time::Duration;

use halfhour::domain::Millis;
use halfhour::{Error, ErrorKind};

use crate::emulator::FaultPlan;
use crate::{Emulator, LoggedRequest};

pub const EVERY_FAULT: &[&str] = &["throttle", "500", "503", "slow", "drop", "drop_after"];

/// Lambda retries an async event twice; the reconciler's tick re-derives after that.
const ATTEMPTS: usize = 6;

pub fn ten_percent(seed: u64) -> FaultPlan<'static> {
    FaultPlan {
        rate: 0.10,
        seed,
        kinds: EVERY_FAULT,
    }
}

/// One answer in five lost after AWS applied the request: the SDK retries the call itself, so
/// every conditional or creating call meets its own first try.
pub fn lost_answers(seed: u64) -> FaultPlan<'static> {
    FaultPlan {
        rate: 0.2,
        seed,
        kinds: &["drop_after"],
    }
}

/// What Lambda retries (and the reconciler later re-derives): a fault outlasting the SDK's
/// retries, or another writer holding the cluster.
pub fn retried(kind: ErrorKind) -> bool {
    matches!(kind, ErrorKind::Retryable | ErrorKind::Conflict)
}

/// Run `attempt(n, now)` until it succeeds, as Lambda (then the reconciler) would: the same event
/// again a minute later while the answer is a retryable error or a lease conflict.
pub async fn redriven<T, F, Fut>(start: Millis, mut attempt: F) -> T
where
    F: FnMut(usize, Millis) -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    let mut last = None;
    for n in 0..ATTEMPTS {
        let now = start.plus(Duration::from_secs(60 * n as u64));
        match attempt(n, now).await {
            Ok(value) => return value,
            Err(err) if retried(err.kind()) => last = Some(err.to_string()),
            Err(err) => panic!(
                "a fault must surface as retryable, got {:?}: {err}",
                err.kind()
            ),
        }
    }
    panic!("no convergence after {ATTEMPTS} deliveries: {last:?}")
}

/// How many of `app`'s `action` requests took effect (answer lost or not).
pub fn effects(app: &str, action: &str) -> usize {
    applied(&Emulator::shared().requests(app), action).len()
}

/// The `action` requests of `log` that took effect.
pub fn applied<'a>(log: &'a [LoggedRequest], action: &str) -> Vec<&'a LoggedRequest> {
    log.iter()
        .filter(|r| r.action == action && r.took_effect())
        .collect()
}
