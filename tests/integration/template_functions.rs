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
