//! Retention after a roll-out: what is still referenced (observed), what may go (the pure
//! rules `images_to_delete` and `db_snapshots_to_delete`), and deleting it.

use std::collections::BTreeSet;

use halfhour::Error;
use halfhour::domain::image::{
    RELEASE_TAG, db_snapshot_prefix, db_snapshots_to_delete, images_to_delete,
};
use halfhour::domain::{GroupSnapshot, ImageId, Loop};
use halfhour::telemetry::DecisionRecord;
use serde_json::json;

use crate::Deps;
use crate::apply::group_template;
use crate::plan::Bake;

/// Deregister (with snapshots) the managed images beyond the newest N that nothing uses:
/// not the group's, default, latest or rollback launch-template version, nor any instance;
/// then delete the bake DB snapshots whose image is gone.
pub async fn retain(bake: &Bake, group: &GroupSnapshot, deps: &Deps) -> Result<(), Error> {
    let cluster = &deps.config.common.cluster;
    let template = group_template(group, deps)?;
    let mut versions = vec![
        template.version.as_request(),
        "$Default".to_owned(),
        "$Latest".to_owned(),
    ];
    versions.extend(bake.rollout.previous_version.map(|v| v.to_string()));
    let template = &template.id;
    let mut referenced = BTreeSet::new();
    for version in &versions {
        referenced.extend(deps.templates.version(template, version).await?.image_id);
    }
    let managed = deps.images.managed_images(cluster).await?;
    let ids: Vec<ImageId> = managed.iter().map(|i| i.id.clone()).collect();
    referenced.extend(deps.images.images_in_use(&ids).await?);
    let doomed = images_to_delete(&managed, deps.config.keep_images, &referenced);
    DecisionRecord::new(Loop::GoldImage, cluster, "retain")
        .inputs(json!({"managed": ids, "referenced": referenced, "keep": deps.config.keep_images}))
        .reason(format!(
            "deregister {:?}",
            doomed.iter().map(|i| &i.id).collect::<Vec<_>>()
        ))
        .emit();
    for image in &doomed {
        deps.images.deregister_with_snapshots(image).await?;
    }
    let Some(db) = deps
        .config
        .db_instance
        .as_deref()
        .filter(|_| deps.config.db_snapshot)
    else {
        return Ok(());
    };
    let mut kept: BTreeSet<String> = managed
        .iter()
        .filter(|i| !doomed.iter().any(|d| d.id == i.id))
        .filter_map(|i| i.tags.get(RELEASE_TAG).cloned())
        .collect();
    kept.insert(bake.release.clone());
    let existing = deps
        .db
        .db_snapshots(db, &db_snapshot_prefix(cluster.as_str()))
        .await?;
    let retired = db_snapshots_to_delete(&existing, cluster.as_str(), &kept);
    DecisionRecord::new(Loop::GoldImage, cluster, "retain_db_snapshots")
        .inputs(json!({"db_snapshots": existing, "kept_releases": kept}))
        .reason(format!("delete {retired:?}"))
        .emit();
    for snapshot in retired {
        deps.db.delete_db_snapshot(&snapshot).await?;
    }
    Ok(())
}
