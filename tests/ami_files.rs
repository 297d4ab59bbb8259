//! The AMI's files pass their tools: shellcheck on every shell script of the repo, packer
//! validate (and fmt) on the template, cfn-lint on the CloudFormation stack,
//! systemd-analyze verify on the units, and mirrorcap check-config on the shipped
//! configuration. A tool missing after scripts/setup.sh skips its test with the reason printed,
//! or fails it under `CI=true` (`support::require_tool`); any finding fails it.
mod support;
use support::require_tool;

use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn run(cmd: &Path, args: &[&str], dir: &Path) -> (bool, String) {
    let o = Command::new(cmd)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", cmd.display()));
    (
        o.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

/// Every shell script in the repo: *.sh and the extension-less ones with a bash/sh shebang.
fn shell_scripts() -> Vec<String> {
    let mut out = Vec::new();
    for dir in ["ami", "scripts", ".ci"] {
        for e in std::fs::read_dir(root().join(dir)).unwrap() {
            let p = e.unwrap().path();
            let head = std::fs::read_to_string(&p).unwrap_or_default();
            let first = head.lines().next().unwrap_or("");
            if p.extension().is_some_and(|x| x == "sh")
                || (first.starts_with("#!") && (first.contains("bash") || first.ends_with("/sh")))
            {
                out.push(p.strip_prefix(root()).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn shellcheck_passes_every_script() {
    let Some(sc) = require_tool("shellcheck") else {
        return;
    };
    let scripts = shell_scripts();
    for s in [
        "ami/provision.sh",
        "ami/mirrorcap-bind.sh",
        "ami/mirrorcap-tune.sh",
        "ami/mirrorcap-storage.sh",
        "scripts/check-ami-provision.sh",
        "scripts/test.sh",
        "scripts/loadtest.sh",
        ".ci/run",
    ] {
        assert!(scripts.iter().any(|x| x == s), "{s} not found: {scripts:?}");
    }
    let args: Vec<&str> = scripts.iter().map(String::as_str).collect();
    let (ok, out) = run(&sc, &args, root());
    assert!(ok, "shellcheck {args:?}:\n{out}");
}

#[test]
fn packer_validates_the_template() {
    let Some(packer) = require_tool("packer") else {
        return;
    };
    let ami = root().join("ami");
    let (_, version) = run(&packer, &["version"], &ami);
    println!("{}", version.trim());
    // Full validation (builder and provisioner configuration, not only syntax): Packer 1.6
    // has amazon-ebs built in. plugins.pkr.hcl (Packer >= 1.7's required_plugins, which 1.6
    // rejects) is checked for syntax and format by `packer fmt`.
    let (ok, out) = run(&packer, &["validate", "mirrorcap.pkr.hcl"], &ami);
    assert!(ok, "packer validate:\n{out}");
    let (ok, out) = run(
        &packer,
        &["fmt", "-check", "-diff", "mirrorcap.pkr.hcl"],
        &ami,
    );
    assert!(ok, "packer fmt mirrorcap.pkr.hcl:\n{out}");
    let (ok, out) = run(
        &packer,
        &["fmt", "-check", "-diff", "plugins.pkr.hcl"],
        &ami,
    );
    assert!(ok, "packer fmt plugins.pkr.hcl:\n{out}");
    let t = std::fs::read_to_string(ami.join("mirrorcap.pkr.hcl")).unwrap();
    for needle in [
        "source \"amazon-ebs\"",
        "ena_support   = true",
        "136693071363",
        "debian-13-amd64-*",
        "ami/provision.sh",
    ] {
        assert!(t.contains(needle), "the template lacks {needle}");
    }
}

#[test]
fn cfn_lint_passes_the_stack() {
    let Some(lint) = require_tool("cfn-lint") else {
        return;
    };
    let (ok, out) = run(&lint, &["ami/cloudformation.yaml"], root());
    assert!(ok, "cfn-lint:\n{out}");
    let t = std::fs::read_to_string(root().join("ami/cloudformation.yaml")).unwrap();
    for needle in [
        "AWS::EC2::TrafficMirrorTarget",
        "AWS::EC2::TrafficMirrorSession",
        "AWS::EC2::TrafficMirrorFilter",
        "FromPort: 4789",
        "FromPort: 6081",
        "CidrIp: !Ref MonitoringCidr",
        "TrafficMirrorTargetId:",
        "MetricsUrl:",
    ] {
        assert!(t.contains(needle), "cloudformation.yaml lacks {needle}");
    }
}

/// systemd-analyze verify, with the units' /usr/lib/mirrorcap and /usr/bin/mirrorcap pointed at
/// this checkout (so "is not executable" reports a real problem, not an uninstalled file).
#[test]
fn systemd_analyze_verifies_the_units() {
    let Some(sa) = require_tool("systemd-analyze") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let units = [
        "mirrorcap.service",
        "mirrorcap-bind.service",
        "mirrorcap-tune.service",
    ];
    let mut paths = Vec::new();
    for u in units {
        let text = std::fs::read_to_string(root().join("ami/systemd").join(u)).unwrap();
        let text = text
            .replace("/usr/lib/mirrorcap/", &format!("{}/ami/", root().display()))
            .replace("/usr/bin/mirrorcap ", &format!("{} ", support::bin()));
        let p = tmp.path().join(u);
        std::fs::write(&p, text).unwrap();
        paths.push(p.display().to_string());
    }
    let args: Vec<&str> = std::iter::once("verify")
        .chain(paths.iter().map(String::as_str))
        .collect();
    let o = Command::new(&sa)
        .args(&args)
        .env("SYSTEMD_LOG_LEVEL", "notice")
        .output()
        .unwrap();
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        o.status.success() && out.trim().is_empty(),
        "systemd-analyze verify:\n{out}"
    );
}

#[test]
fn the_shipped_config_passes_check_config() {
    let (status, err) = support::mirrorcap(&["check-config", "ami/mirrorcap.toml"]);
    assert!(status.success(), "{err}");
}

#[test]
fn the_units_and_provisioning_agree_on_paths() {
    let prov = std::fs::read_to_string(root().join("ami/provision.sh")).unwrap();
    let main = std::fs::read_to_string(root().join("ami/systemd/mirrorcap.service")).unwrap();
    for needle in [
        "ExecStart=/usr/bin/mirrorcap run --config /etc/mirrorcap/mirrorcap.toml",
        "Restart=always",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/mirrorcap/ring",
        "CapabilityBoundingSet=",
        "After=mirrorcap-bind.service",
    ] {
        assert!(main.contains(needle), "mirrorcap.service lacks {needle}");
    }
    for needle in [
        "/usr/bin/mirrorcap",
        "/usr/lib/mirrorcap/$s",
        "/usr/lib/systemd/system/$u",
        "/etc/mirrorcap/$c",
        "mirrorcap-bind.sh mirrorcap-tune.sh mirrorcap-storage.sh",
        "mirrorcap.service mirrorcap-bind.service mirrorcap-tune.service",
    ] {
        assert!(prov.contains(needle), "provision.sh lacks {needle}");
    }
}
