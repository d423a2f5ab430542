//! template.yaml and the function crates stay one-to-one: every `functions/<name>` crate is
//! built by exactly one `AWS::Serverless::Function`, and every function builds a crate.

use std::collections::BTreeMap;
use std::path::Path;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repository root")
}

/// `Binary: <name>` under each function's `BuildProperties`, with the resource it belongs to.
fn template_binaries() -> BTreeMap<String, Vec<String>> {
    let template = std::fs::read_to_string(repo().join("template.yaml")).expect("template.yaml");
    let mut binaries: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut resource = String::new();
    let mut serverless = false;
    for line in template.lines() {
        if let Some(name) = line
            .strip_prefix("  ")
            .and_then(|l| l.strip_suffix(':'))
            .filter(|n| !n.starts_with(' '))
        {
            resource = name.to_owned();
            serverless = false;
        }
        if line.trim() == "Type: AWS::Serverless::Function" {
            serverless = true;
        }
        if let Some(binary) = line.trim().strip_prefix("Binary: ") {
            assert!(
                serverless,
                "{resource} names a Binary but is not a function (Type must come first)"
            );
            binaries
                .entry(binary.to_owned())
                .or_default()
                .push(resource.clone());
        }
    }
    binaries
}

fn function_crates() -> Vec<String> {
    let mut crates: Vec<String> = std::fs::read_dir(repo().join("functions"))
        .expect("functions/")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.join("Cargo.toml").exists())
        .map(|path| {
            let manifest = std::fs::read_to_string(path.join("Cargo.toml")).expect("Cargo.toml");
            manifest
                .lines()
                .find_map(|l| {
                    l.strip_prefix("name = \"")
                        .and_then(|n| n.strip_suffix('"'))
                })
                .expect("a package name")
                .to_owned()
        })
        .collect();
    crates.sort();
    crates
}

#[test]
fn every_function_crate_has_exactly_one_function_resource_and_back() {
    let binaries = template_binaries();
    let crates = function_crates();
    for (binary, resources) in &binaries {
        assert_eq!(resources.len(), 1, "{binary} is built by {resources:?}");
        assert!(
            crates.contains(binary),
            "{resources:?} builds {binary}, which is no functions/* crate"
        );
    }
    for name in &crates {
        assert!(
            binaries.contains_key(name),
            "functions/{name} has no function resource in template.yaml"
        );
    }
    assert_eq!(crates.len(), 6, "{crates:?}");
}

/// The `HALFHOUR_*` / `POWERTOOLS_*` names quoted in `text`.
fn variables_in(text: &str) -> std::collections::BTreeSet<String> {
    let mut found = std::collections::BTreeSet::new();
    for prefix in ["\"HALFHOUR_", "\"POWERTOOLS_", "`HALFHOUR_", "`POWERTOOLS_"] {
        let mut rest = text;
        while let Some(at) = rest.find(prefix) {
            let name: String = rest[at + 1..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            if !name.ends_with('_') {
                found.insert(name); // not a bare prefix the code matches on
            }
            rest = &rest[at + 1..];
        }
    }
    found
}

/// The Rust sources under `dir`, each cut at its test module (test settings are not read by a
/// deployed function).
fn sources(dir: &Path) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(dir).expect("source dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            text.push_str(&sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            let code = std::fs::read_to_string(&path).expect("source");
            text.push_str(code.split("#[cfg(test)]").next().unwrap_or_default());
        }
    }
    text
}

/// Configuration has one list: every variable a function reads is set by template.yaml or is
/// a row of one of docs/configuration.md's tables (with its default), every variable the
/// template sets is read, and every documented one exists.
#[test]
fn every_variable_the_code_reads_is_set_by_the_template_or_documented() {
    let mut code = variables_in(&sources(&repo().join("shared/src")));
    for crate_dir in std::fs::read_dir(repo().join("functions")).expect("functions/") {
        code.extend(variables_in(&sources(
            &crate_dir.expect("entry").path().join("src"),
        )));
    }
    let template = std::fs::read_to_string(repo().join("template.yaml")).expect("template.yaml");
    let set: std::collections::BTreeSet<String> = template
        .lines()
        .filter_map(|line| line.trim().split_once(':').map(|(key, _)| key))
        .filter(|key| key.starts_with("HALFHOUR_") || key.starts_with("POWERTOOLS_"))
        .map(str::to_owned)
        .collect();
    let tables = std::fs::read_to_string(repo().join("docs/configuration.md"))
        .expect("docs/configuration.md");
    let documented: std::collections::BTreeSet<String> = tables
        .lines()
        .filter(|line| line.starts_with("| `"))
        .filter_map(|row| row.split('|').nth(1))
        .flat_map(variables_in)
        .collect();
    let unlisted: Vec<_> = code
        .iter()
        .filter(|v| !set.contains(*v) && !documented.contains(*v))
        .collect();
    assert!(
        unlisted.is_empty(),
        "read by the code, but neither set in template.yaml nor a row of docs/configuration.md's tables: {unlisted:?}"
    );
    let stale: Vec<_> = set.difference(&code).collect();
    assert!(
        stale.is_empty(),
        "set by template.yaml, read by no function: {stale:?}"
    );
    let dead: Vec<_> = documented.difference(&code).collect();
    assert!(
        dead.is_empty(),
        "documented in docs/configuration.md, read by no function: {dead:?}"
    );
}

/// A `Number` parameter's Default, MinValue and MaxValue, where the template gives them.
type NumberRange = (Option<i64>, Option<i64>, Option<i64>);

/// The template's `Number` parameters.
fn number_parameters() -> BTreeMap<String, NumberRange> {
    let template = std::fs::read_to_string(repo().join("template.yaml")).expect("template.yaml");
    let mut found = BTreeMap::new();
    let mut section = "";
    type Reading = Option<(String, bool, [Option<i64>; 3])>;
    let mut current: Reading = None;
    let mut finish = |current: &mut Reading| {
        if let Some((name, true, [default, min, max])) = current.take() {
            found.insert(name, (default, min, max));
        }
    };
    for line in template.lines() {
        if !line.starts_with(' ') && line.ends_with(':') {
            finish(&mut current);
            section = if line == "Parameters:" { "params" } else { "" };
            continue;
        }
        if section != "params" {
            continue;
        }
        if let Some(name) = line.strip_prefix("  ").and_then(|l| l.strip_suffix(':'))
            && !name.starts_with(' ')
        {
            finish(&mut current);
            current = Some((name.to_owned(), false, [None; 3]));
        } else if let Some((_, number, values)) = current.as_mut() {
            let field = |key: &str| {
                line.trim()
                    .strip_prefix(key)
                    .and_then(|v| v.trim().trim_matches('"').parse::<i64>().ok())
            };
            *number |= line.trim() == "Type: Number";
            for (i, key) in ["Default:", "MinValue:", "MaxValue:"].iter().enumerate() {
                if let Some(value) = field(key) {
                    values[i] = Some(value);
                }
            }
        }
    }
    finish(&mut current);
    found
}

/// (resource, variable, parameter) for each `HALFHOUR_X: !Ref Parameter` in an environment;
/// the resource is `Globals` for the shared environment.
fn environment_refs() -> Vec<(String, String, String)> {
    let template = std::fs::read_to_string(repo().join("template.yaml")).expect("template.yaml");
    let mut refs = Vec::new();
    let mut resource = String::new();
    for line in template.lines() {
        if line == "Globals:" {
            resource = "Globals".into();
        } else if let Some(name) = line
            .strip_prefix("  ")
            .and_then(|l| l.strip_suffix(':'))
            .filter(|n| !n.starts_with(' '))
            && resource != "Globals"
        {
            resource = name.to_owned();
        } else if line == "Resources:" {
            resource.clear();
        }
        if let Some((var, value)) = line.trim().split_once(": !Ref ")
            && var.starts_with("HALFHOUR_")
        {
            refs.push((resource.clone(), var.to_owned(), value.trim().to_owned()));
        }
    }
    refs
}

/// Whether the function of `resource` accepts its configuration with `var` = `value`, and the
/// variable the code keeps in order with it (a hold-down never longer than its maximum) moved
/// along where the value would cross it: no CloudFormation rule can compare two numbers.
fn function_accepts(resource: &str, var: &str, value: &str) -> Result<(), String> {
    let n: i64 = value.parse().unwrap_or(0);
    let companion = match var {
        "HALFHOUR_HOLD_DOWN_MAX_SECONDS" => Some(("HALFHOUR_HOLD_DOWN_SECONDS", n.min(300))),
        "HALFHOUR_HOLD_DOWN_SECONDS" => Some(("HALFHOUR_HOLD_DOWN_MAX_SECONDS", n.max(3600))),
        _ => None,
    }
    .map(|(name, v)| (name, v.to_string()));
    let base: BTreeMap<&str, &str> = BTreeMap::from([
        ("HALFHOUR_TABLE", "t"),
        ("HALFHOUR_CLUSTER", "prod"),
        ("HALFHOUR_ASG_NAME", "prod-web"),
        (
            "HALFHOUR_SCALING_ALARMS",
            "prod-cpu-high=+2,prod-cpu-low=-1",
        ),
        ("HALFHOUR_RECORD_NAME", "www.example.com"),
        (
            "HALFHOUR_STATIC_SITE_URL",
            "http://www.example.com.s3-website-us-east-1.amazonaws.com/",
        ),
        ("HALFHOUR_HOSTED_ZONE_ID", "Z1"),
        ("HALFHOUR_SITE_HEALTH_CHECK_ID", "site"),
        ("HALFHOUR_GATE_HEALTH_CHECK_ID", "gate"),
        ("HALFHOUR_DB_INSTANCE_ID", "prod-db"),
        ("HALFHOUR_RECONCILE_FUNCTIONS", "prod-scaler"),
    ]);
    let lookup = |name: &str| {
        if name == var {
            Some(value.to_owned())
        } else if let Some((_, v)) = companion.as_ref().filter(|(c, _)| *c == name) {
            Some(v.clone())
        } else {
            base.get(name).map(|v| (*v).to_owned())
        }
    };
    let outcome = match resource {
        "ScalerFunction" => scaler::ScalerConfig::from_lookup(lookup).map(drop),
        "LifecycleFunction" => lifecycle::LifecycleConfig::from_lookup(lookup).map(drop),
        "GoldImageFunction" => gold_image::GoldImageConfig::from_lookup(lookup).map(drop),
        "FailoverFunction" => failover::FailoverConfig::from_lookup(lookup).map(drop),
        "DbEventsFunction" => db_events::DbEventsConfig::from_lookup(lookup).map(drop),
        "ReconcilerFunction" => reconciler::ReconcilerConfig::from_lookup(lookup).map(drop),
        other => panic!("{other} sets {var} but is no function this test knows"),
    };
    outcome.map_err(|e| e.to_string())
}

/// A parameter's range fits the code's: each function that reads the variable accepts the
/// parameter's default, minimum and maximum, so no value the template lets through fails a
/// function at init (where every event it gets would then fail).
#[test]
fn every_number_parameter_has_the_range_its_variable_has_in_the_code() {
    const FUNCTIONS: [&str; 6] = [
        "ScalerFunction",
        "LifecycleFunction",
        "GoldImageFunction",
        "FailoverFunction",
        "DbEventsFunction",
        "ReconcilerFunction",
    ];
    let parameters = number_parameters();
    let mut checked = 0;
    for (resource, var, parameter) in environment_refs() {
        let Some(&(default, Some(min), Some(max))) = parameters.get(&parameter) else {
            continue;
        };
        let readers: Vec<&str> = if resource == "Globals" {
            FUNCTIONS.to_vec()
        } else {
            vec![resource.as_str()]
        };
        for reader in readers {
            for value in [Some(min), Some(max), default].into_iter().flatten() {
                function_accepts(reader, &var, &value.to_string()).unwrap_or_else(|e| {
                    panic!("{reader} refuses {var}={value} ({parameter} allows it): {e}")
                });
            }
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} ranged parameters found");
    assert!(
        function_accepts("ScalerFunction", "HALFHOUR_LEASE_SECONDS", "5").is_err(),
        "the check sees the code's ranges"
    );
}

/// Each suite stands on the harness alone: a setup two suites need lives in `tests/src/`, so no
/// module of this binary reaches into another (`crate::<module>`).
#[test]
fn no_suite_imports_another() {
    let dir = repo().join("tests/integration");
    let mut reaching = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("tests/integration") {
        let path = entry.expect("a directory entry").path();
        let text = std::fs::read_to_string(&path).expect("a suite's source");
        reaching.extend(
            text.lines()
                .filter(|line| line.contains("crate::") && !line.contains("halfhour_tests::"))
                .filter(|line| !line.trim_start().starts_with("//"))
                .map(|line| format!("{}: {}", path.display(), line.trim())),
        );
    }
    assert!(
        reaching.is_empty(),
        "suites importing suites: {reaching:#?}"
    );
}

/// Each top-level resource's lines under `Resources:`, by logical id.
fn resource_blocks(template: &str) -> BTreeMap<String, Vec<String>> {
    let mut blocks: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut in_resources = false;
    let mut current = None;
    for line in template.lines() {
        if !line.starts_with(' ') && !line.is_empty() && !line.starts_with('#') {
            in_resources = line == "Resources:";
            current = None;
            continue;
        }
        if !in_resources {
            continue;
        }
        if let Some(name) = line
            .strip_prefix("  ")
            .and_then(|l| l.strip_suffix(':'))
            .filter(|n| !n.starts_with(' ') && !n.starts_with('#'))
        {
            current = Some(name.to_owned());
        } else if let Some(name) = &current {
            blocks
                .entry(name.clone())
                .or_default()
                .push(line.trim().to_owned());
        }
    }
    blocks
}

/// The number after `key` on one of `lines`, if one has it.
fn number_of(lines: &[String], key: &str) -> Option<u32> {
    lines
        .iter()
        .find_map(|l| l.strip_prefix(key)?.trim().parse().ok())
}

/// CloudFormation waits for a custom resource's answer for its ServiceTimeout, an hour by
/// default (aws-resource-cloudformation-customresource.html). A function that never answers
/// (it failed to start, or every attempt failed) would hold the deploy that long: each custom
/// resource bounds the wait to what its function's asynchronous attempts can take (Lambda
/// drops the event after MaximumEventAgeInSeconds; the last attempt then runs up to its
/// Timeout), and at most AWS's 3600 s.
#[test]
fn every_custom_resource_bounds_how_long_a_deploy_waits_for_its_function() {
    let template = std::fs::read_to_string(repo().join("template.yaml")).expect("template.yaml");
    let blocks = resource_blocks(&template);
    let global_timeout = template
        .split("\nGlobals:")
        .nth(1)
        .and_then(|globals| globals.split("\nResources:").next())
        .and_then(|globals| {
            let lines: Vec<String> = globals.lines().map(|l| l.trim().to_owned()).collect();
            number_of(&lines, "Timeout:")
        })
        .expect("Globals sets the functions' Timeout");
    let custom: Vec<_> = blocks
        .iter()
        .filter(|(_, lines)| lines.iter().any(|l| l.starts_with("Type: Custom::")))
        .collect();
    assert!(!custom.is_empty(), "the template has custom resources");
    for (name, lines) in custom {
        let function = lines
            .iter()
            .find_map(|l| {
                l.strip_prefix("ServiceToken: !GetAtt ")?
                    .strip_suffix(".Arn")
            })
            .unwrap_or_else(|| panic!("{name}'s ServiceToken names no function of the stack"));
        let backing = &blocks[function];
        let timeout = number_of(backing, "Timeout:").unwrap_or(global_timeout);
        let age = number_of(backing, "MaximumEventAgeInSeconds:")
            .unwrap_or_else(|| panic!("{function} bounds the age of its events"));
        let waits = number_of(lines, "ServiceTimeout:")
            .unwrap_or_else(|| panic!("{name} sets no ServiceTimeout: a deploy would wait an hour for an answer that never comes"));
        assert!(
            (age + timeout..=3600).contains(&waits),
            "{name}'s ServiceTimeout {waits} s: {function}'s attempts take up to {age} + {timeout} s, and AWS allows at most 3600"
        );
    }
}
