//! Typed access to the loops' JSON documents in the state table.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::domain::ClusterName;
use crate::error::{Error, Result};
use crate::ports::Documents;

/// The name of each loop's document in the state table (`doc#<name>`), and which loop keeps it:
/// the cluster-wide `status` reports them all.
pub mod doc {
    use crate::domain::Loop;
    pub const LIFECYCLE: &str = "lifecycle";
    pub const FAILOVER: &str = "failover";
    pub const DATABASE: &str = "db";
    pub const SCALER: &str = "scaler";
    pub const SCALER_MONITORING: &str = "scaler-monitoring";
    pub const SCALER_COEXISTENCE: &str = "scaler-coexistence";
    pub const BAKE: &str = crate::domain::image::BAKE_DOC;
    /// The last decisions each loop acted on (see [`super::remember_decision`]).
    pub const DECISIONS: &str = "decisions";
    /// When each kind of notice last went out, and how many were held back since.
    pub const NOTICES: &str = "notices";

    /// (loop, document) for every document a loop keeps.
    pub const ALL: [(&str, &str); 9] = [
        (Loop::Lifecycle.name(), LIFECYCLE),
        (Loop::Failover.name(), FAILOVER),
        (Loop::Database.name(), DATABASE),
        (Loop::Scaling.name(), SCALER),
        (Loop::Scaling.name(), SCALER_MONITORING),
        (Loop::Scaling.name(), SCALER_COEXISTENCE),
        (Loop::GoldImage.name(), BAKE),
        ("every loop", DECISIONS),
        ("every loop", NOTICES),
    ];
}

/// The format of the documents this release writes, in each body's `schema_version`: 1 (no
/// field) is 0.1.0's, 2 this release's. Older documents are upgraded as they are read; a newer
/// one is refused ([`Error::NewerState`]), never misread.
pub const DOC_SCHEMA: u64 = 2;
const SCHEMA_FIELD: &str = "schema_version";

/// `body` as this release reads it. 1 → 2 (0.1.0 → 0.2.0) only added fields, each with a serde
/// default, so the body reads as it is; a later change that renames or reshapes a field
/// rewrites the older bodies here, one step per version.
fn upgrade(mut body: serde_json::Value, what: impl Fn() -> String) -> Result<serde_json::Value> {
    let found = body
        .get(SCHEMA_FIELD)
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(1);
    if found > DOC_SCHEMA {
        return Err(Error::NewerState {
            what: what(),
            found,
            known: DOC_SCHEMA,
        });
    }
    if let Some(fields) = body.as_object_mut() {
        fields.remove(SCHEMA_FIELD);
    }
    Ok(body)
}

/// A loop's document and the version to name when writing it back, or None if never written.
pub async fn read_json<T: DeserializeOwned>(
    store: &dyn Documents,
    cluster: &ClusterName,
    name: &str,
) -> Result<Option<(T, u64)>> {
    let Some(doc) = store.read_doc(cluster, name).await? else {
        return Ok(None);
    };
    let unreadable = |e: serde_json::Error| {
        Error::corrupt_state(
            format!("the {name} state of {cluster}"),
            format!("is unreadable: {e}"),
        )
    };
    let body = serde_json::from_str(&doc.body).map_err(unreadable)?;
    let body = upgrade(body, || format!("the {name} state of {cluster}"))?;
    let value = serde_json::from_value(body).map_err(unreadable)?;
    Ok(Some((value, doc.version)))
}

/// A loop's document, or its default when never written, with the version to write back.
pub async fn read_json_or_default<T: DeserializeOwned + Default>(
    store: &dyn Documents,
    cluster: &ClusterName,
    name: &str,
) -> Result<(T, Option<u64>)> {
    Ok(read_json(store, cluster, name).await?.map_or_else(
        || (T::default(), None),
        |(value, version)| (value, Some(version)),
    ))
}

/// Write a loop's document (with this release's `schema_version`) if it is still at `expected`
/// (None: not written yet).
/// Ok(false) when another writer got there first.
pub async fn write_json<T: Serialize>(
    store: &dyn Documents,
    cluster: &ClusterName,
    name: &str,
    value: &T,
    expected: Option<u64>,
) -> Result<bool> {
    let mut body = serde_json::to_value(value).map_err(|e| {
        Error::corrupt_state(
            format!("the {name} state of {cluster}"),
            format!("cannot be written: {e}"),
        )
    })?;
    if let Some(fields) = body.as_object_mut() {
        fields.insert(SCHEMA_FIELD.to_owned(), DOC_SCHEMA.into());
    }
    store
        .write_doc(cluster, name, &body.to_string(), expected)
        .await
}

/// A loop's document in the state table, typed: its name and the shape of its body. It owns
/// optimistic concurrency: a write names the version it read, and a change underneath is
/// [`Error::Conflict`] (or, for [`StateDoc::update`], a re-read and another try).
pub struct StateDoc<T> {
    name: &'static str,
    body: std::marker::PhantomData<fn() -> T>,
}

/// A document as read, and the version a write back names (None: never written).
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded<T> {
    pub value: T,
    pub version: Option<u64>,
}

impl<T> StateDoc<T> {
    pub const fn new(name: &'static str) -> Self {
        StateDoc {
            name,
            body: std::marker::PhantomData,
        }
    }
}

impl<T: Serialize> StateDoc<T> {
    /// Write `value` over the document read at `version`; another writer's change since is a
    /// conflict (Lambda retries; the next attempt reads the change).
    pub async fn save(
        &self,
        store: &dyn Documents,
        cluster: &ClusterName,
        value: &T,
        version: Option<u64>,
    ) -> Result<()> {
        if write_json(store, cluster, self.name, value, version).await? {
            return Ok(());
        }
        Err(Error::Conflict(format!(
            "the {} state of {cluster} changed underneath",
            self.name
        )))
    }
}

impl<T: Serialize + DeserializeOwned + Default> StateDoc<T> {
    /// The document, or its default when it was never written.
    pub async fn load(&self, store: &dyn Documents, cluster: &ClusterName) -> Result<Loaded<T>> {
        let (value, version) = read_json_or_default(store, cluster, self.name).await?;
        Ok(Loaded { value, version })
    }

    /// Apply `change` to the document as it is now: on a race, re-read and apply it again. A
    /// change that leaves the document as it was writes nothing.
    pub async fn update(
        &self,
        store: &dyn Documents,
        cluster: &ClusterName,
        change: impl Fn(&mut T),
    ) -> Result<T>
    where
        T: Clone + PartialEq,
    {
        for _ in 0..UPDATE_ATTEMPTS {
            let Loaded { value, version } = self.load(store, cluster).await?;
            let mut changed = value.clone();
            change(&mut changed);
            if changed == value || write_json(store, cluster, self.name, &changed, version).await? {
                return Ok(changed);
            }
        }
        Err(Error::Conflict(format!(
            "the {} state of {cluster} keeps changing underneath",
            self.name
        )))
    }
}

/// How often [`StateDoc::update`] re-reads a document others keep writing before it gives up.
const UPDATE_ATTEMPTS: usize = 5;

/// How many acted-on decisions `status` shows per loop.
const DECISIONS_KEPT: usize = 5;

/// One acted-on decision, as `status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct RememberedDecision {
    pub at: String,
    pub action: String,
    pub reason: Option<String>,
}

/// Keep `record` among its loop's last acted-on decisions for the cluster-wide `status`. Best
/// effort: the decision is already taken and logged, so a lost race or a failed write is logged
/// and never fails it.
pub async fn remember_decision(
    store: &dyn Documents,
    record: &crate::telemetry::DecisionRecord,
    now: crate::domain::Millis,
) {
    let Ok(cluster) = ClusterName::new(&record.cluster) else {
        return;
    };
    let entry = RememberedDecision {
        at: crate::domain::format_utc(now),
        action: record.action.clone(),
        reason: record.reason.clone(),
    };
    for _ in 0..3 {
        let read = read_json_or_default::<
            std::collections::BTreeMap<String, Vec<RememberedDecision>>,
        >(store, &cluster, doc::DECISIONS)
        .await;
        let Ok((mut kept, version)) = read else {
            break;
        };
        let list = kept.entry(record.loop_name.to_owned()).or_default();
        list.insert(0, entry.clone());
        list.truncate(DECISIONS_KEPT);
        match write_json(store, &cluster, doc::DECISIONS, &kept, version).await {
            Ok(true) => return,
            Ok(false) => continue,
            Err(_) => break,
        }
    }
    tracing::warn!(loop_name = record.loop_name, action = %record.action, "decision not kept for status");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::Documents;
    use crate::testing::MemoryStateStore;

    #[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Doc {
        kept: u32,
        #[serde(default)]
        added_later: bool,
    }

    #[tokio::test]
    async fn a_stale_save_is_a_conflict_and_an_update_re_reads() {
        const DOC: StateDoc<Doc> = StateDoc::new("typed");
        let store = MemoryStateStore::default();
        let cluster = ClusterName::new("prod").unwrap();
        let first = DOC.load(&store, &cluster).await.unwrap();
        assert_eq!(
            first,
            Loaded {
                value: Doc::default(),
                version: None
            }
        );
        let one = Doc {
            kept: 1,
            added_later: false,
        };
        DOC.save(&store, &cluster, &one, first.version)
            .await
            .unwrap();
        let stale = DOC
            .save(&store, &cluster, &one, first.version)
            .await
            .unwrap_err();
        assert_eq!(stale.kind(), crate::ErrorKind::Conflict, "{stale}");
        assert!(
            stale
                .to_string()
                .contains("typed state of prod changed underneath"),
            "{stale}"
        );
        let updated = DOC.update(&store, &cluster, |d| d.kept += 1).await.unwrap();
        assert_eq!(updated.kept, 2);
        assert_eq!(DOC.load(&store, &cluster).await.unwrap().value.kept, 2);
    }

    #[tokio::test]
    async fn an_update_that_changes_nothing_writes_nothing() {
        const DOC: StateDoc<Doc> = StateDoc::new("typed");
        let store = MemoryStateStore::default();
        let cluster = ClusterName::new("prod").unwrap();
        DOC.update(&store, &cluster, |d| d.kept = 1).await.unwrap();
        let written = DOC.load(&store, &cluster).await.unwrap().version;
        let same = DOC.update(&store, &cluster, |d| d.kept = 1).await.unwrap();
        assert_eq!(same.kept, 1);
        assert_eq!(DOC.load(&store, &cluster).await.unwrap().version, written);
    }

    #[tokio::test]
    async fn documents_carry_their_schema_and_older_ones_are_read_newer_ones_refused() {
        let store = MemoryStateStore::default();
        let cluster = ClusterName::new("prod").unwrap();
        let doc = Doc {
            kept: 3,
            added_later: true,
        };
        assert!(write_json(&store, &cluster, "d", &doc, None).await.unwrap());
        let written = store.read_doc(&cluster, "d").await.unwrap().unwrap();
        let body: serde_json::Value = serde_json::from_str(&written.body).unwrap();
        assert_eq!(body["schema_version"], DOC_SCHEMA);
        let (read, _) = read_json::<Doc>(&store, &cluster, "d")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(read, doc);
        // 0.1.0 wrote no schema_version and none of the later fields.
        store
            .write_doc(&cluster, "old", "{\"kept\": 7}", None)
            .await
            .unwrap();
        let (old, _) = read_json::<Doc>(&store, &cluster, "old")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            old,
            Doc {
                kept: 7,
                added_later: false
            }
        );
        store
            .write_doc(
                &cluster,
                "new",
                "{\"kept\": 1, \"schema_version\": 9}",
                None,
            )
            .await
            .unwrap();
        let err = read_json::<Doc>(&store, &cluster, "new").await.unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Config);
        assert!(err.to_string().contains("schema 9"), "{err}");
    }
}
