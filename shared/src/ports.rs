//! Narrow capability traits: the seams between the handlers and AWS. A real adapter in
//! [`crate::aws`] and an in-memory fake in [`crate::testing`] implement each of them.

use std::time::Duration;

use async_trait::async_trait;

use crate::domain::{ClusterName, Flag, FlagHold, Lease, Millis, ModeFlags, PriorAttempt};
use crate::error::Result;

/// The outcome of asking for a cluster's lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseOutcome {
    Acquired(Lease),
    HeldBy(Lease),
}

/// A JSON document kept per cluster (a loop's persisted state), with a version for
/// optimistic concurrency: a write names the version it read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned {
    pub body: String,
    pub version: u64,
}

/// The shared brain: one table holding, per cluster, the lease, the mode flags and the
/// loops' state, plus idempotency records. Every write is conditional.
#[async_trait]
pub trait StateStore: Send + Sync {
    /// Take the lease if it is free, expired, or already `owner`'s (then it is renewed).
    async fn acquire_lease(
        &self,
        cluster: &ClusterName,
        owner: &str,
        now: Millis,
        ttl: Duration,
    ) -> Result<LeaseOutcome>;

    /// Extend `owner`'s live lease; [`crate::Error::Conflict`] if it was lost.
    async fn renew_lease(
        &self,
        cluster: &ClusterName,
        owner: &str,
        now: Millis,
        ttl: Duration,
    ) -> Result<Lease>;

    /// Give the lease back; a no-op when `owner` no longer holds it.
    async fn release_lease(&self, cluster: &ClusterName, owner: &str) -> Result<()>;

    async fn read_lease(&self, cluster: &ClusterName) -> Result<Option<Lease>>;

    /// Raise `flag`. With `exclusive`, refuse (Ok(false)) while another owner's hold is live.
    async fn raise_flag(
        &self,
        cluster: &ClusterName,
        flag: Flag,
        hold: &FlagHold,
        exclusive: bool,
        now: Millis,
    ) -> Result<bool>;

    /// Lower `flag`; with `by`, only if that owner holds it.
    async fn lower_flag(&self, cluster: &ClusterName, flag: Flag, by: Option<&str>) -> Result<()>;

    async fn read_flags(&self, cluster: &ClusterName) -> Result<ModeFlags>;

    async fn read_doc(&self, cluster: &ClusterName, name: &str) -> Result<Option<Versioned>>;

    /// Write a document if its version is still `expected` (None: it must not exist yet).
    /// Ok(false) when another writer got there first.
    async fn write_doc(
        &self,
        cluster: &ClusterName,
        name: &str,
        body: &str,
        expected: Option<u64>,
    ) -> Result<bool>;

    /// Claim an idempotent attempt. [`PriorAttempt::None`] means the caller now owns an
    /// INPROGRESS record until `in_progress_until`; anything else describes the live record.
    async fn begin_attempt(
        &self,
        function: &str,
        key: &str,
        payload_hash: &str,
        now: Millis,
        in_progress_until: Millis,
    ) -> Result<PriorAttempt>;

    /// Mark the attempt COMPLETED with its result until `expires_at`.
    async fn complete_attempt(
        &self,
        function: &str,
        key: &str,
        payload_hash: &str,
        result: &str,
        expires_at: Millis,
    ) -> Result<()>;

    /// Drop a failed attempt's record so a retry can run.
    async fn abandon_attempt(&self, function: &str, key: &str) -> Result<()>;
}

/// The Auto Scaling group a cluster runs on.
#[async_trait]
pub trait ScalingGroup: Send + Sync {
    /// The group, or None when no group has that name.
    async fn describe_group(&self, name: &str) -> Result<Option<crate::domain::GroupSnapshot>>;

    /// Set the desired capacity (an absolute value, so re-applying it is harmless).
    async fn set_desired_capacity(&self, name: &str, desired: u32) -> Result<()>;
}

/// CloudWatch alarms, read by the reconciler side of a loop.
#[async_trait]
pub trait Alarms: Send + Sync {
    /// The current state of each named alarm that exists (unknown names are left out).
    async fn alarm_states(&self, names: &[String]) -> Result<Vec<crate::domain::AlarmStatus>>;
}
