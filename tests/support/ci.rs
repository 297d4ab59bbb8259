//! Prerequisites from outside the repository (external tools, the shared third-party corpus):
//! on a developer's machine a missing one skips its test with a note, under `CI=true` it fails
//! the test, so a CI run can never pass by having checked nothing.
use std::path::{Path, PathBuf};

/// True under `CI=true` (or `CI=1`), as CI services set it.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// A prerequisite is missing: panics under CI, else prints a note the caller follows by
/// skipping. Printed on both streams so the note shows whichever one a runner displays.
pub fn skip_or_fail(what: &str) {
    if in_ci() {
        panic!("{what}; CI=true, so a missing prerequisite fails the test instead of skipping it");
    }
    println!("SKIPPED: {what}");
    eprintln!("SKIPPED: {what}");
}

/// The tool's path, from PATH or the places scripts/setup.sh and pyenv put it.
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let extra = [
        format!("/opt/{name}/bin"),
        "/usr/local/bin".to_string(),
        "/root/.pyenv/shims".to_string(),
    ];
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .map(str::to_string)
        .chain(extra)
        .map(|d| Path::new(&d).join(name))
        .find(|p| p.is_file())
}

/// The tool's path; `None` (after [`skip_or_fail`]'s note, or its panic under CI) when it is
/// not installed.
pub fn require_tool(name: &str) -> Option<PathBuf> {
    let t = find_tool(name);
    if t.is_none() {
        skip_or_fail(&format!(
            "{name} is not installed (scripts/setup.sh installs it)"
        ));
    }
    t
}

/// The third-party corpus shared with the project (read in place, never copied).
pub fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/testdata/pcaps")
        .join(name)
}

/// `corpus(name)` when it exists; `None` (after [`skip_or_fail`]'s note, or its panic under
/// CI) when the shared corpus is not checked out beside the repository.
pub fn corpus_or_skip(name: &str) -> Option<PathBuf> {
    let p = corpus(name);
    if p.exists() {
        return Some(p);
    }
    skip_or_fail(&format!(
        "{} is absent (the shared corpus lives beside the repository)",
        p.display()
    ));
    None
}
