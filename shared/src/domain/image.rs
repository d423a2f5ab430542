//! Gold images and launch templates, as the gold-image loop sees them.

use std::collections::BTreeMap;

use super::Millis;

/// The tag every image, snapshot and DB snapshot halfhour makes carries (value `true`).
pub const MANAGED_TAG: &str = "halfhour:managed";
pub const CLUSTER_TAG: &str = "halfhour:cluster";
pub const RELEASE_TAG: &str = "halfhour:release";
pub const SOURCE_INSTANCE_TAG: &str = "halfhour:source-instance";

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ImageState {
    Pending,
    Available,
    Failed,
    Other(String),
}

impl ImageState {
    pub fn parse(s: &str) -> Self {
        match s {
            "pending" => ImageState::Pending,
            "available" => ImageState::Available,
            "failed" | "error" | "invalid" => ImageState::Failed,
            other => ImageState::Other(other.to_owned()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    pub id: super::ImageId,
    pub name: String,
    pub state: ImageState,
    pub created: Millis,
    pub snapshot_ids: Vec<String>,
    pub tags: BTreeMap<String, String>,
}

/// A CreateImage request. There is deliberately no reboot switch: images are always made
/// with a reboot, so the file system is consistent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRequest {
    pub instance_id: super::InstanceId,
    pub name: String,
    pub description: String,
    /// Applied to the image and its snapshots at creation.
    pub tags: BTreeMap<String, String>,
}

/// One launch-template version, as described.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchTemplateVersion {
    pub number: i64,
    pub image_id: Option<super::ImageId>,
    pub description: Option<String>,
}

/// The version a group names. AWS resolves `$Default` and `$Latest` at each launch; a number
/// is fixed. Only a numbered version can be rolled back to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TemplateVersion {
    Default,
    Latest,
    Number(i64),
}

impl TemplateVersion {
    /// AWS's spelling (`$Default`, `$Latest`, `7`); anything else is not a version.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "$default" => Some(TemplateVersion::Default),
            "$latest" => Some(TemplateVersion::Latest),
            n => n
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .map(TemplateVersion::Number),
        }
    }

    /// The value a request names it by.
    pub fn as_request(&self) -> String {
        match self {
            TemplateVersion::Default => "$Default".into(),
            TemplateVersion::Latest => "$Latest".into(),
            TemplateVersion::Number(n) => n.to_string(),
        }
    }

    pub fn number(&self) -> Option<i64> {
        match self {
            TemplateVersion::Number(n) => Some(*n),
            _ => None,
        }
    }
}

/// A group's launch template and the version it launches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupTemplate {
    pub id: super::LaunchTemplateId,
    pub version: TemplateVersion,
}

/// The state-table document where the gold-image loop records its current (or last) bake.
pub const BAKE_DOC: &str = "bake";

/// The launch-template versions of the last roll-out: the fact two loops share. The gold-image
/// loop records it in its bake (in the [`BAKE_DOC`]); the lifecycle loop's circuit breaker
/// reverts to `previous_version` when `new_version` is broken.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Rollout {
    /// The numbered version the group launched before the roll-out: the rollback version.
    #[serde(default)]
    pub previous_version: Option<i64>,
    #[serde(default)]
    pub new_version: Option<i64>,
    /// The instance refresh rolling `new_version` out, if one was started.
    #[serde(default)]
    pub refresh_id: Option<String>,
}

/// An instance refresh onto a numbered launch-template version, with auto rollback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshRequest {
    pub launch_template_id: super::LaunchTemplateId,
    pub version: i64,
    pub min_healthy_percentage: i32,
    /// Above 100, AWS launches replacements before it terminates what they replace.
    pub max_healthy_percentage: i32,
    pub instance_warmup_seconds: i32,
    /// Replace a canary share first, then wait before the rest (None: one pass).
    pub canary: Option<Canary>,
    /// CloudWatch alarms AWS watches during the refresh: one in ALARM rolls it back.
    pub alarms: Vec<String>,
}

/// The refresh's first checkpoint: AWS replaces `percentage` of the group, waits `bake_seconds`
/// (CheckpointDelay), then replaces the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Canary {
    pub percentage: u32,
    pub bake_seconds: u32,
}

impl Canary {
    /// One instance's worth of a group of `desired`: a checkpoint one new instance reaches and no
    /// instance short of it does ("the minimum percentage of instances ... that must be new").
    pub fn one_instance(desired: u32, bake_seconds: u32) -> Canary {
        Canary {
            percentage: (100 / desired.max(1)).max(1),
            bake_seconds,
        }
    }
}

/// An instance refresh's status as DescribeInstanceRefreshes reports it (AWS's rollback and bake
/// states included; a status this code does not know yet is `Other`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RefreshStatus {
    Pending,
    InProgress,
    Successful,
    Failed,
    Cancelling,
    Cancelled,
    RollbackInProgress,
    RollbackFailed,
    RollbackSuccessful,
    /// Waiting its BakeTime after the last replacement.
    Baking,
    Other(String),
}

impl RefreshStatus {
    pub fn parse(raw: &str) -> RefreshStatus {
        match raw {
            "Pending" => RefreshStatus::Pending,
            "InProgress" => RefreshStatus::InProgress,
            "Successful" => RefreshStatus::Successful,
            "Failed" => RefreshStatus::Failed,
            "Cancelling" => RefreshStatus::Cancelling,
            "Cancelled" => RefreshStatus::Cancelled,
            "RollbackInProgress" => RefreshStatus::RollbackInProgress,
            "RollbackFailed" => RefreshStatus::RollbackFailed,
            "RollbackSuccessful" => RefreshStatus::RollbackSuccessful,
            "Baking" => RefreshStatus::Baking,
            other => RefreshStatus::Other(other.to_owned()),
        }
    }

    /// Still replacing (or undoing) instances: what it launches is not settled yet.
    pub fn is_running(&self) -> bool {
        matches!(
            self,
            RefreshStatus::Pending
                | RefreshStatus::InProgress
                | RefreshStatus::Cancelling
                | RefreshStatus::RollbackInProgress
                | RefreshStatus::Baking
        )
    }

    /// RollbackInstanceRefresh applies: "You can roll back an instance refresh that is still in
    /// progress" (instance-refresh-rollback.html).
    pub fn may_roll_back(&self) -> bool {
        matches!(self, RefreshStatus::Pending | RefreshStatus::InProgress)
    }
}

/// One instance refresh as DescribeInstanceRefreshes shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RefreshView {
    pub status: RefreshStatus,
    /// How much of the group is replaced (AWS updates it once new instances are warmed up).
    pub percentage_complete: u32,
    pub status_reason: Option<String>,
    /// Why AWS rolls (or rolled) it back: an alarm, a failure, a RollbackInstanceRefresh.
    pub rollback_reason: Option<String>,
}

/// RDS snapshot ids: letters, digits and single hyphens, starting with a letter.
fn rds_identifier(raw: &str) -> String {
    let mut id = String::with_capacity(raw.len());
    for c in raw.chars() {
        let c = if c.is_ascii_alphanumeric() {
            c.to_ascii_lowercase()
        } else {
            '-'
        };
        if !(c == '-' && id.ends_with('-')) {
            id.push(c);
        }
    }
    id.trim_end_matches('-').to_owned()
}

/// The DB snapshot a bake of `release` takes, paired with its image by the release.
pub fn db_snapshot_id(cluster: &str, release: &str) -> String {
    rds_identifier(&format!("halfhour-{cluster}-{release}"))
}

/// What every bake DB snapshot of `cluster` starts with.
pub fn db_snapshot_prefix(cluster: &str) -> String {
    format!("{}-", rds_identifier(&format!("halfhour-{cluster}")))
}

/// Of the DB snapshots found, those to delete: bakes' (`<prefix>r<digits>`: another cluster's
/// name may extend this one's prefix) whose release is not kept.
pub fn db_snapshots_to_delete(
    existing: &[String],
    cluster: &str,
    kept_releases: &std::collections::BTreeSet<String>,
) -> Vec<String> {
    let prefix = db_snapshot_prefix(cluster);
    let kept: std::collections::BTreeSet<String> = kept_releases
        .iter()
        .map(|r| db_snapshot_id(cluster, r))
        .collect();
    existing
        .iter()
        .filter(|id| {
            id.strip_prefix(&prefix)
                .and_then(|rest| rest.strip_prefix('r'))
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
        .filter(|id| !kept.contains(*id))
        .cloned()
        .collect()
}

/// Which managed images retention deletes: everything but the newest `keep` and every image
/// still referenced (by a launch-template version in use or by an instance). Pure.
pub fn images_to_delete<'a>(
    managed: &'a [ImageInfo],
    keep: usize,
    referenced: &std::collections::BTreeSet<super::ImageId>,
) -> Vec<&'a ImageInfo> {
    let mut newest_first: Vec<&ImageInfo> = managed
        .iter()
        .filter(|i| i.state == ImageState::Available || i.state == ImageState::Failed)
        .collect();
    newest_first.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| b.id.cmp(&a.id)));
    newest_first
        .into_iter()
        .skip(keep)
        .filter(|i| !referenced.contains(&i.id))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ImageId;
    use std::collections::BTreeSet;

    fn image(id: &str, created: i64) -> ImageInfo {
        ImageInfo {
            id: id.into(),
            name: id.into(),
            state: ImageState::Available,
            created: Millis(created),
            snapshot_ids: vec![],
            tags: BTreeMap::new(),
        }
    }

    #[test]
    fn retention_keeps_the_newest_and_every_referenced_image() {
        let images: Vec<_> = (1..=6).map(|n| image(&format!("ami-{n}"), n)).collect();
        let referenced: BTreeSet<ImageId> = ["ami-1".into(), "ami-2".into()].into();
        let deleted: Vec<&str> = images_to_delete(&images, 3, &referenced)
            .into_iter()
            .map(|i| i.id.as_str())
            .collect();
        assert_eq!(deleted, vec!["ami-3"]);
    }

    #[test]
    fn db_snapshot_ids_are_valid_rds_identifiers() {
        assert_eq!(
            db_snapshot_id("prod_web.eu", "r17"),
            "halfhour-prod-web-eu-r17"
        );
        assert_eq!(db_snapshot_id("a--b", "r1"), "halfhour-a-b-r1");
        assert_eq!(db_snapshot_prefix("prod_web.eu"), "halfhour-prod-web-eu-");
    }

    #[test]
    fn db_snapshots_go_with_their_images_and_never_another_clusters() {
        let existing: Vec<String> = [
            "halfhour-a-r1",
            "halfhour-a-r2",
            "halfhour-a-r3",
            "halfhour-a-b-r1",
            "halfhour-a-manual",
            "rds:a-2026-11-27",
        ]
        .map(String::from)
        .to_vec();
        let kept: BTreeSet<String> = ["r2".to_owned(), "r3".to_owned()].into();
        assert_eq!(
            db_snapshots_to_delete(&existing, "a", &kept),
            vec!["halfhour-a-r1".to_owned()]
        );
    }

    #[test]
    fn template_versions_parse_as_aws_spells_them() {
        assert_eq!(
            TemplateVersion::parse("$Default"),
            Some(TemplateVersion::Default)
        );
        assert_eq!(
            TemplateVersion::parse("$latest"),
            Some(TemplateVersion::Latest)
        );
        assert_eq!(
            TemplateVersion::parse("12"),
            Some(TemplateVersion::Number(12))
        );
        assert_eq!(TemplateVersion::parse("0"), None);
        assert_eq!(TemplateVersion::parse("v2"), None);
        assert_eq!(TemplateVersion::Number(3).as_request(), "3");
    }

    #[test]
    fn pending_images_are_never_deleted() {
        let mut images = vec![image("ami-1", 1), image("ami-2", 2)];
        images[0].state = ImageState::Pending;
        assert!(
            images_to_delete(&images, 0, &BTreeSet::new())
                .iter()
                .all(|i| i.id != "ami-1")
        );
    }
}
