//! The gold-image loop against the emulator: a whole bake on a live cluster, duplicates,
//! crash-resume at every step, retention, dry run and bad input.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use gold_image::plan::Step;
use gold_image::{Deps, handle};
use halfhour::domain::image::{CLUSTER_TAG, MANAGED_TAG, RELEASE_TAG, db_snapshot_id};
use halfhour::domain::{ClusterName, Flag};
use halfhour::testing::{CrashAfter, CrashPoint};
use halfhour::{Error, ErrorKind, clock};
use halfhour_tests::fixture::LAUNCH_HOOK;
use halfhour_tests::loops::gold_image::{
    Setup, actions, ami_event, bake_request, bake_to_rollout, created_images, default_image,
    group_version, image_of, in_standby, invocation, serving, setup, setup_shaped,
    three_in_service, tick_until_finished, wire,
};
use halfhour_tests::{Cluster, Emulator, LoggedRequest, Shape};
use serde_json::{Value, json};

#[tokio::test]
async fn full_bake_reboots_the_reference_and_rolls_out_a_new_version() {
    let emulator = Emulator::shared();
    let s = setup("bake-full", true, &[]).await;
    let mut min_serving = serving(&s).await;
    assert_eq!(min_serving, 2);

    // Two serving instances and MinSize 2: the bake adds one first and waits for it.
    let started = handle(&bake_request(&s.cluster), &invocation("bake-1"), &s.deps)
        .await
        .unwrap();
    assert_eq!(
        wire(&started.steps),
        vec![json!({"ScaleUp": {"to": 3}}), json!("WaitForCapacity")]
    );
    let reference = started.bake.as_ref().unwrap().reference.clone();
    let newcomer = s
        .cluster
        .instances_in(&s.config, "Pending:Wait")
        .await
        .unwrap()
        .remove(0);
    // The lifecycle loop's job: the new instance is healthy, so it goes InService.
    aws_sdk_autoscaling::Client::new(&s.config)
        .complete_lifecycle_action()
        .auto_scaling_group_name(&s.cluster.asg_name)
        .lifecycle_hook_name(LAUNCH_HOOK)
        .instance_id(&newcomer)
        .lifecycle_action_result("CONTINUE")
        .send()
        .await
        .unwrap();

    let resumed = handle(
        &json!({"action": "reconcile"}),
        &invocation("tick-1"),
        &s.deps,
    )
    .await
    .unwrap();
    assert_eq!(
        wire(&resumed.steps),
        vec![
            json!("Protect"),
            json!("EnterStandby"),
            json!("SnapshotDb"),
            json!("CreateImage"),
            json!("WaitForImage")
        ]
    );
    assert!(
        s.cluster
            .instances_in(&s.config, "Standby")
            .await
            .unwrap()
            .contains(&reference.to_string())
    );
    min_serving = min_serving.min(serving(&s).await);
    let image = image_of(&resumed);

    emulator.set_image_state(&image, "available");
    let finished = handle(
        &ami_event(&image, "available"),
        &invocation("ami-1"),
        &s.deps,
    )
    .await
    .unwrap();
    assert_eq!(
        wire(&finished.steps),
        vec![
            json!("ExitStandby"),
            json!("Unprotect"),
            json!("PinGroup"),
            json!("NewTemplateVersion"),
            json!("StartRefresh"),
            json!({"EnterPhase": {"phase": "Rolling"}}),
            json!({"WatchRefresh": {"phase": "Rolling"}})
        ]
    );
    assert_eq!(
        group_version(&s).await,
        "1",
        "the group on $Default was pinned to the version it launched, so the new default launches nothing before the refresh"
    );
    assert!(
        actions(&s.app, "Publish").is_empty(),
        "the outcome is told once the refresh is over"
    );
    min_serving = min_serving.min(serving(&s).await);
    assert!(
        s.cluster
            .instances_in(&s.config, "InService")
            .await
            .unwrap()
            .contains(&reference.to_string()),
        "the reference serves again before the refresh replaces it"
    );
    let (steps, fewest) = tick_until_finished(&s, "rolling").await;
    assert_eq!(
        steps[steps.len() - 3..],
        [
            json!({"RecordOutcome": {"outcome": "Successful"}}),
            json!("Retain"),
            json!("Finish")
        ]
    );
    min_serving = min_serving.min(fewest);
    assert!(
        min_serving >= 2,
        "the group kept at least 2 InService instances"
    );

    let creates = actions(&s.app, "CreateImage");
    assert_eq!(creates.len(), 1);
    assert_eq!(
        creates[0].params["NoReboot"],
        json!("false"),
        "NoReboot=false is sent explicitly"
    );
    assert_eq!(creates[0].params["InstanceId"], json!(reference));
    assert_eq!(
        emulator.reboots(&reference),
        1,
        "the reference was rebooted"
    );
    let standby_moves: Vec<String> = Emulator::shared()
        .requests(&s.app)
        .into_iter()
        .filter(|r| r.action == "EnterStandby" || r.action == "ExitStandby")
        .map(|r| r.action)
        .collect();
    assert_eq!(standby_moves, vec!["EnterStandby", "ExitStandby"]);
    assert_eq!(default_image(&s).await.as_deref(), Some(image.as_str()));
    assert_eq!(actions(&s.app, "StartInstanceRefresh").len(), 1);
    let refresh = &actions(&s.app, "StartInstanceRefresh")[0].params;
    assert_eq!(refresh["Preferences.AutoRollback"], json!("true"));
    assert_ne!(
        refresh["DesiredConfiguration.LaunchTemplate.Version"],
        json!("$Default"),
        "a numbered version"
    );

    let snapshot = aws_sdk_rds::Client::new(&s.config)
        .describe_db_snapshots()
        .db_instance_identifier(&s.cluster.db_instance_id)
        .snapshot_type("manual")
        .send()
        .await
        .unwrap();
    assert_eq!(
        snapshot.db_snapshots().len(),
        1,
        "the image is paired with a DB snapshot"
    );
    let image_tags: HashMap<String, String> = aws_sdk_ec2::Client::new(&s.config)
        .describe_images()
        .image_ids(&image)
        .send()
        .await
        .unwrap()
        .images()[0]
        .tags()
        .iter()
        .map(|t| (t.key().unwrap().to_owned(), t.value().unwrap().to_owned()))
        .collect();
    assert_eq!(
        image_tags.get(MANAGED_TAG).map(String::as_str),
        Some("true")
    );
    assert_eq!(image_tags.get(CLUSTER_TAG), Some(&s.cluster.name));
    let published = halfhour_tests::notices::published(&s.app);
    assert_eq!(published.len(), 1, "one notification for the outcome");
    assert!(published[0].subject.contains("rolled out"));

    // The flag is down: a second bake may start later, and a duplicate of this one is a replay.
    let replay = handle(&bake_request(&s.cluster), &invocation("bake-1"), &s.deps)
        .await
        .unwrap();
    assert_eq!(replay, started);
    assert_eq!(created_images(&s.app), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn duplicate_and_concurrent_bakes_make_one_image() {
    let s = setup("bake-dup", false, &[]).await;
    three_in_service(&s).await;
    let request = bake_request(&s.cluster);
    let runs: Vec<_> = ["same", "same", "other-1", "other-2"]
        .into_iter()
        .map(|id| {
            let (deps, request) = (Arc::clone(&s.deps), request.clone());
            tokio::spawn(async move { handle(&request, &invocation(id), &deps).await })
        })
        .collect();
    let mut started = 0;
    for run in runs {
        match run.await.unwrap() {
            Ok(report) if report.steps.contains(&Step::CreateImage) => started += 1,
            Ok(_) => {}
            Err(err) => assert_eq!(err.kind(), ErrorKind::Conflict, "{err}"),
        }
    }
    assert!(started <= 1);
    assert_eq!(created_images(&s.app), 1, "exactly one CreateImage");
}

#[tokio::test]
async fn a_bake_interrupted_after_any_step_completes_on_re_drive() {
    let emulator = Emulator::shared();
    // Mutating calls of a bake without scale-up: protect, standby, image, exit, unprotect,
    // pin the group ($Default), version, default, refresh (the DB snapshot is off so each crash
    // point is an EC2/ASG call).
    for crash_at in 1..=9 {
        let app = format!("bake-crash{crash_at}");
        let s = setup(&app, false, &[("HALFHOUR_BAKE_DB_SNAPSHOT", "false")]).await;
        three_in_service(&s).await;
        // Each port does its mutating call, then fails on the crash_at-th one counted across all
        // four: a crash between an AWS effect and its record, the hardest place to resume from.
        let crash = CrashPoint::after(crash_at);
        let crashing = Deps {
            core: halfhour::core::Core {
                config: s.deps.config.clone(),
                store: Arc::clone(&s.deps.store),
                notifier: None,
            },
            group: CrashAfter::new(Arc::clone(&s.deps.group), &crash),
            instances: CrashAfter::new(Arc::clone(&s.deps.instances), &crash),
            images: CrashAfter::new(Arc::clone(&s.deps.images), &crash),
            statuses: Arc::clone(&s.deps.statuses),
            templates: CrashAfter::new(Arc::clone(&s.deps.templates), &crash),
            db: Arc::clone(&s.deps.db),
        };
        let mut outcome = handle(&bake_request(&s.cluster), &invocation("bake"), &crashing).await;
        // Drive on with the crashing deps until the crash happens, then re-drive with healthy ones.
        for tick in 0..4 {
            if outcome.is_err() || crash.crashed() {
                break;
            }
            if let Some(image) = outcome
                .as_ref()
                .ok()
                .and_then(|r| r.bake.as_ref()?.image_id.clone())
            {
                emulator.set_image_state(&image, "available");
            }
            outcome = handle(
                &json!({"action": "reconcile"}),
                &invocation(&format!("c{tick}")),
                &crashing,
            )
            .await;
        }
        assert!(crash.crashed(), "crash point {crash_at} was reached");
        // Re-drive: the reconciler's ticks (and the AMI becoming available) finish the bake.
        let mut done = false;
        for tick in 0..16 {
            let report = handle(
                &json!({"action": "reconcile"}),
                &invocation(&format!("r{tick}")),
                &s.deps,
            )
            .await;
            let report = report
                .unwrap_or_else(|err| panic!("crash point {crash_at}: re-drive failed: {err}"));
            if let Some(image) = report.bake.as_ref().and_then(|b| b.image_id.as_deref()) {
                emulator.set_image_state(image, "available");
            }
            if report.bake.as_ref().is_some_and(|b| b.finished) {
                done = true;
                break;
            }
        }
        assert!(
            done,
            "crash point {crash_at}: the bake finished on re-drive"
        );
        assert_eq!(
            created_images(&s.app),
            1,
            "crash point {crash_at}: one image"
        );
        assert!(
            in_standby(&s).await.is_empty(),
            "crash point {crash_at}: nothing left in Standby"
        );
        assert_eq!(
            actions(&s.app, "StartInstanceRefresh")
                .iter()
                .filter(|r| r.status == 200)
                .count(),
            1,
            "crash point {crash_at}: one refresh"
        );
    }
}

#[tokio::test]
async fn retention_keeps_the_newest_and_everything_in_use() {
    let emulator = Emulator::shared();
    let s = setup("bake-retain", false, &[("HALFHOUR_KEEP_IMAGES", "3")]).await;
    let ec2 = aws_sdk_ec2::Client::new(&s.config);
    let source = s
        .cluster
        .instances_in(&s.config, "InService")
        .await
        .unwrap()
        .remove(0);
    let mut images = Vec::new();
    for n in 0..6 {
        let tags = |kind| {
            aws_sdk_ec2::types::TagSpecification::builder()
                .resource_type(kind)
                .tags(
                    aws_sdk_ec2::types::Tag::builder()
                        .key(MANAGED_TAG)
                        .value("true")
                        .build(),
                )
                .tags(
                    aws_sdk_ec2::types::Tag::builder()
                        .key(CLUSTER_TAG)
                        .value(&s.cluster.name)
                        .build(),
                )
                .tags(
                    aws_sdk_ec2::types::Tag::builder()
                        .key(RELEASE_TAG)
                        .value(format!("r{n}"))
                        .build(),
                )
                .build()
        };
        let id = ec2
            .create_image()
            .instance_id(&source)
            .name(format!("{}-old-{n}", s.cluster.name))
            .no_reboot(false)
            .tag_specifications(tags(aws_sdk_ec2::types::ResourceType::Image))
            .tag_specifications(tags(aws_sdk_ec2::types::ResourceType::Snapshot))
            .send()
            .await
            .unwrap()
            .image_id
            .unwrap();
        emulator.set_image_state(&id, "available");
        emulator.advance_clock(2);
        images.push(id);
    }
    // images[0] is the default version's image; an instance runs from images[1].
    let version = ec2
        .create_launch_template_version()
        .launch_template_id(&s.cluster.launch_template_id)
        .source_version("1")
        .launch_template_data(
            aws_sdk_ec2::types::RequestLaunchTemplateData::builder()
                .image_id(&images[0])
                .build(),
        )
        .send()
        .await
        .unwrap()
        .launch_template_version
        .unwrap()
        .version_number
        .unwrap();
    ec2.modify_launch_template()
        .launch_template_id(&s.cluster.launch_template_id)
        .default_version(version.to_string())
        .send()
        .await
        .unwrap();
    ec2.run_instances()
        .image_id(&images[1])
        .min_count(1)
        .max_count(1)
        .send()
        .await
        .unwrap();
    let snapshots_of = |id: &str, all: &[aws_sdk_ec2::types::Image]| -> Vec<String> {
        all.iter()
            .filter(|i| i.image_id() == Some(id))
            .flat_map(|i| i.block_device_mappings())
            .filter_map(|m| m.ebs()?.snapshot_id().map(str::to_owned))
            .collect()
    };
    let before = ec2.describe_images().owners("self").send().await.unwrap();
    let doomed_snapshots = snapshots_of(&images[2], before.images());
    assert!(!doomed_snapshots.is_empty());
    // Each bake's DB snapshot, and one of a bake that failed before its image (r9).
    let rds = aws_sdk_rds::Client::new(&s.config);
    for release in ["r0", "r1", "r2", "r3", "r4", "r5", "r9"] {
        rds.create_db_snapshot()
            .db_instance_identifier(&s.cluster.db_instance_id)
            .db_snapshot_identifier(db_snapshot_id(&s.cluster.name, release))
            .send()
            .await
            .unwrap();
    }

    let group = s
        .deps
        .group
        .describe_group(&s.cluster.asg_name)
        .await
        .unwrap()
        .unwrap();
    let bake = gold_image::plan::Bake::new(
        "r0",
        "test",
        &source.as_str().into(),
        halfhour::domain::Millis(0),
        halfhour::domain::Millis(0),
    );
    // Retention under faults (throttling, 503s, answers lost after the effect) converges.
    emulator.inject_faults(
        &s.app,
        &halfhour_tests::emulator::FaultPlan {
            rate: 0.3,
            seed: 11,
            kinds: &["throttle", "503", "drop_after"],
        },
    );
    let mut attempts = 0;
    while let Err(err) = gold_image::retain(&bake, &group, &s.deps).await {
        attempts += 1;
        assert!(attempts < 10, "retention converges under faults: {err}");
    }
    emulator.clear_faults(&s.app);

    let left: Vec<String> = ec2
        .describe_images()
        .owners("self")
        .send()
        .await
        .unwrap()
        .images()
        .iter()
        .filter_map(|i| i.image_id().map(str::to_owned))
        .filter(|id| images.contains(id))
        .collect();
    let mut expected = vec![
        images[0].clone(),
        images[1].clone(),
        images[3].clone(),
        images[4].clone(),
        images[5].clone(),
    ];
    let mut left_sorted = left.clone();
    expected.sort();
    left_sorted.sort();
    assert_eq!(
        left_sorted, expected,
        "newest 3 + the default version's + the running instance's"
    );
    let gone = ec2
        .describe_snapshots()
        .set_snapshot_ids(Some(doomed_snapshots))
        .send()
        .await;
    assert!(
        gone.map(|out| out.snapshots().is_empty()).unwrap_or(true),
        "the deleted image's snapshots are gone"
    );
    let orphans: Vec<String> = ec2
        .describe_snapshots()
        .owner_ids("self")
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name(format!("tag:{CLUSTER_TAG}"))
                .values(&s.cluster.name)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .snapshots()
        .iter()
        .filter_map(|snap| snap.snapshot_id().map(str::to_owned))
        .filter(|id| !snapshots_of_all(id, &left, &before))
        .collect();
    assert!(
        orphans.is_empty(),
        "no snapshot outlives its image: {orphans:?}"
    );
    let mut db_left: Vec<String> = rds
        .describe_db_snapshots()
        .db_instance_identifier(&s.cluster.db_instance_id)
        .snapshot_type("manual")
        .send()
        .await
        .unwrap()
        .db_snapshots()
        .iter()
        .filter_map(|d| d.db_snapshot_identifier().map(str::to_owned))
        .collect();
    db_left.sort();
    let mut db_expected: Vec<String> = ["r0", "r1", "r3", "r4", "r5"]
        .iter()
        .map(|r| db_snapshot_id(&s.cluster.name, r))
        .collect();
    db_expected.sort();
    assert_eq!(
        db_left, db_expected,
        "a DB snapshot goes with its image; the failed bake's has no image to keep it"
    );
}

/// Whether `snapshot` belongs to one of the images `left`, as they were described `before`.
fn snapshots_of_all(
    snapshot: &str,
    left: &[String],
    before: &aws_sdk_ec2::operation::describe_images::DescribeImagesOutput,
) -> bool {
    before
        .images()
        .iter()
        .filter(|i| i.image_id().is_some_and(|id| left.iter().any(|l| l == id)))
        .flat_map(|i| i.block_device_mappings())
        .any(|m| m.ebs().and_then(|e| e.snapshot_id()) == Some(snapshot))
}

#[tokio::test]
async fn the_refreshing_flag_stays_up_until_the_refresh_is_over() {
    let s = setup("bake-refresh-flag", false, &[]).await;
    let (image, _) = bake_to_rollout(&s).await;
    let cluster = ClusterName::new(&s.cluster.name).unwrap();
    let refreshing = || async {
        s.deps
            .store
            .read_flags(&cluster)
            .await
            .unwrap()
            .is_raised(Flag::Refreshing, clock::now())
    };
    assert!(
        refreshing().await,
        "scale-in waits while instances are replaced"
    );

    // Each tick looks at the refresh (the emulator replaces one batch per look).
    let mut ticks = 0;
    let mut fewest_serving = serving(&s).await;
    while refreshing().await {
        ticks += 1;
        assert!(ticks <= 10, "the flag came down once the refresh was over");
        handle(
            &json!({"action": "reconcile"}),
            &invocation(&format!("tick-{ticks}")),
            &s.deps,
        )
        .await
        .unwrap();
        fewest_serving = fewest_serving.min(serving(&s).await);
    }
    assert_eq!(
        fewest_serving, 3,
        "replacements launch before what they replace terminates: the group never served fewer"
    );
    assert!(ticks > 1, "the flag stayed up while the refresh ran");
    let status = aws_sdk_autoscaling::Client::new(&s.config)
        .describe_instance_refreshes()
        .auto_scaling_group_name(&s.cluster.asg_name)
        .send()
        .await
        .unwrap();
    assert_eq!(
        status.instance_refreshes()[0].status().map(|s| s.as_str()),
        Some("Successful")
    );
    assert_eq!(
        actions(&s.app, "DescribeInstanceRefreshes").len(),
        ticks + 1,
        "one look per tick, and the roll-out's first"
    );
    let bake = s
        .deps
        .store
        .read_doc(&cluster, "bake")
        .await
        .unwrap()
        .unwrap();
    let new_version: Value = serde_json::from_str(&bake.body).unwrap();
    assert_eq!(
        group_version(&s).await,
        new_version["new_version"].to_string(),
        "the succeeded refresh wrote its version into the group"
    );

    // A stack update re-resolves the stock image into a new version and writes it into the group.
    let stock = s.cluster.image_id.clone();
    let drift = redeploy_with_image(&s, &stock, "drift").await;
    assert_eq!(drift.len(), 1, "the drift is reported once");
    assert!(drift[0].contains(&format!("GoldImageId={image}")));

    // The operator follows the advice: a redeploy with GoldImageId makes another version of the
    // gold image and writes it into the group. That is no drift.
    let reports = redeploy_with_image(&s, &image, "redeployed").await;
    assert_eq!(reports.len(), 1, "the cure is not reported as drift");
}

/// What a stack update does to the created cluster: a new launch-template version running
/// `image`, written into the group; then three reconcile ticks. Every drift notification so far.
async fn redeploy_with_image(s: &Setup, image: &str, ticks: &str) -> Vec<String> {
    let data = aws_sdk_ec2::types::RequestLaunchTemplateData::builder()
        .image_id(image)
        .build();
    let version = s
        .cluster
        .new_template_version(&s.config, data)
        .await
        .expect("a new version");
    s.cluster
        .set_group_version(&s.config, &version.to_string())
        .await
        .expect("written into the group");
    for tick in 0..3 {
        handle(
            &json!({"action": "reconcile"}),
            &invocation(&format!("{ticks}-{tick}")),
            &s.deps,
        )
        .await
        .expect("a reconcile tick");
    }
    actions(&s.app, "Publish")
        .into_iter()
        .filter(LoggedRequest::took_effect)
        .map(|p| p.params.to_string())
        .filter(|p| p.contains("drifted off its gold image"))
        .collect()
}

/// EnterStandby first drains the reference from the load balancer (EnteringStandby, as long as
/// the target group's deregistration delay): the rebooting CreateImage waits for Standby.
#[tokio::test]
async fn the_reference_reboots_only_after_the_load_balancer_drained_it() {
    let shape = Shape {
        deregistration_delay_seconds: 3,
        ..Shape::default()
    };
    let s = setup_shaped(
        "bake-drain",
        false,
        &[("HALFHOUR_BAKE_DB_SNAPSHOT", "false")],
        &shape,
    )
    .await;
    three_in_service(&s).await;
    let started = handle(&bake_request(&s.cluster), &invocation("bake"), &s.deps)
        .await
        .unwrap();
    assert_eq!(started.steps.last(), Some(&Step::WaitForStandby));
    let reference = started.bake.as_ref().unwrap().reference.clone();
    assert_eq!(created_images(&s.app), 0, "no reboot while draining");
    tokio::time::sleep(Duration::from_secs(4)).await;
    let resumed = handle(
        &json!({"action": "reconcile"}),
        &invocation("tick"),
        &s.deps,
    )
    .await
    .unwrap();
    assert!(
        resumed.steps.contains(&Step::CreateImage),
        "{:?}",
        resumed.steps
    );
    assert_eq!(
        Emulator::shared().reboot_states(&reference),
        vec!["Standby"],
        "rebooted once, out of the load balancer"
    );
}

/// The other shape: a group that names a numbered version (the created cluster, or any group
/// after its first refresh) is refreshed straight onto the new version, with auto rollback.
#[tokio::test]
async fn a_group_on_a_numbered_version_is_refreshed_onto_the_new_one() {
    let shape = Shape {
        group_version: "1",
        ..Shape::default()
    };
    let s = setup_shaped("bake-numbered", false, &[], &shape).await;
    let (_, finished) = bake_to_rollout(&s).await;
    assert!(!finished.steps.contains(&Step::PinGroup));
    assert!(finished.steps.contains(&Step::StartRefresh));
    let refresh = &actions(&s.app, "StartInstanceRefresh")[0];
    assert_eq!(
        refresh.status, 200,
        "AWS accepts auto rollback from a numbered version"
    );
    assert_eq!(refresh.params["Preferences.AutoRollback"], json!("true"));
    assert_eq!(group_version(&s).await, "1", "until the refresh succeeds");
}

/// A group pinned to a version that is not the template's default: the gold version is made
/// from the one the group launches (its instance type, user data, profile), never `$Default`.
#[tokio::test]
async fn the_gold_version_copies_what_the_group_launches_not_the_default() {
    let shape = Shape {
        group_version: "1",
        ..Shape::default()
    };
    let s = setup_shaped("bake-copies", false, &[], &shape).await;
    let bigger = s
        .cluster
        .new_template_version(
            &s.config,
            aws_sdk_ec2::types::RequestLaunchTemplateData::builder()
                .instance_type(aws_sdk_ec2::types::InstanceType::M5Large)
                .build(),
        )
        .await
        .unwrap();
    s.cluster
        .set_group_version(&s.config, &bigger.to_string())
        .await
        .unwrap();
    let (image, _) = bake_to_rollout(&s).await;
    let versions = aws_sdk_ec2::Client::new(&s.config)
        .describe_launch_template_versions()
        .launch_template_id(&s.cluster.launch_template_id)
        .versions("$Latest")
        .send()
        .await
        .unwrap();
    let gold = versions.launch_template_versions()[0]
        .launch_template_data()
        .unwrap();
    assert_eq!(gold.image_id(), Some(image.as_str()));
    assert_eq!(
        gold.instance_type(),
        Some(&aws_sdk_ec2::types::InstanceType::M5Large),
        "the settings of version {bigger}, which the group launched, not of $Default (1)"
    );
}

#[tokio::test]
async fn dry_run_decides_without_a_single_mutating_call() {
    let s = setup("bake-dry", true, &[("DRY_RUN", "true")]).await;
    let report = handle(&bake_request(&s.cluster), &invocation("dry"), &s.deps)
        .await
        .unwrap();
    assert!(report.dry_run);
    assert!(
        report
            .preview
            .expect("a dry-run bake's preview")
            .scale_up_first
    );
    let per_request = json!({"action": "bake", "dry_run": true});
    let live = setup("bake-dry-flag", true, &[]).await;
    handle(&per_request, &invocation("dry2"), &live.deps)
        .await
        .unwrap();
    assert!(Emulator::shared().mutating_requests(&s.app).is_empty());
    assert!(Emulator::shared().mutating_requests(&live.app).is_empty());
}

#[tokio::test]
async fn bad_payloads_are_typed_errors_with_zero_mutating_calls() {
    let s = setup("bake-bad", true, &[]).await;
    let other = Cluster::seed().await.unwrap();
    let foreign = other
        .instances_in(&s.config, "InService")
        .await
        .unwrap()
        .remove(0);
    let cases = [
        (
            json!({"action": "bake", "cluster": "someone-else"}),
            "WrongCluster",
        ),
        (
            json!({"action": "bake", "instance_id": foreign}),
            "BadEvent",
        ),
        (
            json!({"action": "bake", "instance_id": "not-an-instance"}),
            "BadEvent",
        ),
        (json!({"action": "bake", "reboot": false}), "BadEvent"),
        (json!({"action": "shrink"}), "BadEvent"),
        (
            json!({"detail-type": "EC2 AMI State Change", "detail": {"State": 3}}),
            "BadEvent",
        ),
        (json!("garbage"), "BadEvent"),
    ];
    for (i, (payload, expected)) in cases.iter().enumerate() {
        let err = handle(payload, &invocation(&format!("bad{i}")), &s.deps)
            .await
            .unwrap_err();
        let kind = match err {
            Error::WrongCluster { .. } => "WrongCluster",
            ref e if e.kind() == ErrorKind::BadEvent => "BadEvent",
            ref e => panic!("case {i}: unexpected {e}"),
        };
        assert_eq!(kind, *expected, "case {i}: {err}");
    }
    let mutations = Emulator::shared().mutating_requests(&s.app);
    assert!(mutations.is_empty(), "zero mutating calls: {mutations:?}");
}
