//! What every handler knows about the invocation it serves, read once per event.

use std::future::Future;
use std::time::Duration;

use crate::clock;
use crate::domain::{ClusterName, Millis};
use crate::error::{Error, Result};
use crate::ports::{LeaseOutcome, StateStore};

/// One invocation's identity and time frame: the request id (Lambda's async retries reuse it),
/// the clock read once, and the time left before Lambda's deadline.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub request_id: String,
    pub now: Millis,
    pub remaining: Duration,
}

impl Invocation {
    pub fn from_context(context: &lambda_runtime::Context) -> Self {
        let now = clock::now();
        Invocation {
            request_id: context.request_id.clone(),
            now,
            remaining: clock::remaining(context.deadline, now),
        }
    }

    /// The lease owner this invocation writes as: `<function>:<request id>`.
    pub fn owner(&self, function: &str) -> String {
        format!("{function}:{}", self.request_id)
    }
}

/// Run `work` holding the cluster's lease as `owner`; the lease is given back whatever `work`
/// returns. A lease held by another writer is a [`Error::Conflict`]: Lambda retries later.
pub async fn with_lease<T, F, Fut>(
    store: &dyn StateStore,
    cluster: &ClusterName,
    owner: &str,
    now: Millis,
    ttl: Duration,
    work: F,
) -> Result<T>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    if let LeaseOutcome::HeldBy(lease) = store.acquire_lease(cluster, owner, now, ttl).await? {
        return Err(Error::Conflict(format!(
            "cluster {cluster} is leased by {} until {}",
            lease.owner, lease.until.0
        )));
    }
    let outcome = work().await;
    let released = store.release_lease(cluster, owner).await;
    let outcome = outcome?;
    released?;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::MemoryStateStore;

    #[tokio::test]
    async fn lease_is_given_back_even_when_the_work_fails() {
        let store = MemoryStateStore::default();
        let cluster = ClusterName::new("prod").unwrap();
        let failed: Result<()> = with_lease(
            &store,
            &cluster,
            "a",
            Millis(0),
            Duration::from_secs(60),
            || async { Err(Error::bad_event("boom")) },
        )
        .await;
        assert!(failed.is_err());
        assert_eq!(store.read_lease(&cluster).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_held_lease_is_a_conflict() {
        let store = MemoryStateStore::default();
        let cluster = ClusterName::new("prod").unwrap();
        store
            .acquire_lease(&cluster, "other", Millis(0), Duration::from_secs(60))
            .await
            .unwrap();
        let err = with_lease(
            &store,
            &cluster,
            "a",
            Millis(1),
            Duration::from_secs(60),
            || async { Ok(()) },
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Conflict);
    }
}
