use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use halfhour::domain::Millis;
use halfhour::idempotency::{Attempt, Outcome, run_once};
use halfhour::{Error, ErrorKind};
use serde_json::json;

use halfhour_tests::loops::fresh_store;

fn attempt(key: &str, now: Millis) -> Attempt<'_> {
    Attempt {
        function: "scaler",
        key,
        now,
        remaining: Duration::from_secs(30),
        ttl: Duration::from_secs(3600),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_deliveries_run_the_action_once() {
    let store = Arc::new(fresh_store("idem-race").await);
    let runs = Arc::new(AtomicUsize::new(0));
    let now = Millis(1_000_000);
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (store, runs) = (Arc::clone(&store), Arc::clone(&runs));
            tokio::spawn(async move {
                run_once(
                    &*store,
                    attempt("alarm-1@t1", now),
                    &json!({"alarm": "cpu-high"}),
                    || async {
                        runs.fetch_add(1, Ordering::SeqCst);
                        // Hold the attempt open so the others really overlap it.
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        Ok(json!({"desired": 4}))
                    },
                )
                .await
            })
        })
        .collect();
    let (mut ran, mut conflicts) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            Ok(Outcome::Ran(_)) => ran += 1,
            Ok(Outcome::Replayed(value)) => assert_eq!(value, json!({"desired": 4})),
            Err(err) => {
                assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
                conflicts += 1;
            }
        }
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(ran, 1);
    assert!(conflicts <= 49);
    // Once completed, a late duplicate replays the stored result without running.
    let late = run_once(
        &*store,
        attempt("alarm-1@t1", Millis(1_001_000)),
        &json!({"alarm": "cpu-high"}),
        || async {
            runs.fetch_add(1, Ordering::SeqCst);
            Ok(json!({"desired": 99}))
        },
    )
    .await
    .unwrap();
    assert_eq!(late, Outcome::Replayed(json!({"desired": 4})));
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn payload_hash_mismatch_is_refused() {
    let store = fresh_store("idem-mismatch").await;
    let now = Millis(2_000_000);
    run_once(&store, attempt("k", now), &json!({"a": 1}), || async {
        Ok(1)
    })
    .await
    .unwrap();
    let err = run_once(
        &store,
        attempt("k", now.plus(Duration::from_secs(1))),
        &json!({"a": 2}),
        || async { Ok(2) },
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, Error::PayloadMismatch { ref key } if key == "k"),
        "{err}"
    );
}

#[tokio::test]
async fn timed_out_attempt_may_be_retried_and_completed_one_expires() {
    let store = fresh_store("idem-expiry").await;
    let now = Millis(3_000_000);
    let payload = json!({"a": 1});
    // A crashed attempt: begun, never completed.
    use halfhour::ports::Attempts;
    let hash = halfhour::idempotency::payload_hash(&payload).unwrap();
    store
        .begin_attempt("scaler", "k", &hash, now, now.plus(Duration::from_secs(30)))
        .await
        .unwrap();
    let blocked = run_once(
        &store,
        attempt("k", now.plus(Duration::from_secs(10))),
        &payload,
        || async { Ok(1) },
    )
    .await;
    assert_eq!(blocked.unwrap_err().kind(), ErrorKind::Conflict);
    let retried = run_once(
        &store,
        attempt("k", now.plus(Duration::from_secs(31))),
        &payload,
        || async { Ok(2) },
    )
    .await
    .unwrap();
    assert_eq!(retried, Outcome::Ran(2));
    // The completed record answers until its TTL, then a new attempt runs.
    let after_ttl = now.plus(Duration::from_secs(31 + 3601));
    let fresh = run_once(&store, attempt("k", after_ttl), &payload, || async {
        Ok(3)
    })
    .await
    .unwrap();
    assert_eq!(fresh, Outcome::Ran(3));
}

/// A database event whose run failed (here: its role could not write the window, until a redeploy
/// mended it) drops its attempt's record, so the redelivery runs at once instead of waiting out
/// the failed attempt's deadline as a conflict.
#[tokio::test]
async fn a_failed_attempt_gives_its_record_back_and_the_redelivery_runs_at_once() {
    use halfhour_tests::Emulator;
    use halfhour_tests::loops::failover::{at, rds_event, setup, t0};

    let s = setup("idem-db-abandon", &[]).await;
    let emulator = Emulator::shared();
    let event = rds_event(
        &s.cluster.db_instance_id,
        "RDS-EVENT-0013",
        "Multi-AZ instance failover started.",
    );
    emulator.bind_role(
        &s.db_events_app,
        "db-events",
        &s.cluster.name,
        &["dynamodb:UpdateItem"],
    );
    let failed = db_events::handle(&event, &at("first", t0()), &s.db_deps())
        .await
        .unwrap_err();
    assert_eq!(failed.aws_code(), Some("AccessDeniedException"), "{failed}");
    emulator.bind_role(&s.db_events_app, "db-events", &s.cluster.name, &[]);
    let redelivered = db_events::handle(&event, &at("again", t0()), &s.db_deps())
        .await
        .unwrap();
    assert_eq!(redelivered.action, "open_window");
}
