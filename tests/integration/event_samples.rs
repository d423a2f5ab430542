//! Every event fixture we ship, and every sample event AWS publishes for a shape halfhour
//! handles (`events/aws-samples/`, each with the page it comes from), parses through the typed
//! path (`halfhour::envelope`) to the event it stands for, and reaches the loop that handles it.

use std::path::{Path, PathBuf};

use halfhour::domain::ClusterName;
use halfhour::envelope::{Envelope, Event};
use serde_json::Value;

fn events_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../events")
}

fn read(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

/// AWS's samples, by file name. Where AWS prints the placeholder `yyyy-mm-ddThh:mm:ssZ` for the
/// event's time, a real event has a timestamp: the test puts one there and changes nothing else.
fn aws_samples() -> Vec<(String, Value)> {
    let mut samples: Vec<(String, Value)> = std::fs::read_dir(events_dir().join("aws-samples"))
        .expect("events/aws-samples")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .map(|path| {
            let mut sample = read(&path);
            if sample["time"] == "yyyy-mm-ddThh:mm:ssZ" {
                sample["time"] = "2026-11-27T14:00:00Z".into();
            }
            let name = path.file_stem().expect("a name").to_string_lossy().into();
            (name, sample)
        })
        .collect();
    samples.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(samples.len() >= 20, "{} samples", samples.len());
    samples
}

/// What a sample of this name must be recognised as.
fn expected_kind(name: &str) -> &'static str {
    match name.split('-').next() {
        Some("alarm") => "alarm",
        Some("ami") => "image",
        Some("cfn") => "custom-resource",
        Some("lifecycle") if name.starts_with("lifecycle-test") => "lifecycle-test",
        Some("lifecycle") => "lifecycle",
        Some("rds") => "db",
        Some("schedule") => "schedule",
        _ => panic!("no expectation for sample {name}"),
    }
}

fn kind_of(envelope: &Envelope) -> &'static str {
    match envelope {
        Envelope::Command(_) => "command",
        Envelope::CustomResource(_) => "custom-resource",
        Envelope::Event(Event::Alarm(_)) => "alarm",
        Envelope::Event(Event::ImageState(_)) => "image",
        Envelope::Event(Event::LifecycleAction(_)) => "lifecycle",
        Envelope::Event(Event::LifecycleTest) => "lifecycle-test",
        Envelope::Event(Event::DbInstance(_)) => "db",
        Envelope::Event(Event::Schedule) => "schedule",
    }
}

fn cluster() -> ClusterName {
    ClusterName::new("prod").expect("a cluster name")
}

#[test]
fn every_aws_sample_event_is_recognised_as_what_it_is() {
    for (name, sample) in aws_samples() {
        let envelope = Envelope::recognise(&sample, &cluster())
            .unwrap_or_else(|e| panic!("AWS's sample {name} is refused: {e}"));
        assert_eq!(kind_of(&envelope), expected_kind(&name), "{name}");
    }
}

/// The samples name their own group, hook, DB and alarms: each reaches its loop when the loop
/// is configured with those names (and is refused, typed, when it is not).
#[test]
fn every_aws_sample_reaches_the_loop_that_handles_it() {
    for (name, sample) in aws_samples() {
        let envelope = Envelope::recognise(&sample, &cluster()).expect("recognised");
        let accepted = match &envelope {
            Envelope::Event(Event::LifecycleAction(action)) => {
                let (launch, terminate) = match action.lifecycle_transition.as_str() {
                    "autoscaling:EC2_INSTANCE_LAUNCHING" => (&action.lifecycle_hook_name, "t"),
                    _ => (&"l".to_owned(), action.lifecycle_hook_name.as_str()),
                };
                let vars = [
                    ("HALFHOUR_TABLE", "t"),
                    ("HALFHOUR_CLUSTER", "prod"),
                    ("HALFHOUR_ASG_NAME", action.auto_scaling_group_name.as_str()),
                    ("HALFHOUR_LAUNCH_HOOK", launch.as_str()),
                    ("HALFHOUR_TERMINATE_HOOK", terminate),
                ];
                let config =
                    lifecycle::LifecycleConfig::from_lookup(halfhour::testing::lookup(&vars))
                        .expect("valid config");
                lifecycle::Input::parse(&sample, &config).map(|_| ())
            }
            Envelope::Event(Event::LifecycleTest) => {
                let vars = [
                    ("HALFHOUR_TABLE", "t"),
                    ("HALFHOUR_CLUSTER", "prod"),
                    ("HALFHOUR_ASG_NAME", "g"),
                ];
                let config =
                    lifecycle::LifecycleConfig::from_lookup(halfhour::testing::lookup(&vars))
                        .expect("valid config");
                lifecycle::Input::parse(&sample, &config).map(|_| ())
            }
            Envelope::Event(Event::DbInstance(event)) => {
                // RDS writes the identifier bare or `rds:`-prefixed; the DB's id is the bare one.
                let named = event
                    .detail
                    .source_identifier
                    .as_deref()
                    .expect("the sample names its DB");
                let db = named.trim_start_matches("rds:");
                let vars = [
                    ("HALFHOUR_TABLE", "t"),
                    ("HALFHOUR_CLUSTER", "prod"),
                    ("HALFHOUR_DB_INSTANCE_ID", db),
                ];
                let config =
                    db_events::DbEventsConfig::from_lookup(halfhour::testing::lookup(&vars))
                        .expect("valid config");
                db_events::Input::parse(&sample, &config).map(|_| ())
            }
            Envelope::Event(Event::Alarm(alarm)) => {
                let steps = format!("{}=+1", alarm.alarm_name);
                let vars = [
                    ("HALFHOUR_TABLE", "t"),
                    ("HALFHOUR_CLUSTER", "prod"),
                    ("HALFHOUR_ASG_NAME", "g"),
                    ("HALFHOUR_SCALING_ALARMS", steps.as_str()),
                ];
                let config = scaler::ScalerConfig::from_lookup(halfhour::testing::lookup(&vars))
                    .expect("valid config");
                scaler::Input::parse(&sample, &config).map(|_| ())
            }
            Envelope::Event(Event::ImageState(_)) => {
                let vars = [
                    ("HALFHOUR_TABLE", "t"),
                    ("HALFHOUR_CLUSTER", "prod"),
                    ("HALFHOUR_ASG_NAME", "g"),
                ];
                let config =
                    gold_image::GoldImageConfig::from_lookup(halfhour::testing::lookup(&vars))
                        .expect("valid config");
                gold_image::Input::parse(&sample, &config).map(|_| ())
            }
            Envelope::Event(Event::Schedule) => {
                let vars = [
                    ("HALFHOUR_TABLE", "t"),
                    ("HALFHOUR_CLUSTER", "prod"),
                    ("HALFHOUR_RECONCILE_FUNCTIONS", "a"),
                ];
                let config =
                    reconciler::ReconcilerConfig::from_lookup(halfhour::testing::lookup(&vars))
                        .expect("valid config");
                reconciler::parse(&sample, &config).map(|_| ())
            }
            // The failover function answers the stack's custom resources before any input.
            Envelope::CustomResource(_) => Ok(()),
            Envelope::Command(_) => panic!("{name} is no command"),
        };
        accepted.unwrap_or_else(|e| panic!("AWS's sample {name} is refused by its loop: {e}"));
    }
}

/// Every fixture of `events/<loop>/` is an AWS shape or a command the typed path recognises.
#[test]
fn every_shipped_fixture_is_recognised() {
    let mut seen = 0;
    for dir in std::fs::read_dir(events_dir()).expect("events/") {
        let dir = dir.expect("an entry").path();
        if !dir.is_dir() || dir.ends_with("aws-samples") {
            continue;
        }
        for file in std::fs::read_dir(&dir).expect("a loop's fixtures") {
            let path = file.expect("an entry").path();
            Envelope::recognise(&read(&path), &cluster())
                .unwrap_or_else(|e| panic!("{path:?} is refused: {e}"));
            seen += 1;
        }
    }
    assert!(seen >= 30, "{seen} fixtures");
}
