//! Route53 adapter: the site's health, the gate health check, and the site's records.

use async_trait::async_trait;
use aws_sdk_route53::Client;
use aws_sdk_route53::types::{
    AliasTarget as SdkAlias, Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet,
    ResourceRecordSetFailover, RrType,
};

use super::classify;
use crate::domain::dns::{AliasTarget, FailoverRole, RecordChange, RecordSet};
use crate::error::{Error, Result};
use crate::ports::Dns;

#[derive(Clone, Debug)]
pub struct Route53Dns {
    client: super::LazyClient<Client>,
}

impl Route53Dns {
    pub fn new(sdk: &super::SdkConfig) -> Self {
        Route53Dns {
            client: super::LazyClient::new(sdk, Client::new),
        }
    }
}

/// Route53 counts a check healthy when more than 18% of its checkers report it healthy.
fn healthy_by_route53_rule(healthy: usize, total: usize) -> bool {
    total > 0 && healthy * 100 > total * 18
}

#[async_trait]
impl Dns for Route53Dns {
    async fn site_healthy(&self, health_check_id: &str) -> Result<bool> {
        let out = self
            .client
            .get_health_check_status()
            .health_check_id(health_check_id)
            .send()
            .await
            .map_err(|e| classify("GetHealthCheckStatus", e))?;
        let reports: Vec<&str> = out
            .health_check_observations()
            .iter()
            .filter_map(|o| o.status_report()?.status())
            .collect();
        let healthy = reports.iter().filter(|s| s.starts_with("Success")).count();
        Ok(healthy_by_route53_rule(healthy, reports.len()))
    }

    async fn gate_threshold(&self, gate_id: &str) -> Result<i32> {
        let out = self
            .client
            .get_health_check()
            .health_check_id(gate_id)
            .send()
            .await
            .map_err(|e| classify("GetHealthCheck", e))?;
        out.health_check()
            .and_then(|h| h.health_check_config())
            .and_then(|c| c.health_threshold())
            .ok_or_else(|| {
                Error::aws(
                    "GetHealthCheck",
                    format!("health check {gate_id} is not a calculated gate (no HealthThreshold)"),
                )
            })
    }

    async fn record_sets(&self, zone_id: &str, name: &str) -> Result<Vec<RecordSet>> {
        let wanted = name.trim_end_matches('.').to_ascii_lowercase();
        let same = |n: &str| n.trim_end_matches('.').eq_ignore_ascii_case(&wanted);
        // Listed in order from (name, type, identifier) on: stop at the first other name.
        let mut records = Vec::new();
        let mut next: (Option<String>, Option<RrType>, Option<String>) =
            (Some(wanted.clone()), None, None);
        loop {
            let out = self
                .client
                .list_resource_record_sets()
                .hosted_zone_id(zone_id)
                .set_start_record_name(next.0.clone())
                .set_start_record_type(next.1.clone())
                .set_start_record_identifier(next.2.clone())
                .send()
                .await
                .map_err(|e| classify("ListResourceRecordSets", e))?;
            let mut left_the_name = false;
            for record in out.resource_record_sets() {
                if same(record.name()) {
                    records.push(from_sdk(record));
                } else {
                    left_the_name = true;
                }
            }
            match out.next_record_name() {
                Some(name) if out.is_truncated() && !left_the_name && same(name) => {
                    next = (
                        Some(name.to_owned()),
                        out.next_record_type().cloned(),
                        out.next_record_identifier().map(str::to_owned),
                    );
                }
                _ => return Ok(records),
            }
        }
    }

    async fn change_record_sets(
        &self,
        zone_id: &str,
        changes: &[RecordChange],
        comment: &str,
    ) -> Result<()> {
        let changes = changes
            .iter()
            .map(|change| {
                let (action, record) = match change {
                    RecordChange::Create(r) => (ChangeAction::Create, r),
                    RecordChange::Delete(r) => (ChangeAction::Delete, r),
                };
                Change::builder()
                    .action(action)
                    .resource_record_set(to_sdk(record)?)
                    .build()
                    .map_err(invalid)
            })
            .collect::<Result<Vec<_>>>()?;
        let batch = ChangeBatch::builder()
            .set_changes(Some(changes))
            .comment(comment)
            .build()
            .map_err(invalid)?;
        self.client
            .change_resource_record_sets()
            .hosted_zone_id(zone_id)
            .change_batch(batch)
            .send()
            .await
            .map_err(|e| classify("ChangeResourceRecordSets", e))?;
        Ok(())
    }

    async fn set_gate(&self, gate_id: &str, gate: crate::domain::dns::Gate) -> Result<()> {
        self.client
            .update_health_check()
            .health_check_id(gate_id)
            .health_threshold(gate.threshold())
            .send()
            .await
            .map_err(|e| classify("UpdateHealthCheck", e))?;
        Ok(())
    }
}

fn from_sdk(record: &ResourceRecordSet) -> RecordSet {
    RecordSet {
        name: record.name().to_owned(),
        kind: record.r#type().as_str().to_owned(),
        set_identifier: record.set_identifier().map(str::to_owned),
        failover: record.failover().and_then(|f| match f {
            ResourceRecordSetFailover::Primary => Some(FailoverRole::Primary),
            ResourceRecordSetFailover::Secondary => Some(FailoverRole::Secondary),
            _ => None,
        }),
        health_check_id: record.health_check_id().map(str::to_owned),
        alias: record.alias_target().map(|a| AliasTarget {
            dns_name: a.dns_name().to_owned(),
            hosted_zone_id: a.hosted_zone_id().to_owned(),
            evaluate_target_health: a.evaluate_target_health(),
        }),
        // An alias record has no TTL of its own (moto lists one anyway).
        ttl: record
            .alias_target()
            .is_none()
            .then(|| record.ttl())
            .flatten(),
        values: record
            .resource_records()
            .iter()
            .map(|r| r.value().to_owned())
            .collect(),
    }
}

fn invalid(what: impl std::fmt::Display) -> Error {
    Error::aws(
        "ChangeResourceRecordSets",
        format!("record set not expressible: {what}"),
    )
}

fn to_sdk(record: &RecordSet) -> Result<ResourceRecordSet> {
    let alias = record
        .alias
        .as_ref()
        .map(|a| {
            SdkAlias::builder()
                .dns_name(&a.dns_name)
                .hosted_zone_id(&a.hosted_zone_id)
                .evaluate_target_health(a.evaluate_target_health)
                .build()
                .map_err(invalid)
        })
        .transpose()?;
    let values = record
        .values
        .iter()
        .map(|v| ResourceRecord::builder().value(v).build().map_err(invalid))
        .collect::<Result<Vec<_>>>()?;
    ResourceRecordSet::builder()
        .name(&record.name)
        .r#type(RrType::from(record.kind.as_str()))
        .set_set_identifier(record.set_identifier.clone())
        .set_failover(record.failover.map(|f| match f {
            FailoverRole::Primary => ResourceRecordSetFailover::Primary,
            FailoverRole::Secondary => ResourceRecordSetFailover::Secondary,
        }))
        .set_health_check_id(record.health_check_id.clone())
        .set_alias_target(alias)
        .set_ttl(record.ttl)
        .set_resource_records((!values.is_empty()).then_some(values))
        .build()
        .map_err(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_than_18_percent_is_healthy() {
        assert!(healthy_by_route53_rule(1, 3));
        assert!(!healthy_by_route53_rule(0, 3));
        assert!(!healthy_by_route53_rule(1, 6));
        assert!(healthy_by_route53_rule(2, 8));
        assert!(!healthy_by_route53_rule(0, 0));
    }
}
