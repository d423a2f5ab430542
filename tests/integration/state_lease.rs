use std::sync::Arc;
use std::time::Duration;

use halfhour::domain::{ClusterName, Millis};
use halfhour::ports::{LeaseOutcome, Leases};
use halfhour::{Error, ErrorKind};

use halfhour_tests::loops::fresh_store;

fn cluster() -> ClusterName {
    ClusterName::new("prod").expect("valid name")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_acquisitions_have_exactly_one_winner() {
    let store = Arc::new(fresh_store("lease-race").await);
    let now = Millis(1_000_000);
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .acquire_lease(
                        &cluster(),
                        &format!("writer-{i}"),
                        now,
                        Duration::from_secs(60),
                    )
                    .await
            })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        if let LeaseOutcome::Acquired(lease) = task.await.unwrap().unwrap() {
            winners.push(lease.owner);
        }
    }
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    let held = store.read_lease(&cluster()).await.unwrap().unwrap();
    assert_eq!(held.owner, winners[0]);
}

#[tokio::test]
async fn held_lease_is_refused_then_taken_over_once_expired() {
    let store = fresh_store("lease-expiry").await;
    let ttl = Duration::from_secs(60);
    let t0 = Millis(5_000_000);
    assert!(matches!(
        store.acquire_lease(&cluster(), "a", t0, ttl).await.unwrap(),
        LeaseOutcome::Acquired(_)
    ));
    match store
        .acquire_lease(&cluster(), "b", t0.plus(Duration::from_secs(59)), ttl)
        .await
        .unwrap()
    {
        LeaseOutcome::HeldBy(lease) => assert_eq!(lease.owner, "a"),
        other => panic!("expected HeldBy(a), got {other:?}"),
    }
    let later = t0.plus(Duration::from_secs(61));
    match store
        .acquire_lease(&cluster(), "b", later, ttl)
        .await
        .unwrap()
    {
        LeaseOutcome::Acquired(lease) => assert_eq!(lease.owner, "b"),
        other => panic!("expected b to take over, got {other:?}"),
    }
    // The old holder has lost it: renewing is a conflict, releasing leaves b's lease alone.
    let err: Error = store
        .renew_lease(&cluster(), "a", later, ttl)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    store.release_lease(&cluster(), "a").await.unwrap();
    assert_eq!(
        store.read_lease(&cluster()).await.unwrap().unwrap().owner,
        "b"
    );
}

#[tokio::test]
async fn holder_renews_and_releases() {
    let store = fresh_store("lease-renew").await;
    let ttl = Duration::from_secs(60);
    let t0 = Millis(9_000_000);
    store.acquire_lease(&cluster(), "a", t0, ttl).await.unwrap();
    let renewed = store
        .renew_lease(&cluster(), "a", t0.plus(Duration::from_secs(30)), ttl)
        .await
        .unwrap();
    assert_eq!(renewed.until, t0.plus(Duration::from_secs(90)));
    store.release_lease(&cluster(), "a").await.unwrap();
    assert_eq!(store.read_lease(&cluster()).await.unwrap(), None);
    assert!(matches!(
        store
            .acquire_lease(&cluster(), "b", t0.plus(Duration::from_secs(31)), ttl)
            .await
            .unwrap(),
        LeaseOutcome::Acquired(_)
    ));
}
