//! Narrow capability traits: the seams between the handlers and AWS. A real adapter in
//! [`crate::aws`] and an in-memory fake in [`crate::testing`] implement each of them.

use std::time::Duration;

use async_trait::async_trait;

use crate::domain::{
    ClusterName, Flag, FlagHold, ImageId, InstanceId, LaunchTemplateId, Lease, Millis, ModeFlags,
    PriorAttempt,
};
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
/// loops' state, plus idempotency records. Every write is conditional. A caller that needs one
/// part names its port ([`Leases`], [`Flags`], [`Documents`], [`Attempts`]); `&dyn StateStore`
/// coerces to each.
pub trait StateStore: Leases + Flags + Documents + Attempts {}

impl<T: Leases + Flags + Documents + Attempts> StateStore for T {}

/// The cluster's lease: one writer mutates a cluster at a time.
#[async_trait]
pub trait Leases: Send + Sync {
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
}

/// The mode flags other loops respect (baking, refreshing, a DB failover window, paused).
#[async_trait]
pub trait Flags: Send + Sync {
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
}

/// Each loop's documents, written only over the version read.
#[async_trait]
pub trait Documents: Send + Sync {
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
}

/// Idempotency records: one attempt per event key and payload.
#[async_trait]
pub trait Attempts: Send + Sync {
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
/// The cluster's group, or an error naming the cluster and the group when none has that name.
pub async fn cluster_group(
    groups: &dyn ScalingGroup,
    cluster: &crate::domain::ClusterName,
    name: &str,
) -> Result<crate::domain::GroupSnapshot> {
    groups
        .describe_group(name)
        .await?
        .ok_or_else(|| crate::Error::not_found(format!("cluster {cluster}'s group {name}")))
}

#[async_trait]
pub trait ScalingGroup: Send + Sync {
    /// The group, or None when no group has that name.
    async fn describe_group(&self, name: &str) -> Result<Option<crate::domain::GroupSnapshot>>;

    /// Set the desired capacity (an absolute value, so re-applying it is harmless).
    async fn set_desired_capacity(&self, name: &str, desired: u32) -> Result<()>;
}

/// Who else writes a group's desired capacity.
#[async_trait]
pub trait CapacityWriters: Send + Sync {
    /// The group's scaling policies and scheduled actions (none of them halfhour's: it makes none).
    async fn capacity_writers(&self, group: &str) -> Result<Vec<crate::domain::CapacityWriter>>;
}

/// CloudWatch alarms, read by the reconciler side of a loop.
#[async_trait]
pub trait Alarms: Send + Sync {
    /// The current state of each named alarm that exists (unknown names are left out).
    async fn alarm_states(&self, names: &[String]) -> Result<Vec<crate::domain::AlarmStatus>>;
}

/// The group operations a bake needs, beyond capacity.
#[async_trait]
pub trait GroupInstances: Send + Sync {
    async fn protect_from_scale_in(
        &self,
        group: &str,
        instance: &InstanceId,
        protect: bool,
    ) -> Result<()>;

    /// EnterStandby with ShouldDecrementDesiredCapacity=true: no replacement is launched, so
    /// the caller must first make sure enough instances keep serving.
    async fn enter_standby(&self, group: &str, instance: &InstanceId) -> Result<()>;

    async fn exit_standby(&self, group: &str, instance: &InstanceId) -> Result<()>;

    /// Start an instance refresh onto a numbered launch-template version, with auto-rollback.
    async fn start_instance_refresh(
        &self,
        group: &str,
        refresh: &crate::domain::RefreshRequest,
    ) -> Result<String>;

    /// A refresh as AWS reports it (None: unknown, or older than the six weeks AWS keeps).
    async fn refresh(
        &self,
        group: &str,
        refresh_id: &str,
    ) -> Result<Option<crate::domain::RefreshView>>;

    /// UpdateAutoScalingGroup: launch this numbered version from now on (running instances stay).
    async fn set_launch_template_version(
        &self,
        group: &str,
        template_id: &LaunchTemplateId,
        version: i64,
    ) -> Result<()>;

    /// RollbackInstanceRefresh: AWS replaces what the running refresh launched with the group's
    /// own configuration. `Ok(false)` when no refresh is active.
    async fn rollback_instance_refresh(&self, group: &str) -> Result<bool>;
}

/// EC2 images: made with a reboot, found again by name, retired with their snapshots.
#[async_trait]
pub trait Images: Send + Sync {
    /// CreateImage with `NoReboot=false`; there is no way to ask otherwise.
    async fn create_image(&self, request: &crate::domain::ImageRequest) -> Result<ImageId>;

    async fn find_image_by_name(&self, name: &str) -> Result<Option<crate::domain::ImageInfo>>;

    async fn describe_image(&self, image_id: &ImageId) -> Result<Option<crate::domain::ImageInfo>>;

    /// Images tagged `halfhour:managed=true` for `cluster`.
    async fn managed_images(&self, cluster: &ClusterName) -> Result<Vec<crate::domain::ImageInfo>>;

    /// Of `image_ids`, those an instance (in any state but terminated) was launched from.
    async fn images_in_use(
        &self,
        image_ids: &[ImageId],
    ) -> Result<std::collections::BTreeSet<ImageId>>;

    /// Deregister the image and delete its snapshots in the same call.
    async fn deregister_with_snapshots(&self, image: &crate::domain::ImageInfo) -> Result<()>;
}

/// Whether instances send one-minute (detailed) or five-minute (basic) CloudWatch metrics.
#[async_trait]
pub trait InstanceMonitoring: Send + Sync {
    /// Of `instance_ids`, those on basic monitoring (Monitoring.State disabled or disabling).
    async fn basic_monitoring(&self, instance_ids: &[InstanceId]) -> Result<Vec<InstanceId>>;
}

/// EC2's view of an instance: running, and its status checks.
#[async_trait]
pub trait InstanceStatuses: Send + Sync {
    async fn instance_status(
        &self,
        instance_id: &InstanceId,
    ) -> Result<crate::domain::InstanceStatus>;
}

/// Launch templates: each version is what a launch gets; a group names one (a number, or
/// `$Default`/`$Latest`, resolved at each launch).
#[async_trait]
pub trait LaunchTemplates: Send + Sync {
    async fn version(
        &self,
        template_id: &LaunchTemplateId,
        version: &str,
    ) -> Result<crate::domain::LaunchTemplateVersion>;

    /// A new version copied from `source` with `image_id`; returns its number. `description`
    /// (unique per bake) is also the request's idempotency token: asking again answers the same
    /// version.
    async fn create_version(
        &self,
        template_id: &LaunchTemplateId,
        source: i64,
        image_id: &ImageId,
        description: &str,
    ) -> Result<i64>;

    async fn set_default_version(&self, template_id: &LaunchTemplateId, version: i64)
    -> Result<()>;
}

/// RDS snapshots that pair a gold image with its data state.
#[async_trait]
pub trait DbSnapshots: Send + Sync {
    /// Create the snapshot; an existing snapshot of that id counts as done.
    async fn create_db_snapshot(
        &self,
        db_instance: &str,
        snapshot_id: &str,
        tags: &std::collections::BTreeMap<String, String>,
    ) -> Result<()>;

    /// The ids of the database's manual snapshots that start with `prefix`.
    async fn db_snapshots(&self, db_instance: &str, prefix: &str) -> Result<Vec<String>>;

    /// Delete a manual snapshot; one already gone counts as done.
    async fn delete_db_snapshot(&self, snapshot_id: &str) -> Result<()>;
}

/// Operator-visible notifications (SNS).
#[async_trait]
pub trait Notifier: Send + Sync {
    async fn notify(&self, notice: &crate::domain::Notice) -> Result<()>;
}

/// Tell the operator of `notice` when the deployment has a topic, unless one of its kind went
/// out within the quiet period (then it is counted, and the next one or the reconciler's
/// summary says so). The decision is already taken and recorded, so a failed notification is
/// logged, never returned; a ledger that cannot be read or written never holds one back.
pub async fn notify_best_effort(
    notifier: Option<&std::sync::Arc<dyn Notifier>>,
    store: &dyn Documents,
    mut notice: crate::domain::Notice,
    now: crate::domain::Millis,
) {
    use crate::domain::{ClusterName, Delivery, NoticeLedger};
    use crate::state::{doc, read_json_or_default, write_json};
    let Some(notifier) = notifier else {
        tracing::info!(kind = notice.kind, subject = %notice.subject(), "no topic: notice only logged");
        return;
    };
    if let Ok(cluster) = ClusterName::new(&notice.cluster) {
        for _ in 0..3 {
            let Ok((mut ledger, version)) =
                read_json_or_default::<NoticeLedger>(store, &cluster, doc::NOTICES).await
            else {
                break;
            };
            let delivery = ledger.admit(&notice, now);
            match write_json(store, &cluster, doc::NOTICES, &ledger, version).await {
                Ok(false) => continue,
                Ok(true) if delivery == Delivery::Hold => {
                    tracing::info!(kind = notice.kind, subject = %notice.subject(), "notice held back: one of its kind went out within the quiet period");
                    return;
                }
                Ok(true) => {
                    if let Delivery::Send { summarises } = delivery {
                        notice.summarised = summarises;
                    }
                    break;
                }
                Err(_) => break,
            }
        }
    }
    if let Err(err) = notifier.notify(&notice).await {
        tracing::warn!(error = %err, subject = %notice.subject(), "notification not sent");
    }
}

/// Send the summaries of notices held back whose quiet period is over (the reconciler's tick).
pub async fn send_held_back_summaries(
    notifier: Option<&std::sync::Arc<dyn Notifier>>,
    store: &dyn Documents,
    cluster: &crate::domain::ClusterName,
    now: crate::domain::Millis,
) -> Result<usize> {
    use crate::domain::NoticeLedger;
    use crate::state::{doc, read_json_or_default, write_json};
    let Some(notifier) = notifier else {
        return Ok(0);
    };
    let (mut ledger, version) =
        read_json_or_default::<NoticeLedger>(store, cluster, doc::NOTICES).await?;
    let summaries = ledger.take_overdue(cluster, now);
    if summaries.is_empty() || !write_json(store, cluster, doc::NOTICES, &ledger, version).await? {
        return Ok(0); // nothing held back, or another tick is sending them
    }
    for summary in &summaries {
        if let Err(err) = notifier.notify(summary).await {
            tracing::warn!(error = %err, subject = %summary.subject(), "summary not sent");
        }
    }
    Ok(summaries.len())
}

/// Completing and extending lifecycle actions of an Auto Scaling group.
#[async_trait]
pub trait LifecycleActions: Send + Sync {
    /// CompleteLifecycleAction. `Ok(false)` when AWS answers that no lifecycle action is
    /// active for the instance (a duplicate, or the hook timed out): the caller confirms the
    /// instance left its wait state instead of retrying.
    async fn complete(
        &self,
        action: &crate::domain::LifecycleAction,
        result: crate::domain::LifecycleResult,
    ) -> Result<bool>;

    /// RecordLifecycleActionHeartbeat: restart the hook's timeout. `Ok(false)` when no action
    /// is active any more.
    async fn heartbeat(&self, action: &crate::domain::LifecycleAction) -> Result<bool>;

    /// The group's warm-pool instances waiting on a hook (DescribeWarmPool; the group's own
    /// description does not list them).
    async fn warm_pool_waiting(
        &self,
        group: &str,
    ) -> Result<Vec<(InstanceId, crate::domain::LifecycleTransition)>>;
}

/// The application's own health, asked on the instance itself (SSM Run Command).
#[async_trait]
pub trait HealthProbe: Send + Sync {
    /// Send the probe to the instance; its command id, or None when Systems Manager cannot
    /// reach the instance (not a managed node yet: no instance profile, agent not registered).
    async fn start_probe(&self, instance_id: &InstanceId, path: &str) -> Result<Option<String>>;

    /// The outcome of a probe sent earlier (Pending while it still runs).
    async fn probe_result(
        &self,
        command_id: &str,
        instance_id: &InstanceId,
    ) -> Result<crate::domain::ProbeOutcome>;
}

/// Load-balancer target groups.
#[async_trait]
pub trait TargetGroups: Send + Sync {
    /// Deregister the instance if it is registered; true when it was.
    async fn deregister(&self, target_group_arn: &str, instance_id: &InstanceId) -> Result<bool>;

    /// True while the load balancer still drains connections to the instance.
    async fn draining(&self, target_group_arn: &str, instance_id: &InstanceId) -> Result<bool>;
}

/// Route53: the site's own health check, and the gate that holds DNS on one side.
#[async_trait]
pub trait Dns: Send + Sync {
    /// Route53's verdict on an endpoint health check (healthy when more than 18% of its
    /// checkers say so, as Route53 decides).
    async fn site_healthy(&self, health_check_id: &str) -> Result<bool>;

    /// The gate's HealthThreshold: 1 follows the site, 2 holds static, 0 holds primary.
    async fn gate_threshold(&self, gate_id: &str) -> Result<i32>;

    /// Move the gate: its HealthThreshold says which side Route53 answers with.
    async fn set_gate(&self, gate_id: &str, gate: crate::domain::dns::Gate) -> Result<()>;

    /// Every record set of `name` in the zone (all types), as Route53 lists them.
    async fn record_sets(
        &self,
        zone_id: &str,
        name: &str,
    ) -> Result<Vec<crate::domain::dns::RecordSet>>;

    /// One ChangeResourceRecordSets batch: Route53 applies all of it or none.
    async fn change_record_sets(
        &self,
        zone_id: &str,
        changes: &[crate::domain::dns::RecordChange],
        comment: &str,
    ) -> Result<()>;
}

/// The static S3 website the record fails over to.
#[async_trait]
pub trait StaticSite: Send + Sync {
    /// Put the page at `key` unless an object is there already (the operator's page, or one
    /// published before): never overwrites. Whether it was written.
    async fn put_page_if_absent(
        &self,
        bucket: &str,
        key: &str,
        html: &str,
        cache_control: &str,
    ) -> Result<bool>;

    /// Whether the bucket exists, and whose it says it is (its `halfhour:cluster` tag).
    async fn find_bucket(&self, bucket: &str) -> Result<crate::domain::BucketFound>;

    /// CreateBucket in the caller's region.
    async fn create_bucket(&self, bucket: &str) -> Result<()>;

    /// Set the bucket up for how visitors reach it: encryption, versioning and the
    /// `halfhour:cluster` tag always; as an S3 website (`page_key` its index and error
    /// document, public read of its objects only) when `website`, else private behind
    /// CloudFront (every public access blocked; the stack's bucket policy lets the distribution
    /// read). Every call is a PUT of the whole setting, so configuring twice is harmless.
    async fn configure_bucket(
        &self,
        bucket: &str,
        cluster: &ClusterName,
        website: bool,
        page_key: &str,
    ) -> Result<()>;
}

/// RDS instances: what the database loop checks for drift.
#[async_trait]
pub trait Databases: Send + Sync {
    async fn describe_db(&self, db_instance: &str) -> Result<Option<crate::domain::DbInfo>>;
}

/// What a visitor's browser got: the status, the body, the `Retry-After` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebAnswer {
    pub status: u16,
    pub body: String,
    pub retry_after: Option<String>,
}

/// The web as visitors see it: the static site read through the path they take.
#[async_trait]
pub trait Web: Send + Sync {
    /// GET `url`; a redirect is an answer, not followed.
    async fn get(&self, url: &str) -> Result<WebAnswer>;
}

/// The answer to a CloudFormation custom resource request.
#[async_trait]
pub trait CustomResourceReplies: Send + Sync {
    /// PUT `body` to the request's pre-signed ResponseURL.
    async fn reply(&self, url: &str, body: &str) -> Result<()>;
}

/// Asynchronous Lambda invocations (the reconciler's fan-out).
#[async_trait]
pub trait Invoker: Send + Sync {
    /// Queue an invocation of `function` with `payload` (InvocationType=Event).
    async fn invoke_async(&self, function: &str, payload: &serde_json::Value) -> Result<()>;
}
