//! The state store on one DynamoDB table (`pk`, `sk` strings; TTL attribute `ttl`):
//!
//! | item | pk | sk |
//! |---|---|---|
//! | lease | `cluster#<name>` | `lease` (owner, until) |
//! | mode flags | `cluster#<name>` | `flags` (`flag_<flag>` maps: by, since, until) |
//! | loop state | `cluster#<name>` | `doc#<name>` (body, version) |
//! | idempotency | `idem#<function>#<key>` | `idem` (status, payload_hash, in_progress_until, expires_at, result, ttl) |
//!
//! Every write is a conditional write; a failed condition returns the old item
//! (`ReturnValuesOnConditionCheckFailure=ALL_OLD`) so no second read is needed.
//!
//! Every lease, flags and idempotency item carries `schema` (the release format it was written
//! in; none is 0.1.0's, whose items read the same); a document carries `schema_version` in its
//! body ([`crate::state::DOC_SCHEMA`]). An item of a newer format is refused, never misread.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};

use super::classify;
use crate::domain::{
    ClusterName, Flag, FlagHold, IdempotencyRecord, IdempotencyStatus, Lease, Millis, ModeFlags,
    PriorAttempt,
};
use crate::error::{Error, Result};
use crate::ports::{Attempts, Documents, Flags, LeaseOutcome, Leases, Versioned};

type Item = HashMap<String, AttributeValue>;

/// The format of the lease, flags and idempotency items this release writes.
const ITEM_SCHEMA: i64 = crate::state::DOC_SCHEMA as i64;

/// Refuse an item written by a newer halfhour.
fn check_schema(item: &Item, what: &str) -> Result<()> {
    match get_n(item, "schema") {
        Some(found) if found > ITEM_SCHEMA => Err(Error::NewerState {
            what: what.to_owned(),
            found: u64::try_from(found).unwrap_or(u64::MAX),
            known: ITEM_SCHEMA as u64,
        }),
        _ => Ok(()),
    }
}

#[derive(Clone, Debug)]
pub struct DynamoStateStore {
    client: super::LazyClient<Client>,
    table: String,
}

impl DynamoStateStore {
    pub fn new(sdk: &super::SdkConfig, table: impl Into<String>) -> Self {
        DynamoStateStore {
            client: super::LazyClient::new(sdk, Client::new),
            table: table.into(),
        }
    }

    async fn get(&self, pk: String, sk: &str, operation: &'static str) -> Result<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify(operation, e))?;
        Ok(out.item)
    }
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// A value only this write carries. When a conditional write took effect but its answer was lost,
/// the SDK's retry fails its own condition; the stored nonce tells that write from a rival's.
fn write_nonce() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    format!("{:016x}", hasher.finish())
}

fn cluster_pk(cluster: &ClusterName) -> String {
    format!("cluster#{cluster}")
}

fn attempt_pk(function: &str, key: &str) -> String {
    format!("idem#{function}#{key}")
}

fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)?.as_s().ok().map(String::as_str)
}

fn get_n(item: &Item, name: &str) -> Option<i64> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

fn corrupt(operation: &'static str, what: &str) -> Error {
    Error::corrupt_state(
        format!("a state table item ({operation})"),
        format!("is malformed: {what}"),
    )
}

fn lease_from(item: &Item) -> Option<Lease> {
    Some(Lease {
        owner: get_s(item, "owner")?.to_owned(),
        until: Millis(get_n(item, "until")?),
    })
}

fn hold_from(value: &AttributeValue) -> Option<FlagHold> {
    let map = value.as_m().ok()?;
    Some(FlagHold {
        by: get_s(map, "by")?.to_owned(),
        since: Millis(get_n(map, "since")?),
        until: Millis(get_n(map, "until")?),
    })
}

fn doc_from(item: &Item) -> Option<Versioned> {
    Some(Versioned {
        body: get_s(item, "body")?.to_owned(),
        version: u64::try_from(get_n(item, "version")?).ok()?,
    })
}

fn record_from(item: &Item) -> Option<IdempotencyRecord> {
    Some(IdempotencyRecord {
        status: IdempotencyStatus::parse(get_s(item, "status")?)?,
        payload_hash: get_s(item, "payload_hash")?.to_owned(),
        in_progress_until: Millis(get_n(item, "in_progress_until")?),
        expires_at: Millis(get_n(item, "expires_at")?),
        result: get_s(item, "result").map(str::to_owned),
    })
}

/// The old item of a failed conditional write, or None when the failure was something else.
macro_rules! condition_failed {
    ($err:expr, $variant:path) => {
        match $err.as_service_error() {
            Some($variant(failed)) => Some(failed.item.clone().unwrap_or_default()),
            _ => None,
        }
    };
}

#[async_trait]
impl Leases for DynamoStateStore {
    async fn acquire_lease(
        &self,
        cluster: &ClusterName,
        owner: &str,
        now: Millis,
        ttl: Duration,
    ) -> Result<LeaseOutcome> {
        use aws_sdk_dynamodb::operation::put_item::PutItemError;
        let lease = Lease {
            owner: owner.into(),
            until: now.plus(ttl),
        };
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(cluster_pk(cluster)))
            .item("sk", s("lease"))
            .item("owner", s(owner))
            .item("until", n(lease.until.0))
            .item("schema", n(ITEM_SCHEMA))
            .condition_expression("attribute_not_exists(pk) OR #u <= :now OR #o = :me")
            .expression_attribute_names("#u", "until")
            .expression_attribute_names("#o", "owner")
            .expression_attribute_values(":now", n(now.0))
            .expression_attribute_values(":me", s(owner))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match put {
            Ok(_) => Ok(LeaseOutcome::Acquired(lease)),
            Err(err) => match condition_failed!(err, PutItemError::ConditionalCheckFailedException)
            {
                Some(old) => {
                    check_schema(&old, &format!("the lease of {cluster}"))?;
                    lease_from(&old)
                        .map(LeaseOutcome::HeldBy)
                        .ok_or_else(|| corrupt("AcquireLease", "lease without owner/until"))
                }
                None => Err(classify("AcquireLease", err)),
            },
        }
    }

    async fn renew_lease(
        &self,
        cluster: &ClusterName,
        owner: &str,
        now: Millis,
        ttl: Duration,
    ) -> Result<Lease> {
        use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
        let until = now.plus(ttl);
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(cluster_pk(cluster)))
            .key("sk", s("lease"))
            .update_expression("SET #u = :until, #sv = :sv")
            .condition_expression("#o = :me AND #u > :now")
            .expression_attribute_names("#sv", "schema")
            .expression_attribute_values(":sv", n(ITEM_SCHEMA))
            .expression_attribute_names("#u", "until")
            .expression_attribute_names("#o", "owner")
            .expression_attribute_values(":until", n(until.0))
            .expression_attribute_values(":now", n(now.0))
            .expression_attribute_values(":me", s(owner))
            .send()
            .await;
        match update {
            Ok(_) => Ok(Lease {
                owner: owner.into(),
                until,
            }),
            Err(err) => match err.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(_)) => Err(Error::Conflict(
                    format!("lease on {cluster} is no longer held by {owner}"),
                )),
                _ => Err(classify("RenewLease", err)),
            },
        }
    }

    async fn release_lease(&self, cluster: &ClusterName, owner: &str) -> Result<()> {
        use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
        let delete = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(cluster_pk(cluster)))
            .key("sk", s("lease"))
            .condition_expression("#o = :me")
            .expression_attribute_names("#o", "owner")
            .expression_attribute_values(":me", s(owner))
            .send()
            .await;
        match delete {
            Ok(_) => Ok(()),
            Err(err) => match err.as_service_error() {
                Some(DeleteItemError::ConditionalCheckFailedException(_)) => Ok(()),
                _ => Err(classify("ReleaseLease", err)),
            },
        }
    }

    async fn read_lease(&self, cluster: &ClusterName) -> Result<Option<Lease>> {
        let item = self.get(cluster_pk(cluster), "lease", "ReadLease").await?;
        item.map(|i| {
            check_schema(&i, &format!("the lease of {cluster}"))?;
            lease_from(&i).ok_or_else(|| corrupt("ReadLease", "lease without owner/until"))
        })
        .transpose()
    }
}

#[async_trait]
impl Flags for DynamoStateStore {
    async fn raise_flag(
        &self,
        cluster: &ClusterName,
        flag: Flag,
        hold: &FlagHold,
        exclusive: bool,
        now: Millis,
    ) -> Result<bool> {
        use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
        let value = AttributeValue::M(HashMap::from([
            ("by".to_owned(), s(&hold.by)),
            ("since".to_owned(), n(hold.since.0)),
            ("until".to_owned(), n(hold.until.0)),
        ]));
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(cluster_pk(cluster)))
            .key("sk", s("flags"))
            .update_expression("SET #f = :hold, #sv = :sv")
            .expression_attribute_names("#f", format!("flag_{}", flag.as_str()))
            .expression_attribute_names("#sv", "schema")
            .expression_attribute_values(":hold", value)
            .expression_attribute_values(":sv", n(ITEM_SCHEMA));
        if exclusive {
            update = update
                .condition_expression("attribute_not_exists(#f) OR #f.#u <= :now OR #f.#by = :by")
                .expression_attribute_names("#u", "until")
                .expression_attribute_names("#by", "by")
                .expression_attribute_values(":now", n(now.0))
                .expression_attribute_values(":by", s(&hold.by));
        }
        match update.send().await {
            Ok(_) => Ok(true),
            Err(err) => match err.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(_)) => Ok(false),
                _ => Err(classify("RaiseFlag", err)),
            },
        }
    }

    async fn lower_flag(&self, cluster: &ClusterName, flag: Flag, by: Option<&str>) -> Result<()> {
        use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(cluster_pk(cluster)))
            .key("sk", s("flags"))
            .update_expression("REMOVE #f")
            .expression_attribute_names("#f", format!("flag_{}", flag.as_str()));
        if let Some(by) = by {
            update = update
                .condition_expression("#f.#by = :by")
                .expression_attribute_names("#by", "by")
                .expression_attribute_values(":by", s(by));
        }
        match update.send().await {
            Ok(_) => Ok(()),
            Err(err) => match err.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(_)) => Ok(()),
                _ => Err(classify("LowerFlag", err)),
            },
        }
    }

    async fn read_flags(&self, cluster: &ClusterName) -> Result<ModeFlags> {
        let Some(item) = self.get(cluster_pk(cluster), "flags", "ReadFlags").await? else {
            return Ok(ModeFlags::default());
        };
        check_schema(&item, &format!("the mode flags of {cluster}"))?;
        let mut holds = Vec::new();
        for flag in Flag::ALL {
            if let Some(value) = item.get(&format!("flag_{}", flag.as_str())) {
                let hold = hold_from(value).ok_or_else(|| corrupt("ReadFlags", flag.as_str()))?;
                holds.push((flag, hold));
            }
        }
        Ok(ModeFlags { holds })
    }
}

#[async_trait]
impl Documents for DynamoStateStore {
    async fn read_doc(&self, cluster: &ClusterName, name: &str) -> Result<Option<Versioned>> {
        let item = self
            .get(cluster_pk(cluster), &format!("doc#{name}"), "ReadDoc")
            .await?;
        item.map(|i| doc_from(&i).ok_or_else(|| corrupt("ReadDoc", name)))
            .transpose()
    }

    async fn write_doc(
        &self,
        cluster: &ClusterName,
        name: &str,
        body: &str,
        expected: Option<u64>,
    ) -> Result<bool> {
        use aws_sdk_dynamodb::operation::put_item::PutItemError;
        let next = expected.map_or(1, |v| v + 1);
        let nonce = write_nonce();
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(cluster_pk(cluster)))
            .item("sk", s(format!("doc#{name}")))
            .item("body", s(body))
            .item("version", n(next as i64))
            .item("nonce", s(&nonce))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        put = match expected {
            None => put.condition_expression("attribute_not_exists(pk)"),
            Some(v) => put
                .condition_expression("#v = :v")
                .expression_attribute_names("#v", "version")
                .expression_attribute_values(":v", n(v as i64)),
        };
        match put.send().await {
            Ok(_) => Ok(true),
            Err(err) => match condition_failed!(err, PutItemError::ConditionalCheckFailedException)
            {
                // Our own earlier try of this very write: it took effect.
                Some(old) => Ok(get_s(&old, "nonce") == Some(nonce.as_str())),
                None => Err(classify("WriteDoc", err)),
            },
        }
    }
}

#[async_trait]
impl Attempts for DynamoStateStore {
    async fn begin_attempt(
        &self,
        function: &str,
        key: &str,
        payload_hash: &str,
        now: Millis,
        in_progress_until: Millis,
    ) -> Result<PriorAttempt> {
        use aws_sdk_dynamodb::operation::put_item::PutItemError;
        let nonce = write_nonce();
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(attempt_pk(function, key)))
            .item("sk", s("idem"))
            .item("status", s(IdempotencyStatus::InProgress.as_str()))
            .item("payload_hash", s(payload_hash))
            .item("in_progress_until", n(in_progress_until.0))
            .item("expires_at", n(in_progress_until.0))
            .item("ttl", n(in_progress_until.epoch_seconds_ceil()))
            .item("nonce", s(&nonce))
            .item("schema", n(ITEM_SCHEMA))
            .condition_expression(
                "attribute_not_exists(pk) OR #exp <= :now OR (#st = :inprogress AND #ipu <= :now)",
            )
            .expression_attribute_names("#exp", "expires_at")
            .expression_attribute_names("#st", "status")
            .expression_attribute_names("#ipu", "in_progress_until")
            .expression_attribute_values(":now", n(now.0))
            .expression_attribute_values(":inprogress", s(IdempotencyStatus::InProgress.as_str()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match put {
            Ok(_) => Ok(PriorAttempt::None),
            Err(err) => match condition_failed!(err, PutItemError::ConditionalCheckFailedException)
            {
                // Our own earlier try of this very write: the attempt is ours.
                Some(old) if get_s(&old, "nonce") == Some(nonce.as_str()) => Ok(PriorAttempt::None),
                Some(old) => {
                    check_schema(&old, &format!("the idempotency record {function}#{key}"))?;
                    let record = record_from(&old).ok_or_else(|| corrupt("BeginAttempt", key))?;
                    // The condition saw a live record; should the clocks disagree, stay safe.
                    Ok(
                        match PriorAttempt::classify(Some(&record), payload_hash, now) {
                            PriorAttempt::None => PriorAttempt::InProgress,
                            prior => prior,
                        },
                    )
                }
                None => Err(classify("BeginAttempt", err)),
            },
        }
    }

    async fn complete_attempt(
        &self,
        function: &str,
        key: &str,
        payload_hash: &str,
        result: &str,
        expires_at: Millis,
    ) -> Result<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(attempt_pk(function, key)))
            .item("sk", s("idem"))
            .item("status", s(IdempotencyStatus::Completed.as_str()))
            .item("payload_hash", s(payload_hash))
            .item("in_progress_until", n(expires_at.0))
            .item("expires_at", n(expires_at.0))
            .item("ttl", n(expires_at.epoch_seconds_ceil()))
            .item("result", s(result))
            .item("schema", n(ITEM_SCHEMA))
            .send()
            .await
            .map_err(|e| classify("CompleteAttempt", e))?;
        Ok(())
    }

    async fn abandon_attempt(&self, function: &str, key: &str) -> Result<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(attempt_pk(function, key)))
            .key("sk", s("idem"))
            .send()
            .await
            .map_err(|e| classify("AbandonAttempt", e))?;
        Ok(())
    }
}
