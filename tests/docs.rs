//! The documentation matches the code: every drop reason that can be counted is explained in
//! docs/drop-reasons.md, and the README names the two set-up commands.
use mirrorcap::pipeline::{drop_reason_label, DROP_REASONS};

fn read(p: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(p)).unwrap()
}

#[test]
fn every_drop_reason_is_documented() {
    let doc = read("docs/drop-reasons.md");
    for r in 0..DROP_REASONS {
        let label = drop_reason_label(r);
        assert!(
            doc.contains(&format!("| `{label}` |")),
            "docs/drop-reasons.md lacks a row for {label}"
        );
    }
    let rows = doc.lines().filter(|l| l.starts_with("| `")).count();
    assert_eq!(
        rows, DROP_REASONS,
        "docs/drop-reasons.md lists reasons the code does not count"
    );
}

#[test]
fn readme_names_the_demo_and_test_commands() {
    let readme = read("README.md");
    assert!(readme.contains("scripts/demo.sh") && readme.contains("scripts/test.sh"));
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
