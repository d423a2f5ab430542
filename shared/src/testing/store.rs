//! The state table in memory: leases, flags, documents and idempotency records with the same
//! conditional-write rules as the DynamoDB store.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use crate::domain::{
    ClusterName, Flag, FlagHold, IdempotencyRecord, IdempotencyStatus, Lease, Millis, ModeFlags,
    PriorAttempt,
};
use crate::error::{Error, Result};
use crate::ports::{Attempts, Documents, Flags, LeaseOutcome, Leases, Versioned};

#[derive(Default)]
struct Tables {
    leases: HashMap<ClusterName, Lease>,
    flags: HashMap<ClusterName, ModeFlags>,
    docs: HashMap<(ClusterName, String), Versioned>,
    attempts: HashMap<(String, String), IdempotencyRecord>,
}

/// A [`StateStore`] in a mutex: every operation is atomic, like a conditional write.
#[derive(Default)]
pub struct MemoryStateStore {
    tables: Mutex<Tables>,
}

impl MemoryStateStore {
    fn with<T>(&self, f: impl FnOnce(&mut Tables) -> T) -> T {
        // A poisoned lock only means another test thread panicked; the data is still usable.
        let mut guard = self.tables.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }
}

#[async_trait]
impl Leases for MemoryStateStore {
    async fn acquire_lease(
        &self,
        cluster: &ClusterName,
        owner: &str,
        now: Millis,
        ttl: Duration,
    ) -> Result<LeaseOutcome> {
        self.with(|t| {
            let existing = t.leases.get(cluster);
            if !Lease::may_be_taken_by(existing, owner, now) {
                return Ok(LeaseOutcome::HeldBy(
                    existing.cloned().expect("held lease exists"),
                ));
            }
            let lease = Lease {
                owner: owner.into(),
                until: now.plus(ttl),
            };
            t.leases.insert(cluster.clone(), lease.clone());
            Ok(LeaseOutcome::Acquired(lease))
        })
    }

    async fn renew_lease(
        &self,
        cluster: &ClusterName,
        owner: &str,
        now: Millis,
        ttl: Duration,
    ) -> Result<Lease> {
        self.with(|t| match t.leases.get_mut(cluster) {
            Some(lease) if lease.owner == owner && !lease.is_expired(now) => {
                lease.until = now.plus(ttl);
                Ok(lease.clone())
            }
            _ => Err(Error::Conflict(format!(
                "lease on {cluster} lost by {owner}"
            ))),
        })
    }

    async fn release_lease(&self, cluster: &ClusterName, owner: &str) -> Result<()> {
        self.with(|t| {
            if t.leases.get(cluster).is_some_and(|l| l.owner == owner) {
                t.leases.remove(cluster);
            }
            Ok(())
        })
    }

    async fn read_lease(&self, cluster: &ClusterName) -> Result<Option<Lease>> {
        self.with(|t| Ok(t.leases.get(cluster).cloned()))
    }
}

#[async_trait]
impl Flags for MemoryStateStore {
    async fn raise_flag(
        &self,
        cluster: &ClusterName,
        flag: Flag,
        hold: &FlagHold,
        exclusive: bool,
        now: Millis,
    ) -> Result<bool> {
        self.with(|t| {
            let flags = t.flags.entry(cluster.clone()).or_default();
            let blocked = flags
                .hold(flag)
                .is_some_and(|h| h.until > now && h.by != hold.by);
            if exclusive && blocked {
                return Ok(false);
            }
            flags.holds.retain(|(f, _)| *f != flag);
            flags.holds.push((flag, hold.clone()));
            Ok(true)
        })
    }

    async fn lower_flag(&self, cluster: &ClusterName, flag: Flag, by: Option<&str>) -> Result<()> {
        self.with(|t| {
            if let Some(flags) = t.flags.get_mut(cluster) {
                flags
                    .holds
                    .retain(|(f, h)| *f != flag || by.is_some_and(|b| b != h.by));
            }
            Ok(())
        })
    }

    async fn read_flags(&self, cluster: &ClusterName) -> Result<ModeFlags> {
        self.with(|t| Ok(t.flags.get(cluster).cloned().unwrap_or_default()))
    }
}

#[async_trait]
impl Documents for MemoryStateStore {
    async fn read_doc(&self, cluster: &ClusterName, name: &str) -> Result<Option<Versioned>> {
        self.with(|t| Ok(t.docs.get(&(cluster.clone(), name.to_owned())).cloned()))
    }

    async fn write_doc(
        &self,
        cluster: &ClusterName,
        name: &str,
        body: &str,
        expected: Option<u64>,
    ) -> Result<bool> {
        self.with(|t| {
            let key = (cluster.clone(), name.to_owned());
            let current = t.docs.get(&key).map(|d| d.version);
            if current != expected {
                return Ok(false);
            }
            let version = expected.map_or(1, |v| v + 1);
            t.docs.insert(
                key,
                Versioned {
                    body: body.into(),
                    version,
                },
            );
            Ok(true)
        })
    }
}

#[async_trait]
impl Attempts for MemoryStateStore {
    async fn begin_attempt(
        &self,
        function: &str,
        key: &str,
        payload_hash: &str,
        now: Millis,
        in_progress_until: Millis,
    ) -> Result<PriorAttempt> {
        self.with(|t| {
            let id = (function.to_owned(), key.to_owned());
            let prior = PriorAttempt::classify(t.attempts.get(&id), payload_hash, now);
            if prior == PriorAttempt::None {
                t.attempts.insert(
                    id,
                    IdempotencyRecord {
                        status: IdempotencyStatus::InProgress,
                        payload_hash: payload_hash.into(),
                        in_progress_until,
                        expires_at: in_progress_until,
                        result: None,
                    },
                );
            }
            Ok(prior)
        })
    }

    async fn complete_attempt(
        &self,
        function: &str,
        key: &str,
        payload_hash: &str,
        result: &str,
        expires_at: Millis,
    ) -> Result<()> {
        self.with(|t| {
            t.attempts.insert(
                (function.to_owned(), key.to_owned()),
                IdempotencyRecord {
                    status: IdempotencyStatus::Completed,
                    payload_hash: payload_hash.into(),
                    in_progress_until: expires_at,
                    expires_at,
                    result: Some(result.into()),
                },
            );
            Ok(())
        })
    }

    async fn abandon_attempt(&self, function: &str, key: &str) -> Result<()> {
        self.with(|t| {
            t.attempts.remove(&(function.to_owned(), key.to_owned()));
            Ok(())
        })
    }
}
