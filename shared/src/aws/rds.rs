//! RDS adapter: the snapshot that pairs a gold image with its data state.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_rds::Client;
use aws_sdk_rds::operation::create_db_snapshot::CreateDBSnapshotError;
use aws_sdk_rds::types::Tag;

use super::classify;
use crate::domain::DbInfo;
use crate::error::Result;
use crate::ports::{Databases, DbSnapshots};

#[derive(Clone, Debug)]
pub struct Rds {
    client: super::LazyClient<Client>,
}

impl Rds {
    pub fn new(sdk: &super::SdkConfig) -> Self {
        Rds {
            client: super::LazyClient::new(sdk, Client::new),
        }
    }
}

#[async_trait]
impl DbSnapshots for Rds {
    async fn create_db_snapshot(
        &self,
        db_instance: &str,
        snapshot_id: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<()> {
        let created = self
            .client
            .create_db_snapshot()
            .db_instance_identifier(db_instance)
            .db_snapshot_identifier(snapshot_id)
            .set_tags(Some(
                tags.iter()
                    .map(|(k, v)| Tag::builder().key(k).value(v).build())
                    .collect(),
            ))
            .send()
            .await;
        match created {
            Ok(_) => Ok(()),
            Err(err) => match err.as_service_error() {
                Some(CreateDBSnapshotError::DbSnapshotAlreadyExistsFault(_)) => Ok(()),
                _ => Err(classify("CreateDBSnapshot", err)),
            },
        }
    }

    async fn db_snapshots(&self, db_instance: &str, prefix: &str) -> Result<Vec<String>> {
        let mut pages = self
            .client
            .describe_db_snapshots()
            .db_instance_identifier(db_instance)
            .snapshot_type("manual")
            .into_paginator()
            .send();
        let mut ids = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify("DescribeDBSnapshots", e))?;
            ids.extend(
                page.db_snapshots()
                    .iter()
                    .filter_map(|s| s.db_snapshot_identifier())
                    .filter(|id| id.starts_with(prefix))
                    .map(str::to_owned),
            );
        }
        Ok(ids)
    }

    async fn delete_db_snapshot(&self, snapshot_id: &str) -> Result<()> {
        use aws_sdk_rds::operation::delete_db_snapshot::DeleteDBSnapshotError;
        match self
            .client
            .delete_db_snapshot()
            .db_snapshot_identifier(snapshot_id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(err) => match err.as_service_error() {
                Some(DeleteDBSnapshotError::DbSnapshotNotFoundFault(_)) => Ok(()),
                _ => Err(classify("DeleteDBSnapshot", err)),
            },
        }
    }
}

#[async_trait]
impl Databases for Rds {
    async fn describe_db(&self, db_instance: &str) -> Result<Option<DbInfo>> {
        use aws_sdk_rds::operation::describe_db_instances::DescribeDBInstancesError;
        let out = match self
            .client
            .describe_db_instances()
            .db_instance_identifier(db_instance)
            .send()
            .await
        {
            Ok(out) => out,
            Err(err)
                if matches!(
                    err.as_service_error(),
                    Some(DescribeDBInstancesError::DbInstanceNotFoundFault(_))
                ) =>
            {
                return Ok(None);
            }
            Err(err) => return Err(classify("DescribeDBInstances", err)),
        };
        Ok(out.db_instances().first().map(|db| DbInfo {
            multi_az: db.multi_az().unwrap_or(false),
            backup_retention_days: db.backup_retention_period().unwrap_or(0),
            status: db.db_instance_status().unwrap_or_default().to_owned(),
        }))
    }
}
