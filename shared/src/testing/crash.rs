//! A crash between an AWS effect and its record, the hardest place to resume from: any cluster
//! port wrapped in [`CrashAfter`] does its mutating call, then fails on the Nth one counted
//! across every port sharing the [`CrashPoint`]. Reads pass through untouched.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;

use crate::domain::dns::{Gate, RecordChange, RecordSet};
use crate::domain::{
    BucketFound, ClusterName, GroupSnapshot, ImageId, ImageInfo, ImageRequest, InstanceId,
    LaunchTemplateId, LaunchTemplateVersion, LifecycleAction, LifecycleResult, LifecycleTransition,
    RefreshRequest, RefreshView,
};
use crate::error::{Error, Result};
use crate::ports::{
    DbSnapshots, Dns, GroupInstances, Images, LaunchTemplates, LifecycleActions, ScalingGroup,
    StaticSite, TargetGroups,
};

/// The Nth mutating call, counted across every port wrapped with this point.
pub struct CrashPoint {
    at: usize,
    calls: AtomicUsize,
    fate: Fate,
}

/// What happens at the crash point.
enum Fate {
    /// The call is made, then answers a retryable error: the handler's error paths run.
    Fails,
    /// The process dies (a panic) once the call is made: nothing after it runs, not even the
    /// clean-up an error would get (the lease given back, a failed attempt's record dropped).
    DiesAfter,
    /// The process dies as it is about to make the call: the call never reaches AWS.
    DiesBefore,
}

impl CrashPoint {
    /// Crash after the `n`th mutating call (1 is the first): the call fails as a retryable
    /// error, so the handler's error paths run.
    pub fn after(n: usize) -> Arc<Self> {
        Self::new(n, Fate::Fails)
    }

    /// The process dies after the `n`th mutating call, as when Lambda's timeout ends it: run
    /// the handler in a task and it ends in a panic there.
    pub fn dies_after(n: usize) -> Arc<Self> {
        Self::new(n, Fate::DiesAfter)
    }

    /// The process dies just before the `n`th mutating call, which never happens.
    pub fn dies_before(n: usize) -> Arc<Self> {
        Self::new(n, Fate::DiesBefore)
    }

    fn new(at: usize, fate: Fate) -> Arc<Self> {
        Arc::new(CrashPoint {
            at,
            calls: AtomicUsize::new(0),
            fate,
        })
    }

    /// Whether the crash has happened (the Nth call was made).
    pub fn crashed(&self) -> bool {
        self.calls.load(Ordering::SeqCst) >= self.at
    }

    fn before_effect(&self) {
        if matches!(self.fate, Fate::DiesBefore) && self.calls.load(Ordering::SeqCst) + 1 == self.at
        {
            // Counted as made, so the point is spent: a later run makes its calls.
            self.calls.fetch_add(1, Ordering::SeqCst);
            panic!("simulated process death before the call");
        }
    }

    fn after_effect<T>(&self, done: Result<T>) -> Result<T> {
        let value = done?;
        if self.calls.fetch_add(1, Ordering::SeqCst) + 1 == self.at {
            assert!(
                !matches!(self.fate, Fate::DiesAfter),
                "simulated process death after the call"
            );
            return Err(Error::Retryable {
                operation: "crash",
                message: "simulated crash after the call".into(),
            });
        }
        Ok(value)
    }
}

/// `inner` with its mutating calls counted by `point`.
pub struct CrashAfter<P: ?Sized> {
    inner: Arc<P>,
    point: Arc<CrashPoint>,
}

impl<P: ?Sized> CrashAfter<P> {
    pub fn new(inner: Arc<P>, point: &Arc<CrashPoint>) -> Arc<Self> {
        Arc::new(CrashAfter {
            inner,
            point: Arc::clone(point),
        })
    }

    /// Make the mutating `call` unless the process dies before it, then count it.
    async fn counted<T>(&self, call: impl std::future::Future<Output = Result<T>>) -> Result<T> {
        self.point.before_effect();
        self.point.after_effect(call.await)
    }
}

#[async_trait]
impl<P: ScalingGroup + ?Sized> ScalingGroup for CrashAfter<P> {
    async fn describe_group(&self, name: &str) -> Result<Option<GroupSnapshot>> {
        self.inner.describe_group(name).await
    }
    async fn set_desired_capacity(&self, name: &str, desired: u32) -> Result<()> {
        self.counted(self.inner.set_desired_capacity(name, desired))
            .await
    }
}

#[async_trait]
impl<P: GroupInstances + ?Sized> GroupInstances for CrashAfter<P> {
    async fn protect_from_scale_in(
        &self,
        group: &str,
        instance: &InstanceId,
        protect: bool,
    ) -> Result<()> {
        self.counted(self.inner.protect_from_scale_in(group, instance, protect))
            .await
    }
    async fn enter_standby(&self, group: &str, instance: &InstanceId) -> Result<()> {
        self.counted(self.inner.enter_standby(group, instance))
            .await
    }
    async fn exit_standby(&self, group: &str, instance: &InstanceId) -> Result<()> {
        self.counted(self.inner.exit_standby(group, instance)).await
    }
    async fn start_instance_refresh(
        &self,
        group: &str,
        refresh: &RefreshRequest,
    ) -> Result<String> {
        self.counted(self.inner.start_instance_refresh(group, refresh))
            .await
    }
    async fn refresh(&self, group: &str, refresh_id: &str) -> Result<Option<RefreshView>> {
        self.inner.refresh(group, refresh_id).await
    }
    async fn set_launch_template_version(
        &self,
        group: &str,
        template_id: &LaunchTemplateId,
        version: i64,
    ) -> Result<()> {
        let done = self
            .inner
            .set_launch_template_version(group, template_id, version);
        self.counted(done).await
    }
    async fn rollback_instance_refresh(&self, group: &str) -> Result<bool> {
        self.counted(self.inner.rollback_instance_refresh(group))
            .await
    }
}

#[async_trait]
impl<P: Images + ?Sized> Images for CrashAfter<P> {
    async fn create_image(&self, request: &ImageRequest) -> Result<ImageId> {
        self.counted(self.inner.create_image(request)).await
    }
    async fn find_image_by_name(&self, name: &str) -> Result<Option<ImageInfo>> {
        self.inner.find_image_by_name(name).await
    }
    async fn describe_image(&self, image_id: &ImageId) -> Result<Option<ImageInfo>> {
        self.inner.describe_image(image_id).await
    }
    async fn managed_images(&self, cluster: &ClusterName) -> Result<Vec<ImageInfo>> {
        self.inner.managed_images(cluster).await
    }
    async fn images_in_use(&self, image_ids: &[ImageId]) -> Result<BTreeSet<ImageId>> {
        self.inner.images_in_use(image_ids).await
    }
    async fn deregister_with_snapshots(&self, image: &ImageInfo) -> Result<()> {
        self.counted(self.inner.deregister_with_snapshots(image))
            .await
    }
}

#[async_trait]
impl<P: LaunchTemplates + ?Sized> LaunchTemplates for CrashAfter<P> {
    async fn version(
        &self,
        template_id: &LaunchTemplateId,
        version: &str,
    ) -> Result<LaunchTemplateVersion> {
        self.inner.version(template_id, version).await
    }
    async fn create_version(
        &self,
        template_id: &LaunchTemplateId,
        source: i64,
        image_id: &ImageId,
        description: &str,
    ) -> Result<i64> {
        let done = self
            .inner
            .create_version(template_id, source, image_id, description);
        self.counted(done).await
    }
    async fn set_default_version(
        &self,
        template_id: &LaunchTemplateId,
        version: i64,
    ) -> Result<()> {
        self.counted(self.inner.set_default_version(template_id, version))
            .await
    }
}

#[async_trait]
impl<P: DbSnapshots + ?Sized> DbSnapshots for CrashAfter<P> {
    async fn create_db_snapshot(
        &self,
        db_instance: &str,
        snapshot_id: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<()> {
        let done = self
            .inner
            .create_db_snapshot(db_instance, snapshot_id, tags);
        self.counted(done).await
    }
    async fn db_snapshots(&self, db_instance: &str, prefix: &str) -> Result<Vec<String>> {
        self.inner.db_snapshots(db_instance, prefix).await
    }
    async fn delete_db_snapshot(&self, snapshot_id: &str) -> Result<()> {
        self.counted(self.inner.delete_db_snapshot(snapshot_id))
            .await
    }
}

#[async_trait]
impl<P: LifecycleActions + ?Sized> LifecycleActions for CrashAfter<P> {
    async fn complete(&self, action: &LifecycleAction, result: LifecycleResult) -> Result<bool> {
        self.counted(self.inner.complete(action, result)).await
    }
    async fn heartbeat(&self, action: &LifecycleAction) -> Result<bool> {
        self.counted(self.inner.heartbeat(action)).await
    }
    async fn warm_pool_waiting(
        &self,
        group: &str,
    ) -> Result<Vec<(InstanceId, LifecycleTransition)>> {
        self.inner.warm_pool_waiting(group).await
    }
}

#[async_trait]
impl<P: TargetGroups + ?Sized> TargetGroups for CrashAfter<P> {
    async fn deregister(&self, target_group_arn: &str, instance_id: &InstanceId) -> Result<bool> {
        self.counted(self.inner.deregister(target_group_arn, instance_id))
            .await
    }
    async fn draining(&self, target_group_arn: &str, instance_id: &InstanceId) -> Result<bool> {
        self.inner.draining(target_group_arn, instance_id).await
    }
}

#[async_trait]
impl<P: Dns + ?Sized> Dns for CrashAfter<P> {
    async fn site_healthy(&self, health_check_id: &str) -> Result<bool> {
        self.inner.site_healthy(health_check_id).await
    }
    async fn gate_threshold(&self, gate_id: &str) -> Result<i32> {
        self.inner.gate_threshold(gate_id).await
    }
    async fn set_gate(&self, gate_id: &str, gate: Gate) -> Result<()> {
        self.counted(self.inner.set_gate(gate_id, gate)).await
    }
    async fn record_sets(&self, zone_id: &str, name: &str) -> Result<Vec<RecordSet>> {
        self.inner.record_sets(zone_id, name).await
    }
    async fn change_record_sets(
        &self,
        zone_id: &str,
        changes: &[RecordChange],
        comment: &str,
    ) -> Result<()> {
        let done = self.inner.change_record_sets(zone_id, changes, comment);
        self.counted(done).await
    }
}

#[async_trait]
impl<P: StaticSite + ?Sized> StaticSite for CrashAfter<P> {
    async fn put_page_if_absent(
        &self,
        bucket: &str,
        key: &str,
        html: &str,
        cache_control: &str,
    ) -> Result<bool> {
        let done = self
            .inner
            .put_page_if_absent(bucket, key, html, cache_control);
        self.counted(done).await
    }
    async fn find_bucket(&self, bucket: &str) -> Result<BucketFound> {
        self.inner.find_bucket(bucket).await
    }
    async fn create_bucket(&self, bucket: &str) -> Result<()> {
        self.counted(self.inner.create_bucket(bucket)).await
    }
    async fn configure_bucket(
        &self,
        bucket: &str,
        cluster: &ClusterName,
        website: bool,
        page_key: &str,
    ) -> Result<()> {
        let done = self
            .inner
            .configure_bucket(bucket, cluster, website, page_key);
        self.counted(done).await
    }
}
