//! Garbage in: every handler's event parser answers arbitrary JSON, and mangled versions of the
//! real event fixtures, with a value or a typed error — never a panic.

use halfhour::ErrorKind;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "[ -~]{0,12}".prop_map(Value::String),
        prop_oneof![
            Just("action"),
            Just("cluster"),
            Just("reconcile"),
            Just("bake"),
            Just("detail-type"),
            Just("detail"),
            Just("Records"),
            Just("alarmData"),
            Just("CloudWatch Alarm State Change"),
            Just("ALARM"),
            Just("prod"),
        ]
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    "[a-zA-Z-]{1,12}",
                    Just("action".to_owned()),
                    Just("detail".to_owned()),
                    Just("Records".to_owned())
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

const COMMON: [(&str, &str); 13] = [
    ("HALFHOUR_TABLE", "t"),
    ("HALFHOUR_CLUSTER", "prod"),
    ("HALFHOUR_ASG_NAME", "prod-web"),
    (
        "HALFHOUR_SCALING_ALARMS",
        "prod-cpu-high=+2,prod-cpu-low=-1",
    ),
    ("HALFHOUR_HOSTED_ZONE_ID", "Z1"),
    ("HALFHOUR_RECORD_NAME", "www.example.com"),
    ("HALFHOUR_SITE_HEALTH_CHECK_ID", "site"),
    ("HALFHOUR_GATE_HEALTH_CHECK_ID", "gate"),
    (
        "HALFHOUR_STATIC_SITE_URL",
        "http://www.example.com.s3-website-us-east-1.amazonaws.com/",
    ),
    ("HALFHOUR_DB_INSTANCE_ID", "prod-db"),
    ("HALFHOUR_RECONCILE_FUNCTIONS", "a,b"),
    ("HALFHOUR_LAUNCH_HOOK", "halfhour-launch"),
    ("HALFHOUR_TERMINATE_HOOK", "halfhour-terminate"),
];

/// Every parser on one payload; a failure must be a bad event (or a wrong cluster), typed.
fn parse_everywhere(payload: &Value) {
    let vars = halfhour::testing::lookup(&COMMON);
    let typed = |result: Result<(), halfhour::Error>| {
        if let Err(err) = result {
            assert_eq!(err.kind(), ErrorKind::BadEvent, "{err} for {payload}");
        }
    };
    typed(
        halfhour::envelope::Envelope::recognise(
            payload,
            &halfhour::domain::ClusterName::new("prod").expect("a cluster name"),
        )
        .map(|_| ()),
    );
    typed(
        scaler::Input::parse(
            payload,
            &scaler::ScalerConfig::from_lookup(vars).expect("valid config"),
        )
        .map(|_| ()),
    );
    typed(
        gold_image::Input::parse(
            payload,
            &gold_image::GoldImageConfig::from_lookup(vars).expect("valid config"),
        )
        .map(|_| ()),
    );
    typed(
        lifecycle::Input::parse(
            payload,
            &lifecycle::LifecycleConfig::from_lookup(vars).expect("valid config"),
        )
        .map(|_| ()),
    );
    typed(
        failover::Input::parse(
            payload,
            &failover::FailoverConfig::from_lookup(vars).expect("valid config"),
        )
        .map(|_| ()),
    );
    typed(
        db_events::Input::parse(
            payload,
            &db_events::DbEventsConfig::from_lookup(vars).expect("valid config"),
        )
        .map(|_| ()),
    );
    typed(
        reconciler::parse(
            payload,
            &reconciler::ReconcilerConfig::from_lookup(vars).expect("valid config"),
        )
        .map(|_| ()),
    );
}

/// Every JSON value inside `value`, replaced in turn by `with` (one mangled copy per place).
fn mangled(value: &Value, with: &Value) -> Vec<Value> {
    let mut out = vec![with.clone()];
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                let mut removed = map.clone();
                removed.remove(key);
                out.push(Value::Object(removed));
                for variant in mangled(inner, with) {
                    let mut changed = map.clone();
                    changed.insert(key.clone(), variant);
                    out.push(Value::Object(changed));
                }
            }
        }
        Value::Array(items) => {
            for (i, inner) in items.iter().enumerate() {
                for variant in mangled(inner, with) {
                    let mut changed = items.clone();
                    changed[i] = variant;
                    out.push(Value::Array(changed));
                }
            }
        }
        _ => {}
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_json_never_panics_a_parser(payload in any_json()) {
        parse_everywhere(&payload);
    }
}

#[test]
fn every_fixture_mangled_everywhere_never_panics_a_parser() {
    let fixtures = [
        "scaler/alarm-action.json",
        "scaler/eventbridge-alarm.json",
        "scaler/sns-alarm.json",
        "gold-image/bake.json",
        "gold-image/ami-available.json",
        "lifecycle/launch.json",
        "lifecycle/sns-launch.json",
        "lifecycle/test-notification.json",
        "failover/site-health-alarm.json",
        "db-events/failover-started.json",
        "reconciler/scheduled.json",
    ];
    let replacements = [
        Value::Null,
        json!(0),
        json!(""),
        json!([]),
        json!({}),
        json!("i-../../x"),
        json!(-1e308),
    ];
    let mut payloads = 0;
    for fixture in fixtures {
        let event = halfhour_tests::emulator::event(fixture);
        for with in &replacements {
            for payload in mangled(&event, with) {
                parse_everywhere(&payload);
                payloads += 1;
            }
        }
    }
    assert!(payloads > 1000, "{payloads} mangled payloads");
}
