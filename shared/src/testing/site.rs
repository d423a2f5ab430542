//! The site's side of the fake cluster: Route53's health checks and records, the static bucket,
//! and what a visitor of the static side gets. Each follows the rule of the AWS API it stands
//! for where a careless caller would notice; every mutating call is recorded as an effect.

use std::collections::BTreeMap;

use async_trait::async_trait;

use super::FakeCluster;
use crate::domain::dns::{Gate, RecordChange, RecordSet};
use crate::domain::{BucketFound, ClusterName};
use crate::error::{Error, Result};
use crate::ports::{CustomResourceReplies, Dns, StaticSite, Web, WebAnswer};

#[derive(Default)]
pub(super) struct Site {
    /// Endpoint checks and Route53's verdict on each.
    checks: BTreeMap<String, bool>,
    /// CALCULATED checks (the gate) and their HealthThreshold.
    gates: BTreeMap<String, i32>,
    /// Every record set, by hosted zone.
    zones: BTreeMap<String, Vec<RecordSet>>,
    /// Buckets: their `halfhour:cluster` tag and objects (key → body).
    buckets: BTreeMap<String, Bucket>,
    /// The static side's URL: which bucket's object visitors get there, with what status.
    static_url: Option<(String, String, String, u16)>,
}

#[derive(Default)]
struct Bucket {
    cluster_tag: Option<String>,
    objects: BTreeMap<String, String>,
}

fn no_such_check(operation: &'static str, id: &str) -> Error {
    // https://docs.aws.amazon.com/Route53/latest/APIReference/API_GetHealthCheck.html
    Error::Aws {
        operation,
        code: Some("NoSuchHealthCheck".into()),
        message: format!("No health check exists with the specified ID {id}"),
    }
}

impl FakeCluster {
    /// Route53 finds the endpoint check `id` healthy or not (made, or its verdict changed).
    pub fn set_site_healthy(&self, id: &str, healthy: bool) {
        self.with(|c| c.site.checks.insert(id.into(), healthy));
    }

    /// A CALCULATED check `id` with this HealthThreshold.
    pub fn add_gate(&self, id: &str, threshold: i32) {
        self.with(|c| c.site.gates.insert(id.into(), threshold));
    }

    /// The gate's HealthThreshold now (panics for a gate never made: a test's own mistake).
    pub fn gate(&self, id: &str) -> i32 {
        self.with(|c| c.site.gates[id])
    }

    /// The record sets of `zone` now.
    pub fn records(&self, zone: &str) -> Vec<RecordSet> {
        self.with(|c| c.site.zones.get(zone).cloned().unwrap_or_default())
    }

    /// A hosted zone `zone` holding `records`.
    pub fn add_zone(&self, zone: &str, records: Vec<RecordSet>) {
        self.with(|c| c.site.zones.insert(zone.into(), records));
    }

    /// The bucket `name`, tagged for `cluster`, empty.
    pub fn add_bucket(&self, name: &str, cluster: &str) {
        self.with(|c| {
            c.site.buckets.insert(
                name.into(),
                Bucket {
                    cluster_tag: Some(cluster.into()),
                    objects: BTreeMap::new(),
                },
            )
        });
    }

    /// The object `key` of `bucket`, if there is one.
    pub fn object(&self, bucket: &str, key: &str) -> Option<String> {
        self.with(|c| c.site.buckets.get(bucket)?.objects.get(key).cloned())
    }

    /// Visitors of `url` get `bucket`'s `key` with `status` (200 from a website, 503 from
    /// CloudFront's error response), or a 404 while it is not there.
    pub fn serve_static(&self, url: &str, bucket: &str, key: &str, status: u16) {
        self.with(|c| c.site.static_url = Some((url.into(), bucket.into(), key.into(), status)));
    }
}

#[async_trait]
impl Dns for FakeCluster {
    async fn site_healthy(&self, health_check_id: &str) -> Result<bool> {
        self.with(|c| {
            c.site
                .checks
                .get(health_check_id)
                .copied()
                .ok_or_else(|| no_such_check("GetHealthCheckStatus", health_check_id))
        })
    }

    async fn gate_threshold(&self, gate_id: &str) -> Result<i32> {
        self.with(|c| {
            c.site
                .gates
                .get(gate_id)
                .copied()
                .ok_or_else(|| no_such_check("GetHealthCheck", gate_id))
        })
    }

    async fn set_gate(&self, gate_id: &str, gate: Gate) -> Result<()> {
        self.with(|c| {
            let threshold = c
                .site
                .gates
                .get_mut(gate_id)
                .ok_or_else(|| no_such_check("UpdateHealthCheck", gate_id))?;
            *threshold = gate.threshold();
            c.effects
                .push(format!("UpdateHealthCheck {gate_id} {}", gate.threshold()));
            Ok(())
        })
    }

    async fn record_sets(&self, zone_id: &str, name: &str) -> Result<Vec<RecordSet>> {
        self.with(|c| {
            let zone = c.site.zones.get(zone_id).ok_or_else(|| Error::Aws {
                operation: "ListResourceRecordSets",
                code: Some("NoSuchHostedZone".into()),
                message: format!("No hosted zone found with ID: {zone_id}"),
            })?;
            Ok(zone.iter().filter(|r| r.name == name).cloned().collect())
        })
    }

    /// All or nothing: a CREATE of a record that exists, or a DELETE of one that does not (or
    /// whose values differ), refuses the whole batch
    /// (<https://docs.aws.amazon.com/Route53/latest/APIReference/API_ChangeResourceRecordSets.html>).
    async fn change_record_sets(
        &self,
        zone_id: &str,
        changes: &[RecordChange],
        _comment: &str,
    ) -> Result<()> {
        self.with(|c| {
            let refused = |message: String| Error::Aws {
                operation: "ChangeResourceRecordSets",
                code: Some("InvalidChangeBatch".into()),
                message,
            };
            let mut zone = c.site.zones.get(zone_id).cloned().unwrap_or_default();
            let same = |a: &RecordSet, b: &RecordSet| {
                a.name == b.name && a.kind == b.kind && a.set_identifier == b.set_identifier
            };
            for change in changes {
                match change {
                    RecordChange::Create(record) => {
                        if zone.iter().any(|r| same(r, record)) {
                            return Err(refused(format!("{} already exists", record.name)));
                        }
                        zone.push(record.clone());
                    }
                    RecordChange::Delete(record) => {
                        let before = zone.len();
                        zone.retain(|r| r != record);
                        if zone.len() == before {
                            return Err(refused(format!("{} was not found", record.name)));
                        }
                    }
                }
            }
            c.site.zones.insert(zone_id.into(), zone);
            c.effects.push(format!(
                "ChangeResourceRecordSets {zone_id} {}",
                changes.len()
            ));
            Ok(())
        })
    }
}

#[async_trait]
impl StaticSite for FakeCluster {
    async fn put_page_if_absent(
        &self,
        bucket: &str,
        key: &str,
        html: &str,
        _cache_control: &str,
    ) -> Result<bool> {
        self.with(|c| {
            let found = c.site.buckets.get_mut(bucket).ok_or_else(|| Error::Aws {
                operation: "PutObject",
                code: Some("NoSuchBucket".into()),
                message: format!("The specified bucket does not exist: {bucket}"),
            })?;
            if found.objects.contains_key(key) {
                return Ok(false);
            }
            found.objects.insert(key.into(), html.into());
            c.effects.push(format!("PutObject {bucket}/{key}"));
            Ok(true)
        })
    }

    async fn find_bucket(&self, bucket: &str) -> Result<BucketFound> {
        self.with(|c| {
            Ok(match c.site.buckets.get(bucket) {
                None => BucketFound::Missing,
                Some(found) => BucketFound::Exists {
                    cluster_tag: found.cluster_tag.clone(),
                },
            })
        })
    }

    async fn create_bucket(&self, bucket: &str) -> Result<()> {
        self.with(|c| {
            c.site.buckets.entry(bucket.into()).or_default();
            c.effects.push(format!("CreateBucket {bucket}"));
        });
        Ok(())
    }

    async fn configure_bucket(
        &self,
        bucket: &str,
        cluster: &ClusterName,
        _website: bool,
        _page_key: &str,
    ) -> Result<()> {
        self.with(|c| {
            let found = c.site.buckets.entry(bucket.into()).or_default();
            found.cluster_tag = Some(cluster.to_string());
            c.effects.push(format!("ConfigureBucket {bucket}"));
        });
        Ok(())
    }
}

#[async_trait]
impl Web for FakeCluster {
    async fn get(&self, url: &str) -> Result<WebAnswer> {
        self.with(|c| {
            let page = c
                .site
                .static_url
                .as_ref()
                .filter(|(served, ..)| served == url)
                .and_then(|(_, bucket, key, status)| {
                    let body = c.site.buckets.get(bucket)?.objects.get(key)?;
                    Some((*status, body.clone()))
                });
            let (status, body) = page.unwrap_or((404, String::new()));
            Ok(WebAnswer {
                status,
                body,
                retry_after: None,
            })
        })
    }
}

#[async_trait]
impl CustomResourceReplies for FakeCluster {
    async fn reply(&self, url: &str, _body: &str) -> Result<()> {
        self.with(|c| c.effects.push(format!("Reply {url}")));
        Ok(())
    }
}
