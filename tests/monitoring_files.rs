//! The monitoring files under `ami/monitoring/` and `docs/metrics.md` stay true to the code:
//! promtool accepts the scrape config and the rules and passes the rules' unit tests; every
//! alert has a unit test; every expression of the dashboard and the rules names only metrics
//! the appliance exports (the catalogue, which `metrics_e2e` checks against a live scrape)
//! and parses as PromQL; the dashboard has the panels operators need; the docs describe
//! every metric and alert and show the rendered dashboard.
mod support;

use mirrorcap::metrics::{is_exported, CATALOGUE};
use std::path::{Path, PathBuf};
use support::tool;

fn path(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

fn read(p: &str) -> String {
    std::fs::read_to_string(path(p)).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn promtool(args: &[&str]) {
    let (ok, out, err) = tool("promtool", args);
    assert!(ok, "promtool {args:?}:\n{out}{err}");
}

#[test]
fn promtool_accepts_the_scrape_config_and_rules_and_passes_their_tests() {
    let dir = path("ami/monitoring");
    let at = |f: &str| dir.join(f).to_str().unwrap().to_string();
    promtool(&["check", "config", &at("prometheus.yml")]);
    promtool(&["check", "rules", &at("alerts.yml")]);
    promtool(&["test", "rules", &at("alerts.test.yml")]);
}

/// The alert names a rules file defines.
fn alert_names(rules: &str) -> Vec<String> {
    rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert:"))
        .map(|n| n.trim().to_string())
        .collect()
}

#[test]
fn every_alert_has_a_unit_test_that_sees_it_fire() {
    let rules = read("ami/monitoring/alerts.yml");
    let tests = read("ami/monitoring/alerts.test.yml");
    let names = alert_names(&rules);
    assert!(names.len() >= 6, "{names:?}");
    for n in &names {
        // A test block for the alert whose expected alerts are not empty.
        let fires = tests
            .split("alertname: ")
            .skip(1)
            .filter(|b| b.lines().next().map(str::trim) == Some(n.as_str()))
            .any(|b| b.contains("exp_labels"));
        assert!(fires, "alerts.test.yml never sees {n} fire");
    }
    for required in [
        "MirrorcapDown",
        "MirrorcapDropping",
        "MirrorcapEnaAllowanceExceeded",
        "MirrorcapRingRetentionLow",
    ] {
        assert!(names.iter().any(|n| n == required), "no {required} alert");
    }
}

/// Every `expr` of a rules file (one-line or block scalar).
fn rule_exprs(yaml: &str) -> Vec<String> {
    let lines: Vec<&str> = yaml.lines().collect();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let Some(rest) = l.trim_start().strip_prefix("expr:") else {
            continue;
        };
        let rest = rest.trim();
        if rest == "|" || rest == ">" {
            let indent = l.len() - l.trim_start().len();
            let body: Vec<&str> = lines[i + 1..]
                .iter()
                .take_while(|b| b.trim().is_empty() || b.len() - b.trim_start().len() > indent)
                .map(|b| b.trim())
                .collect();
            out.push(body.join(" "));
        } else {
            out.push(rest.trim_matches('\'').trim_matches('"').to_string());
        }
    }
    out
}

/// Every PromQL string of the dashboard: panel targets and template variable queries.
fn dashboard_exprs(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("expr" | "definition" | "query", serde_json::Value::String(s)) => {
                        out.push(s.clone())
                    }
                    _ => dashboard_exprs(x, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| dashboard_exprs(x, out)),
        _ => {}
    }
}

/// The `mirrorcap_*` metric names in a PromQL expression.
fn metric_names(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = expr;
    while let Some(i) = rest.find("mirrorcap_") {
        let boundary = rest[..i]
            .chars()
            .last()
            .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'));
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(tail.len());
        if boundary {
            out.push(tail[..end].to_string());
        }
        rest = &tail[end..];
    }
    out
}

fn dashboard() -> serde_json::Value {
    serde_json::from_str(&read("ami/monitoring/grafana-dashboard.json"))
        .expect("the dashboard is JSON")
}

#[test]
fn dashboard_and_rules_name_only_exported_metrics() {
    let mut exprs = Vec::new();
    dashboard_exprs(&dashboard(), &mut exprs);
    let dash_count = exprs.len();
    let rules = rule_exprs(&read("ami/monitoring/alerts.yml"));
    assert_eq!(
        rules.len(),
        alert_names(&read("ami/monitoring/alerts.yml")).len()
    );
    exprs.extend(rules);
    assert!(dash_count > 20, "{dash_count} dashboard expressions");
    let mut named = 0;
    for e in &exprs {
        for n in metric_names(e) {
            named += 1;
            assert!(
                is_exported(&n),
                "{n} (in `{e}`) is not a metric mirrorcap exports"
            );
        }
    }
    assert!(named > dash_count, "{named} metric references");
    assert_eq!(
        metric_names("rate(mirrorcap_a_total[1m]) / xmirrorcap_b + mirrorcap_c_bucket"),
        ["mirrorcap_a_total", "mirrorcap_c_bucket"]
    );
}

#[test]
fn every_dashboard_expression_parses_as_promql() {
    // promtool parses each one as a recording rule (Grafana's variables given values).
    let mut exprs = Vec::new();
    let d = dashboard();
    for p in d["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().unwrap() {
            exprs.push(t["expr"].as_str().unwrap().to_string());
        }
    }
    let mut yaml = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, e) in exprs.iter().enumerate() {
        let e = e
            .replace("$__rate_interval", "1m")
            .replace("$job", ".*")
            .replace("$instance", ".*");
        yaml.push_str(&format!(
            "      - record: dashboard:expr{i}\n        expr: {}\n",
            serde_json::to_string(&e).unwrap()
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("dashboard-rules.yml");
    std::fs::write(&f, yaml).unwrap();
    promtool(&["check", "rules", f.to_str().unwrap()]);
}

#[test]
fn dashboard_has_the_panels_operators_need() {
    let d = dashboard();
    let panels = d["panels"].as_array().unwrap();
    let find = |needle: &str, kind: &str| {
        panels.iter().any(|p| {
            p["title"]
                .as_str()
                .is_some_and(|t| t.to_lowercase().contains(needle))
                && p["type"] == kind
        })
    };
    for (needle, kind) in [
        ("throughput", "timeseries"),
        ("drops by stage", "timeseries"),
        ("drops by reason", "timeseries"),
        ("per session", "timeseries"),
        ("ena allowances", "timeseries"),
        ("latency", "heatmap"),
        ("retention", "timeseries"),
        ("store lag", "timeseries"),
        ("store overrun", "timeseries"),
        ("store write rate", "timeseries"),
        ("store retention", "timeseries"),
    ] {
        assert!(find(needle, kind), "no {kind} panel about {needle}");
    }
    let ids: std::collections::HashSet<_> = panels.iter().map(|p| p["id"].as_u64()).collect();
    assert_eq!(ids.len(), panels.len(), "panel ids are unique");
}

#[test]
fn docs_describe_every_metric_and_alert_and_show_the_dashboard() {
    let doc = read("docs/metrics.md");
    for f in CATALOGUE {
        assert!(
            doc.contains(&format!("| `{}` |", f.name)),
            "docs/metrics.md lacks a row for {}",
            f.name
        );
    }
    let rows: Vec<&str> = doc
        .lines()
        .filter(|l| l.starts_with("| `mirrorcap_"))
        .collect();
    assert_eq!(
        rows.len(),
        CATALOGUE.len(),
        "docs/metrics.md lists metrics the code does not export"
    );
    for a in alert_names(&read("ami/monitoring/alerts.yml")) {
        assert!(doc.contains(&format!("`{a}`")), "docs/metrics.md: no {a}");
    }
    let png = "docs/img/dashboard.png";
    assert!(
        doc.contains("img/dashboard.png"),
        "docs/metrics.md shows no {png}"
    );
    let bytes = std::fs::read(path(png)).unwrap_or_else(|e| panic!("{png}: {e}"));
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{png} is not a PNG"
    );
    assert!(bytes.len() < 300 * 1024, "{png}: {} bytes", bytes.len());
}
