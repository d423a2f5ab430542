use std::time::Duration;

use halfhour::domain::{ClusterName, Flag, FlagHold, Millis};
use halfhour::ports::{Documents, Flags};

use halfhour_tests::loops::fresh_store;

fn hold(by: &str, since: Millis, secs: u64) -> FlagHold {
    FlagHold {
        by: by.into(),
        since,
        until: since.plus(Duration::from_secs(secs)),
    }
}

#[tokio::test]
async fn exclusive_flag_refuses_a_second_holder_until_lowered_or_expired() {
    let store = fresh_store("flags").await;
    let cluster = ClusterName::new("prod").unwrap();
    let t0 = Millis(1_000_000);
    assert!(
        store
            .raise_flag(&cluster, Flag::Baking, &hold("bake-1", t0, 600), true, t0)
            .await
            .unwrap()
    );
    assert!(
        !store
            .raise_flag(&cluster, Flag::Baking, &hold("bake-2", t0, 600), true, t0)
            .await
            .unwrap()
    );
    // Flags are independent of each other and readable by every loop.
    assert!(
        store
            .raise_flag(
                &cluster,
                Flag::DbFailover,
                &hold("db-events", t0, 120),
                false,
                t0
            )
            .await
            .unwrap()
    );
    let flags = store.read_flags(&cluster).await.unwrap();
    assert_eq!(flags.raised(t0), vec![Flag::Baking, Flag::DbFailover]);
    assert_eq!(flags.hold(Flag::Baking).unwrap().by, "bake-1");
    // Lowering by someone else is a no-op; by the holder it frees the flag.
    store
        .lower_flag(&cluster, Flag::Baking, Some("bake-2"))
        .await
        .unwrap();
    assert!(
        store
            .read_flags(&cluster)
            .await
            .unwrap()
            .is_raised(Flag::Baking, t0)
    );
    store
        .lower_flag(&cluster, Flag::Baking, Some("bake-1"))
        .await
        .unwrap();
    assert!(
        !store
            .read_flags(&cluster)
            .await
            .unwrap()
            .is_raised(Flag::Baking, t0)
    );
    // An expired hold no longer blocks.
    let later = t0.plus(Duration::from_secs(121));
    assert!(
        !store
            .read_flags(&cluster)
            .await
            .unwrap()
            .is_raised(Flag::DbFailover, later)
    );
    assert!(
        store
            .raise_flag(
                &cluster,
                Flag::DbFailover,
                &hold("other", later, 60),
                true,
                later
            )
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn versioned_documents_refuse_a_stale_write() {
    let store = fresh_store("docs").await;
    let cluster = ClusterName::new("prod").unwrap();
    assert!(
        store
            .write_doc(&cluster, "failover", "{\"s\":1}", None)
            .await
            .unwrap()
    );
    assert!(
        !store
            .write_doc(&cluster, "failover", "{\"s\":9}", None)
            .await
            .unwrap()
    );
    let doc = store.read_doc(&cluster, "failover").await.unwrap().unwrap();
    assert_eq!((doc.body.as_str(), doc.version), ("{\"s\":1}", 1));
    assert!(
        store
            .write_doc(&cluster, "failover", "{\"s\":2}", Some(1))
            .await
            .unwrap()
    );
    assert!(
        !store
            .write_doc(&cluster, "failover", "{\"s\":3}", Some(1))
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .read_doc(&cluster, "failover")
            .await
            .unwrap()
            .unwrap()
            .version,
        2
    );
    assert_eq!(store.read_doc(&cluster, "missing").await.unwrap(), None);
}
