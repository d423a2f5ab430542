//! What every loop's dependencies begin with: its configuration, the shared brain and the
//! notifier. Each function's `Deps` holds a [`Core`] and derefs to it (see [`loop_deps!`]), so
//! `deps.config`, `deps.store` and `deps.notifier` read the same in every loop.

use std::sync::Arc;

use crate::config::CommonConfig;
use crate::ports::{Notifier, StateStore};

/// A loop's configuration: it has the settings every loop shares.
pub trait LoopConfig {
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

impl<C: LoopConfig> Core<C> {
    /// Run `action` at most once for the event `key`: the idempotency record (the stack's TTL)
    /// answers a duplicate delivery with the first run's result.
    pub async fn once<P, T, F, Fut>(
        &self,
        function: &str,
        key: &str,
        payload: &P,
        invocation: &crate::invocation::Invocation,
        action: F,
    ) -> crate::error::Result<T>
    where
        P: serde::Serialize,
        T: serde::Serialize + serde::de::DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = crate::error::Result<T>>,
    {
        let ttl = self.config.common().idempotency_ttl;
        let attempt = crate::idempotency::Attempt::new(function, key, invocation, ttl);
        let outcome =
            crate::idempotency::run_once(self.store.as_ref(), attempt, payload, action).await?;
        Ok(outcome.into_inner())
    }
}

/// `loop_deps!(Deps, LifecycleConfig)`: the function's `Deps` (with a `core` field) derefs to
/// its [`Core`]; its configuration is a [`LoopConfig`] and reads the environment (`from_env`)
/// through its own `from_lookup`.
#[macro_export]
macro_rules! loop_deps {
    ($deps:ty, $config:ty) => {
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
