//! The in-process test kit (the `test-util` feature; only dev-dependencies enable it, so no
//! Lambda compiles it): in-memory fakes of the ports that follow the same domain rules as the
//! real adapters, a crash wrapper for any cluster port, and fixture helpers. Handler tests on
//! these run in milliseconds beside the code; the emulator suites prove the adapters against
//! AWS semantics.

mod cluster;
mod crash;
mod instances;
mod rollout;
mod site;
mod store;

pub use cluster::FakeCluster;
pub use crash::{CrashAfter, CrashPoint};
pub use store::MemoryStateStore;

/// A loop's core in a handler test: its configuration, the state table in memory, and `fake` as
/// the operator's topic.
pub fn loop_core<C>(config: C, fake: &std::sync::Arc<FakeCluster>) -> crate::core::Core<C> {
    crate::core::Core {
        config,
        store: std::sync::Arc::new(MemoryStateStore::default()),
        notifier: Some(fake.clone()),
    }
}

/// Each payload is refused by `handle` as bad input: a typed `BadEvent`, never a panic.
pub async fn each_is_bad_input<T: std::fmt::Debug>(
    payloads: impl IntoIterator<Item = serde_json::Value>,
    handle: impl AsyncFn(&serde_json::Value) -> crate::error::Result<T>,
) {
    for payload in payloads {
        let err = handle(&payload).await.expect_err(&payload.to_string());
        assert_eq!(err.kind(), crate::ErrorKind::BadEvent, "{payload}: {err}");
    }
}

/// A shipped event fixture (`events/<path>` at the repository root), parsed; for the
/// functions' tests, which pass their `CARGO_MANIFEST_DIR`.
pub fn event_fixture(manifest_dir: &str, path: &str) -> serde_json::Value {
    let file = format!("{manifest_dir}/../../events/{path}");
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{file}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// A configuration lookup over fixed pairs, for `*Config::from_lookup` in tests.
/// `base` with `extra` over it (a name in both reads as `extra` has it), as a config lookup.
pub fn lookup_over<'a>(
    base: &'a [(&'a str, &'a str)],
    extra: &'a [(&'a str, &'a str)],
) -> impl Fn(&str) -> Option<String> + Copy + 'a {
    move |name| lookup(extra)(name).or_else(|| lookup(base)(name))
}

pub fn lookup<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + Copy + 'a {
    move |name| {
        pairs
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    }
}
