//! The gold-image loop's handler in process: the shipped bake command, AMI events and the
//! reconciler's tick against a fake cluster (the group, its launch template, images, the
//! instance refresh, DB snapshots) and the state table in memory, in milliseconds. The emulator
//! suites prove the same paths through the real SDK.

use std::sync::Arc;
use std::time::Duration;

use halfhour::domain::image::db_snapshot_id;
use halfhour::domain::{
    Bounds, Flag, ImageId, ImageState, LifecycleState, Millis, RefreshStatus, TemplateVersion,
};
use halfhour::testing::{
    CrashAfter, CrashPoint, FakeCluster, each_is_bad_input, event_fixture, lookup_over, loop_core,
};
use serde_json::{Value, json};

use crate::plan::{FailReason, RolloutOutcome, Step};
use crate::{BakeReport, Deps, GoldImageConfig, Invocation, handle};

const GROUP: &str = "prod-web";
const TEMPLATE: &str = "lt-0123456789abcdef0";
/// The image the group launches before the bake.
const BASE_IMAGE: &str = "ami-0aaaaaaaaaaaaaaa0";
const BASE: &[(&str, &str)] = &[
    ("HALFHOUR_TABLE", "state"),
    ("HALFHOUR_CLUSTER", "prod"),
    ("HALFHOUR_ASG_NAME", GROUP),
    ("HALFHOUR_DB_INSTANCE_ID", "prod-db"),
    // One pass, no canary: the canary's checkpoints are the plan's tests' and the emulator's.
    ("HALFHOUR_CANARY_BAKE_SECONDS", "0"),
];

fn deps(cluster: &Arc<FakeCluster>) -> Deps {
    Deps {
        core: loop_core(
            GoldImageConfig::from_lookup(lookup_over(BASE, &[])).unwrap(),
            cluster,
        ),
        group: cluster.clone(),
        instances: cluster.clone(),
        images: cluster.clone(),
        statuses: cluster.clone(),
        templates: cluster.clone(),
        db: cluster.clone(),
    }
}

/// Three instances in service (one more than must keep serving), launching the template's
/// `$Default`.
fn cluster() -> Arc<FakeCluster> {
    let fake = Arc::new(FakeCluster::with_group(
        GROUP,
        Bounds::new(2, 10).unwrap(),
        3,
    ));
    fake.with_template(TEMPLATE, BASE_IMAGE);
    fake
}

fn at(request_id: &str, minutes: u64) -> Invocation {
    let t0 = Millis(1_796_000_000_000);
    Invocation::new(
        request_id,
        t0.plus(Duration::from_secs(60 * minutes)),
        Duration::from_secs(60),
    )
}

fn event(path: &str) -> Value {
    event_fixture(env!("CARGO_MANIFEST_DIR"), path)
}

/// The shipped AMI event, about `image`.
fn image_available(image: &ImageId) -> Value {
    let mut event = event("gold-image/ami-available.json");
    event["detail"]["ImageId"] = json!(image);
    event["resources"] = json!([format!("arn:aws:ec2:us-east-1::image/{image}")]);
    event
}

/// Bake (the shipped command), the image made: up to the roll-out's refresh, started.
async fn bake_until_the_refresh(fake: &Arc<FakeCluster>, deps: &Deps) -> (BakeReport, ImageId) {
    let started = handle(&event("gold-image/bake.json"), &at("r1", 0), deps)
        .await
        .unwrap();
    assert_eq!(
        started.steps.last(),
        Some(&Step::WaitForImage),
        "{started:?}"
    );
    let image = started.bake.as_ref().unwrap().image_id.clone().unwrap();
    fake.set_image_state(&image, ImageState::Available);
    let rolled = handle(&image_available(&image), &at("r2", 6), deps)
        .await
        .unwrap();
    (rolled, image)
}

#[tokio::test]
async fn a_bake_images_the_reference_with_reboot_then_rolls_it_out_and_puts_everything_back() {
    let fake = cluster();
    let deps = deps(&fake);
    let (rolled, image) = bake_until_the_refresh(&fake, &deps).await;
    let reference = rolled.bake.as_ref().unwrap().reference.clone();
    fake.end_refresh(RefreshStatus::Successful, None);
    let done = handle(&event("gold-image/reconcile.json"), &at("r3", 20), &deps)
        .await
        .unwrap();

    let snapshot = db_snapshot_id("prod", "r1796000000000");
    assert_eq!(
        fake.effects(),
        [
            format!("SetInstanceProtection {reference} true"),
            format!("EnterStandby {reference}"),
            format!("CreateDBSnapshot prod-db {snapshot}"),
            format!("CreateImage {reference} with reboot"),
            format!("ExitStandby {reference}"),
            format!("SetInstanceProtection {reference} false"),
            // A group on $Default is pinned to the number it launches: AWS rolls back only to one.
            format!("UpdateAutoScalingGroup {GROUP} {TEMPLATE} 1"),
            format!("CreateLaunchTemplateVersion {TEMPLATE} 2 from 1 with {image}"),
            format!("ModifyLaunchTemplate {TEMPLATE} default 2"),
            format!("StartInstanceRefresh {GROUP} 2"),
            "Publish halfhour: prod gold image r1796000000000 rolled out".to_owned(),
        ]
    );
    let bake = done.bake.unwrap();
    assert_eq!(
        (bake.outcome, bake.finished, bake.retained),
        (Some(RolloutOutcome::Successful), true, true)
    );
    assert_eq!(
        fake.group().launch_template.unwrap().version,
        TemplateVersion::Number(2),
        "the refresh wrote the new version into the group"
    );
    assert_eq!(fake.template_versions(), (2, 2));
    let flags = deps
        .store
        .read_flags(&deps.config.common.cluster)
        .await
        .unwrap();
    assert!(
        [Flag::Baking, Flag::Refreshing]
            .iter()
            .all(|flag| !flags.is_raised(*flag, at("r4", 20).now)),
        "{flags:?}"
    );
}

#[tokio::test]
async fn a_rolled_back_refresh_puts_the_old_default_back_and_says_so() {
    let fake = cluster();
    let deps = deps(&fake);
    bake_until_the_refresh(&fake, &deps).await;
    let before = fake.effects().len();
    fake.end_refresh(
        RefreshStatus::RollbackSuccessful,
        Some("alarm prod-web-5xx went into ALARM"),
    );
    let done = handle(&event("gold-image/reconcile.json"), &at("r3", 20), &deps)
        .await
        .unwrap();

    assert_eq!(
        fake.effects()[before..],
        [
            format!("ModifyLaunchTemplate {TEMPLATE} default 1"),
            "Publish halfhour: prod gold image r1796000000000 rolled back".to_owned(),
        ]
    );
    let bake = done.bake.unwrap();
    assert!(
        matches!(bake.outcome, Some(RolloutOutcome::RolledBack { .. })),
        "{:?}",
        bake.outcome
    );
    assert_eq!(
        fake.template_versions(),
        (1, 2),
        "the default is the old one again"
    );
    assert_eq!(
        fake.group().launch_template.unwrap().version,
        TemplateVersion::Number(1),
        "the group still launches what it launched before the bake"
    );
}

#[tokio::test]
async fn a_failed_image_puts_the_reference_back_in_service_and_rolls_nothing_out() {
    let fake = cluster();
    let deps = deps(&fake);
    let started = handle(&event("gold-image/bake.json"), &at("r1", 0), &deps)
        .await
        .unwrap();
    let bake = started.bake.unwrap();
    let image = bake.image_id.unwrap();
    fake.set_image_state(&image, ImageState::Failed);
    let mut failed = event("gold-image/ami-failed.json");
    failed["detail"]["ImageId"] = json!(image);
    failed["resources"] = json!([format!("arn:aws:ec2:us-east-1::image/{image}")]);
    let done = handle(&failed, &at("r2", 6), &deps).await.unwrap();

    assert_eq!(
        done.bake.as_ref().unwrap().failure,
        Some(FailReason::ImageFailed)
    );
    assert_eq!(
        fake.state_of(&bake.reference),
        Some(LifecycleState::InService)
    );
    assert!(
        !fake
            .group()
            .instance(&bake.reference)
            .unwrap()
            .protected_from_scale_in,
        "the reference is unprotected again"
    );
    assert!(
        fake.effects().iter().all(|e| !e.contains("LaunchTemplate")
            && !e.starts_with("StartInstanceRefresh")
            && !e.starts_with("UpdateAutoScalingGroup")),
        "{:?}",
        fake.effects()
    );
    assert_eq!(fake.template_versions(), (1, 1));
}

#[tokio::test]
async fn bad_input_is_a_typed_error_with_zero_effects() {
    let fake = cluster();
    let deps = deps(&fake);
    let mut mangled = image_available(&ImageId::from("ami-0123456789abcdef0"));
    mangled["detail"]["ImageId"] = json!("ami-12");
    each_is_bad_input(
        [
            json!(null),
            json!("bake"),
            json!({"action": "explode", "cluster": "prod"}),
            json!({"action": "bake", "cluster": "another", "reason": "theirs"}),
            json!({"action": "bake", "cluster": "prod", "instance_id": "i-1234", "reason": "x"}),
            // In AWS's form, but not an instance of the cluster's group.
            json!({"action": "bake", "cluster": "prod", "instance_id": "i-0123456789abcdef0", "reason": "x"}),
            json!({"action": "cancel", "cluster": "prod"}),
            mangled,
        ],
        async |payload| handle(payload, &at("bad", 0), &deps).await,
    )
    .await;
    assert_eq!(fake.effects(), Vec::<String>::new());
}

/// A run that dies between making the template version and recording it: the redelivered AMI
/// event finds the version by its description and makes it the default; no second version.
#[tokio::test]
async fn a_bake_that_died_after_making_its_version_makes_no_second_one() {
    let fake = cluster();
    let mut deps = deps(&fake);
    let point = CrashPoint::dies_after(1);
    deps.templates = CrashAfter::new(fake.clone(), &point);
    let deps = Arc::new(deps);
    let started = handle(&event("gold-image/bake.json"), &at("r1", 0), &deps)
        .await
        .unwrap();
    let image = started.bake.unwrap().image_id.unwrap();
    fake.set_image_state(&image, ImageState::Available);
    let dying = Arc::clone(&deps);
    let delivery = image_available(&image);
    let died = tokio::spawn(async move { handle(&delivery, &at("r2", 6), &dying).await })
        .await
        .expect_err("the run dies after CreateLaunchTemplateVersion");
    assert!(died.is_panic() && point.crashed());

    // Lambda's retry of the same delivery (its request id) a minute later.
    let resumed = handle(&image_available(&image), &at("r2", 7), &deps)
        .await
        .unwrap();
    assert!(
        resumed
            .steps
            .contains(&Step::AdoptTemplateVersion { number: 2 }),
        "{:?}",
        resumed.steps
    );
    let made: Vec<String> = fake
        .effects()
        .into_iter()
        .filter(|e| e.starts_with("CreateLaunchTemplateVersion"))
        .collect();
    assert_eq!(made.len(), 1, "{made:?}");
    assert_eq!(fake.template_versions(), (2, 2));
    assert!(
        fake.effects()
            .contains(&format!("StartInstanceRefresh {GROUP} 2"))
    );
}
