//! The documentation matches the code: docs/drop-reasons.md has one row per drop reason the
//! pipeline's model (`pipeline::Drop`) and the store (`AFTER_CAPTURE`) can count, with its
//! stage, and no other; and the README
//! names the two set-up commands.
use mirrorcap::pipeline::{Drop, AFTER_CAPTURE};

fn read(p: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(p)).unwrap()
}

#[test]
fn every_drop_reason_is_documented() {
    let doc = read("docs/drop-reasons.md");
    for d in Drop::ALL {
        let (label, stage) = (d.label(), d.stage().as_str());
        assert!(
            doc.contains(&format!("| `{label}` | {stage} |")),
            "docs/drop-reasons.md lacks a row `| `{label}` | {stage} |`"
        );
    }
    for (label, stage) in AFTER_CAPTURE {
        let row = format!("| `{label}` | {} |", stage.as_str());
        assert!(doc.contains(&row), "docs/drop-reasons.md lacks a row {row}");
    }
    let rows = doc.lines().filter(|l| l.starts_with("| `")).count();
    assert_eq!(
        rows,
        Drop::COUNT + AFTER_CAPTURE.len(),
        "docs/drop-reasons.md lists reasons the code does not count"
    );
}

#[test]
fn readme_names_the_demo_and_test_commands() {
    let readme = read("README.md");
    assert!(readme.contains("scripts/demo.sh") && readme.contains("scripts/test.sh"));
}

/// The `module::test` names in the fault table of docs/reliability.md.
fn fault_table_tests(doc: &str) -> Vec<(String, String)> {
    let section = doc.split("## Faults").nth(1).expect("a Faults section");
    let section = section.split("\n## ").next().unwrap();
    section
        .lines()
        .filter(|l| l.starts_with("| "))
        .filter_map(|l| l.trim_end().trim_end_matches('|').rsplit('|').next())
        .filter_map(|cell| {
            let name = cell.trim().trim_matches('`');
            name.split_once("::")
                .map(|(m, t)| (m.to_string(), t.to_string()))
        })
        .collect()
}

#[test]
fn every_fault_in_reliability_md_names_a_test_that_exists_and_every_fault_test_is_named() {
    let doc = read("docs/reliability.md");
    let named = fault_table_tests(&doc);
    assert!(named.len() >= 10, "fault table rows: {named:?}");
    for (module, test) in &named {
        let src = read(&format!("tests/{module}.rs"));
        assert!(
            src.contains(&format!("fn {test}()")),
            "docs/reliability.md names {module}::{test}, which tests/{module}.rs lacks"
        );
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    for f in std::fs::read_dir(dir).unwrap() {
        let path = f.unwrap().path();
        let module = path.file_stem().unwrap().to_str().unwrap().to_string();
        if !module.starts_with("faults") || path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let src = std::fs::read_to_string(&path).unwrap();
        for chunk in src.split("#[test]").skip(1) {
            let test = chunk
                .split("fn ")
                .nth(1)
                .and_then(|s| s.split('(').next())
                .unwrap()
                .to_string();
            assert!(
                named.contains(&(module.clone(), test.clone())),
                "{module}::{test} is not in the fault table of docs/reliability.md"
            );
        }
    }
}

#[test]
fn reliability_md_lists_the_capabilities_the_service_keeps() {
    let unit = read("ami/systemd/mirrorcap.service");
    let kept: Vec<&str> = unit
        .lines()
        .find_map(|l| l.strip_prefix("CapabilityBoundingSet="))
        .expect("the unit bounds its capabilities")
        .split_whitespace()
        .collect();
    let doc = read("docs/reliability.md");
    let section = doc
        .split("## Capabilities")
        .nth(1)
        .expect("a Capabilities section");
    let listed: Vec<&str> = section
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .collect();
    assert_eq!(
        listed, kept,
        "docs/reliability.md and mirrorcap.service disagree"
    );
}

#[test]
fn every_gen_option_is_documented() {
    use clap::CommandFactory;
    let doc = read("docs/loadtest.md");
    let cli = mirrorcap::cli::Cli::command();
    let gen = cli.find_subcommand("gen").expect("gen subcommand");
    let mut n = 0;
    for a in gen.get_arguments() {
        if let Some(long) = a.get_long() {
            assert!(
                doc.contains(&format!("`--{long}")),
                "docs/loadtest.md does not explain gen --{long}"
            );
            n += 1;
        }
    }
    assert!(n > 20, "{n} options");
    assert!(doc.contains("## Generator"));
}
