//! What every loop's dependencies begin with: its configuration, the shared brain and the
//! notifier. Each function's `Deps` holds a [`Core`] and derefs to it (see [`loop_deps!`]), so
//! `deps.config`, `deps.store` and `deps.notifier` read the same in every loop.

use std::future::Future;
use std::sync::Arc;

use crate::config::CommonConfig;
use crate::domain::Loop;
use crate::error::Result;
use crate::idempotency;
use crate::invocation::{self, Invocation};
use crate::ports::{Notifier, StateStore};

/// A loop's configuration: it has the settings every loop shares, and names its loop.
pub trait LoopConfig {
    /// The loop the function runs: its name in idempotency records and lease owners.
    const LOOP: Loop;
    fn common(&self) -> &CommonConfig;
}

pub struct Core<C> {
    pub config: C,
    pub store: Arc<dyn StateStore>,
    /// None without a topic: notifications are only logged.
    pub notifier: Option<Arc<dyn Notifier>>,
}

#[cfg(all(feature = "dynamodb", feature = "sns"))]
impl<C: LoopConfig> Core<C> {
    /// The state table and the topic the configuration names, through the SDK.
    pub fn from_sdk(config: C, sdk: &crate::aws::SdkConfig) -> Self {
        let common = config.common();
        Core {
            store: Arc::new(crate::aws::dynamodb::DynamoStateStore::new(
                sdk,
                common.table.clone(),
            )),
            notifier: crate::aws::sns::notifier(sdk, common.notify_topic_arn.as_ref()),
            config,
        }
    }
}

/// The claims an invocation makes on the cluster, each named by the invocation's key (its
/// event's, [`Invocation::for_event`], else its request id): the idempotency record under it and
/// the lease owned as `<function>:<key>`.
impl<C: LoopConfig> Core<C> {
    /// Run `action` at most once for the event `invocation` serves: the idempotency record (the
    /// stack's TTL) answers a duplicate delivery with the first run's result.
    pub async fn once<P, T, F, Fut>(
        &self,
        invocation: &Invocation,
        payload: &P,
        action: F,
    ) -> Result<T>
    where
        P: serde::Serialize,
        T: serde::Serialize + serde::de::DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let ttl = self.config.common().idempotency_ttl;
        let attempt = idempotency::Attempt::new(C::LOOP.function(), invocation, ttl);
        let outcome = idempotency::run_once(self.store.as_ref(), attempt, payload, action).await?;
        Ok(outcome.into_inner())
    }

    /// Run `work` holding the cluster's lease ([`invocation::with_lease`]).
    pub async fn with_lease<T, F, Fut>(&self, invocation: &Invocation, work: F) -> Result<T>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        invocation::with_lease(self.lease_terms(invocation), work).await
    }

    /// Decide without the lease and take it only to act ([`invocation::lease_to_act`]).
    pub async fn lease_to_act<D, T, F, DFut, A, AFut>(
        &self,
        invocation: &Invocation,
        decide: F,
        apply: A,
    ) -> Result<T>
    where
        D: invocation::Decided,
        F: Fn() -> DFut,
        DFut: Future<Output = Result<D>>,
        A: Fn(D) -> AFut,
        AFut: Future<Output = Result<T>>,
    {
        invocation::lease_to_act(self.lease_terms(invocation), decide, apply).await
    }

    /// The invocation's lease on the cluster: owned as `<function>:<key>`, for the stack's TTL.
    fn lease_terms<'a>(&'a self, invocation: &Invocation) -> invocation::LeaseTerms<'a> {
        let common = self.config.common();
        invocation::LeaseTerms {
            store: self.store.as_ref(),
            cluster: &common.cluster,
            owner: invocation.owner(C::LOOP.function()),
            now: invocation.now,
            ttl: common.lease,
        }
    }
}

/// `loop_deps!(Deps, LifecycleConfig, Loop::Lifecycle)`: the function's `Deps` (with a `core`
/// field) derefs to its [`Core`]; its configuration is the [`LoopConfig`] of that loop and reads
/// the environment (`from_env`) through its own `from_lookup`.
#[macro_export]
macro_rules! loop_deps {
    ($deps:ty, $config:ty, $loop:expr) => {
        impl ::std::ops::Deref for $deps {
            type Target = $crate::core::Core<$config>;
            fn deref(&self) -> &Self::Target {
                &self.core
            }
        }
        impl ::std::ops::DerefMut for $deps {
            fn deref_mut(&mut self) -> &mut Self::Target {
                &mut self.core
            }
        }
        impl $crate::core::LoopConfig for $config {
            const LOOP: $crate::domain::Loop = $loop;
            fn common(&self) -> &$crate::config::CommonConfig {
                &self.common
            }
        }
        impl $config {
            /// The configuration Lambda gives the function: its environment.
            pub fn from_env() -> Result<Self, $crate::config::ConfigError> {
                Self::from_lookup(|name| ::std::env::var(name).ok())
            }
        }
    };
}
