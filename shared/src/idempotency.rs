//! Run an action at most once per (function, event key), Powertools-style, on the state
//! table's idempotency records ([`Attempts`]).

use std::future::Future;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::domain::{Millis, PriorAttempt};
use crate::error::{Error, Result};
use crate::ports::Attempts;

/// Whether the action ran now or an earlier attempt's result was replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<T> {
    Ran(T),
    Replayed(T),
}

impl<T> Outcome<T> {
    pub fn into_inner(self) -> T {
        match self {
            Outcome::Ran(v) | Outcome::Replayed(v) => v,
        }
    }
}

/// SHA-256 of the payload's canonical JSON (object keys sorted), hex-encoded.
pub fn payload_hash(payload: &impl Serialize) -> Result<String> {
    let mut value = serde_json::to_value(payload)
        .map_err(|e| Error::bad_event(format!("payload cannot be hashed: {e}")))?;
    sort_keys(&mut value);
    let canonical = value.to_string();
    Ok(Sha256::digest(canonical)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Object key order must not change the hash (serde_json may preserve insertion order).
fn sort_keys(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            map.sort_keys();
            map.values_mut().for_each(sort_keys);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(sort_keys),
        _ => {}
    }
}

/// One idempotent call: who is calling, the event key, and the time frame.
pub struct Attempt<'a> {
    pub function: &'a str,
    pub key: &'a str,
    pub now: Millis,
    /// The Lambda's remaining time: an attempt that outlives it may be retried.
    pub remaining: Duration,
    /// How long the COMPLETED record answers duplicates.
    pub ttl: Duration,
}

impl<'a> Attempt<'a> {
    /// An attempt of `function` for the event `invocation` serves (its key), framed by the
    /// invocation's clock and deadline.
    pub fn new(
        function: &'a str,
        invocation: &'a crate::invocation::Invocation,
        ttl: Duration,
    ) -> Self {
        Attempt {
            function,
            key: invocation.key(),
            now: invocation.now,
            remaining: invocation.remaining,
            ttl,
        }
    }
}

/// Run `action` unless an equal event already ran (replay its result) or is running
/// ([`Error::Conflict`], so Lambda retries later). A failed action leaves no record behind.
pub async fn run_once<S, P, T, F, Fut>(
    store: &S,
    attempt: Attempt<'_>,
    payload: &P,
    action: F,
) -> Result<Outcome<T>>
where
    S: Attempts + ?Sized,
    P: Serialize,
    T: Serialize + DeserializeOwned,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let Attempt {
        function,
        key,
        now,
        remaining,
        ttl,
    } = attempt;
    let hash = payload_hash(payload)?;
    match store
        .begin_attempt(function, key, &hash, now, now.plus(remaining))
        .await?
    {
        PriorAttempt::None => {}
        PriorAttempt::InProgress => {
            return Err(Error::Conflict(format!(
                "{function}: an attempt for `{key}` is already in progress"
            )));
        }
        PriorAttempt::PayloadMismatch => return Err(Error::PayloadMismatch { key: key.into() }),
        PriorAttempt::Completed(stored) => {
            let stored = stored.unwrap_or_else(|| "null".into());
            let value = serde_json::from_str(&stored).map_err(|e| {
                Error::corrupt_state(
                    format!("the stored result for `{key}`"),
                    format!("is unreadable: {e}"),
                )
            })?;
            return Ok(Outcome::Replayed(value));
        }
    }
    match action().await {
        Ok(value) => {
            let stored = serde_json::to_string(&value).map_err(|e| {
                Error::corrupt_state(
                    format!("the result for `{key}`"),
                    format!("cannot be stored: {e}"),
                )
            })?;
            store
                .complete_attempt(function, key, &hash, &stored, now.plus(ttl))
                .await?;
            Ok(Outcome::Ran(value))
        }
        Err(err) => {
            if let Err(abandon) = store.abandon_attempt(function, key).await {
                tracing::warn!(%function, %key, error = %abandon, "could not drop a failed attempt's record; it expires with the attempt's deadline");
            }
            Err(err)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::MemoryStateStore;
    use serde_json::json;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn attempt(key: &str, now: i64) -> Attempt<'_> {
        Attempt {
            function: "scaler",
            key,
            now: Millis(now),
            remaining: Duration::from_secs(30),
            ttl: Duration::from_secs(3600),
        }
    }

    #[test]
    fn hash_ignores_key_order() {
        let a = payload_hash(&json!({"a": 1, "b": 2})).unwrap();
        let b = payload_hash(&json!({"b": 2, "a": 1})).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, payload_hash(&json!({"a": 1, "b": 3})).unwrap());
    }

    #[tokio::test]
    async fn second_delivery_replays_the_first_result() {
        let store = MemoryStateStore::default();
        let runs = AtomicUsize::new(0);
        let action = || async {
            runs.fetch_add(1, Ordering::SeqCst);
            Ok(7)
        };
        let first = run_once(&store, attempt("k", 0), &json!({"x": 1}), action)
            .await
            .unwrap();
        let second = run_once(&store, attempt("k", 10), &json!({"x": 1}), action)
            .await
            .unwrap();
        assert_eq!(first, Outcome::Ran(7));
        assert_eq!(second, Outcome::Replayed(7));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn failed_action_leaves_no_record() {
        let store = MemoryStateStore::default();
        let failed: Result<Outcome<u8>> = run_once(&store, attempt("k", 0), &json!(1), || async {
            Err(Error::Conflict("busy".into()))
        })
        .await;
        assert!(failed.is_err());
        let retried = run_once(&store, attempt("k", 1), &json!(1), || async { Ok(1u8) }).await;
        assert_eq!(retried.unwrap(), Outcome::Ran(1));
    }

    #[tokio::test]
    async fn other_payload_with_same_key_is_refused() {
        let store = MemoryStateStore::default();
        run_once(&store, attempt("k", 0), &json!(1), || async { Ok(1u8) })
            .await
            .unwrap();
        let err = run_once(&store, attempt("k", 1), &json!(2), || async { Ok(2u8) })
            .await
            .unwrap_err();
        assert!(matches!(err, Error::PayloadMismatch { .. }));
    }
}
