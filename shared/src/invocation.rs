//! What every handler knows about the invocation it serves, read once per event.

use std::future::Future;
use std::time::Duration;

use crate::clock;
use crate::domain::{ClusterName, Millis};
use crate::error::{Error, Result};
use crate::ports::{LeaseOutcome, Leases};

/// One invocation's identity and time frame: the request id (Lambda's async retries reuse it),
/// the clock read once, the time left before Lambda's deadline, and the event it serves.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub request_id: String,
    pub now: Millis,
    pub remaining: Duration,
    /// The key of the event this invocation serves ([`Invocation::for_event`]); the request id
    /// until it names one.
    event_key: Option<String>,
}

impl Invocation {
    pub fn new(request_id: impl Into<String>, now: Millis, remaining: Duration) -> Self {
        Invocation {
            request_id: request_id.into(),
            now,
            remaining,
            event_key: None,
        }
    }

    pub fn from_context(context: &lambda_runtime::Context) -> Self {
        let now = clock::now();
        Invocation::new(
            context.request_id.clone(),
            now,
            clock::remaining(context.deadline, now),
        )
    }

    /// This invocation serving the event `key`. One key names both what the event claims: its
    /// idempotency record and the lease its run holds. Another delivery of the same event (a new
    /// request id) is then the same writer: after a run that died holding the lease, it goes on
    /// as soon as the dead attempt's deadline has passed, not when the lease runs out.
    pub fn for_event(&self, key: impl Into<String>) -> Self {
        Invocation {
            event_key: Some(key.into()),
            ..self.clone()
        }
    }

    /// The key the invocation's idempotency record is stored under: its event's, else its
    /// request id.
    pub fn key(&self) -> &str {
        self.event_key.as_deref().unwrap_or(&self.request_id)
    }

    /// The lease owner this invocation writes as: `<function>:<key>`.
    pub fn owner(&self, function: &str) -> String {
        format!("{function}:{}", self.key())
    }
}

/// The terms a lease is taken on: whose table, which cluster, who holds it, from when, for how
/// long.
pub struct LeaseTerms<'a> {
    pub store: &'a dyn Leases,
    pub cluster: &'a ClusterName,
    pub owner: String,
    pub now: Millis,
    pub ttl: Duration,
}

/// Run `work` holding the cluster's lease on `terms`; the lease is given back whatever `work`
/// returns. A lease held by another writer is a [`Error::Conflict`]: Lambda retries later.
pub async fn with_lease<T, F, Fut>(terms: LeaseTerms<'_>, work: F) -> Result<T>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let LeaseTerms {
        store,
        cluster,
        owner,
        now,
        ttl,
    } = terms;
    if let LeaseOutcome::HeldBy(lease) = store.acquire_lease(cluster, &owner, now, ttl).await? {
        return Err(Error::Conflict(format!(
            "cluster {cluster} is leased by {} until {}",
            lease.owner, lease.until.0
        )));
    }
    let outcome = work().await;
    let released = store.release_lease(cluster, &owner).await;
    let outcome = outcome?;
    released?;
    Ok(outcome)
}

/// What a loop decided from what it observed: whether applying it would change anything.
pub trait Decided {
    /// False for a decision that holds, finds nothing waiting, finds everything in place.
    fn changes_something(&self) -> bool;
}

/// Decide without the lease and take it only to act. `decide` observes and plans; a decision
/// that changes nothing is applied as it is (its record, its gauges: no writes). One that acts
/// is decided again under the lease, since what was observed may have moved before the lease
/// was taken, and that decision is the one applied.
pub async fn lease_to_act<D, T, F, Fut, A, AFut>(
    terms: LeaseTerms<'_>,
    decide: F,
    apply: A,
) -> Result<T>
where
    D: Decided,
    F: Fn() -> Fut,
    Fut: Future<Output = Result<D>>,
    A: Fn(D) -> AFut,
    AFut: Future<Output = Result<T>>,
{
    let first = decide().await?;
    if !first.changes_something() {
        return apply(first).await;
    }
    with_lease(terms, || async { apply(decide().await?).await }).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::Leases;
    use crate::testing::MemoryStateStore;

    fn terms<'a>(
        store: &'a MemoryStateStore,
        cluster: &'a ClusterName,
        now: Millis,
        ttl: Duration,
    ) -> LeaseTerms<'a> {
        LeaseTerms {
            store,
            cluster,
            owner: "a".into(),
            now,
            ttl,
        }
    }

    #[tokio::test]
    async fn lease_is_given_back_even_when_the_work_fails() {
        let store = MemoryStateStore::default();
        let cluster = ClusterName::new("prod").unwrap();
        let failed: Result<()> = with_lease(
            terms(&store, &cluster, Millis(0), Duration::from_secs(60)),
            || async { Err(Error::bad_event("boom")) },
        )
        .await;
        assert!(failed.is_err());
        assert_eq!(store.read_lease(&cluster).await.unwrap(), None);
    }

    struct Step(bool);

    impl Decided for Step {
        fn changes_something(&self) -> bool {
            self.0
        }
    }

    /// A hold never touches the lease; an act decides again under it and applies that.
    #[tokio::test]
    async fn the_lease_is_taken_only_to_act() {
        let store = MemoryStateStore::default();
        let cluster = ClusterName::new("prod").unwrap();
        store
            .acquire_lease(&cluster, "other", Millis(0), Duration::from_secs(60))
            .await
            .unwrap();
        let ttl = Duration::from_secs(60);
        let held = lease_to_act(
            terms(&store, &cluster, Millis(1), ttl),
            || async { Ok(Step(false)) },
            |step| async move { Ok(step.0) },
        )
        .await;
        assert!(
            !held.unwrap(),
            "a hold is applied while another holds the lease"
        );
        let acting = lease_to_act(
            terms(&store, &cluster, Millis(1), ttl),
            || async { Ok(Step(true)) },
            |step| async move { Ok(step.0) },
        )
        .await;
        assert_eq!(acting.unwrap_err().kind(), crate::ErrorKind::Conflict);
        store.release_lease(&cluster, "other").await.unwrap();
        let decisions = std::sync::atomic::AtomicU32::new(0);
        let acted = lease_to_act(
            terms(&store, &cluster, Millis(2), ttl),
            || async {
                // The world moved between the first look and the lease: the second look holds.
                let n = decisions.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Ok(Step(n == 0))
            },
            |step| {
                let (store, cluster) = (&store, &cluster);
                async move {
                    let holder = store.read_lease(cluster).await.unwrap().map(|l| l.owner);
                    assert_eq!(holder.as_deref(), Some("a"), "applied under the lease");
                    Ok(step.0)
                }
            },
        )
        .await;
        assert!(
            !acted.unwrap(),
            "what is applied is the decision taken under the lease"
        );
        assert_eq!(decisions.into_inner(), 2);
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
            terms(&store, &cluster, Millis(1), Duration::from_secs(60)),
            || async { Ok(()) },
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Conflict);
    }
}
