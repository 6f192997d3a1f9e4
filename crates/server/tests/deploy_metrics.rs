//! The deployment files against the running server: every metric that
//! `deploy/prometheus/rules.yml` and `deploy/grafana/hivesched.json` read is one `/metrics`
//! exposes (a renamed family or a typo in a rule fails here, not silently in Grafana), every
//! recording rule the dashboard reads is defined, every service alert rule has its Prometheus
//! twin with the service's defaults, and the overhead families report sane values after a few
//! real ticks.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::{SECRET, TestServer, emergency_stop, post_flat_demand, token};
use hivesched_policy::alerts::{AlertConfig, Rule};
use hivesched_server::ServiceConfig;
use hivesched_server::auth::Role;
use reqwest::Method;
use serde_json::{Value, json};

fn repo_file(path: &str) -> String {
    let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// Metric names (`hivesched_…`, `process_…`) and recording rule names (`hivesched:…`) in one
/// PromQL expression. String literals are skipped (label values such as `"awake|waking"` are
/// not names), and so are Grafana's `$variables`.
fn names_in(expr: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut metrics = BTreeSet::new();
    let mut recorded = BTreeSet::new();
    let mut chars = expr.chars().peekable();
    let mut word = String::new();
    let mut flush = |word: &mut String| {
        if word.starts_with("hivesched_") || word.starts_with("process_") {
            metrics.insert(word.clone());
        } else if word.starts_with("hivesched:") {
            recorded.insert(word.clone());
        }
        word.clear();
    };
    while let Some(c) = chars.next() {
        match c {
            '"' | '\'' | '`' => {
                flush(&mut word);
                let mut escaped = false;
                for d in chars.by_ref() {
                    if d == c && !escaped {
                        break;
                    }
                    escaped = d == '\\' && !escaped;
                }
            }
            '$' => {
                flush(&mut word);
                while chars
                    .peek()
                    .is_some_and(|d| d.is_ascii_alphanumeric() || *d == '_')
                {
                    chars.next();
                }
            }
            c if c.is_ascii_alphanumeric() || c == '_' || c == ':' => word.push(c),
            _ => flush(&mut word),
        }
    }
    flush(&mut word);
    (metrics, recorded)
}

/// One rule of rules.yml: its `record` or `alert` name, its expression and the other
/// `key: value` lines of its block (`for`, `rule`, `severity`, …).
#[derive(Debug, Default)]
struct RuleBlock {
    name: String,
    alert: bool,
    expr: String,
    fields: BTreeMap<String, String>,
}

/// The rules of a Prometheus rules file, read line by line: enough for the file's own layout
/// (`- record:` / `- alert:` items, `expr:` inline or as a `|` block), and it fails loudly on
/// anything it does not follow rather than skip it.
fn rule_blocks(text: &str) -> Vec<RuleBlock> {
    let mut blocks: Vec<RuleBlock> = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('#') || trimmed.is_empty() {
            continue;
        }
        let indent = line.len() - trimmed.len();
        let item = trimmed.strip_prefix("- ").unwrap_or(trimmed);
        let Some((key, value)) = item.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key {
            "record" | "alert" => blocks.push(RuleBlock {
                name: value.to_owned(),
                alert: key == "alert",
                ..RuleBlock::default()
            }),
            "expr" => {
                let block = blocks.last_mut().expect("an expr outside a rule");
                if value == "|" {
                    while let Some(next) = lines.peek() {
                        let t = next.trim_start();
                        if !t.is_empty() && next.len() - t.len() <= indent {
                            break;
                        }
                        block.expr.push_str(t);
                        block.expr.push('\n');
                        lines.next();
                    }
                } else {
                    assert!(!value.starts_with('>'), "folded exprs are not read: {line}");
                    block.expr = value.to_owned();
                }
            }
            _ => {
                if let Some(block) = blocks.last_mut() {
                    block.fields.insert(key.trim().to_owned(), value.to_owned());
                }
            }
        }
    }
    blocks
}

/// Every PromQL expression of a Grafana dashboard: panel targets' `expr` and the template
/// variables' queries.
fn dashboard_exprs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("expr" | "definition", Value::String(s)) => out.push(s.clone()),
                    ("query", Value::String(s)) => out.push(s.clone()),
                    _ => dashboard_exprs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| dashboard_exprs(v, out)),
        _ => {}
    }
}

/// The series names a scrape exposes: every sample's name, and for every declared family the
/// names Prometheus stores for its type (a counter `x` as `x_total`, a histogram as
/// `x_bucket`, `x_sum`, `x_count`), so a family with no labelled child yet still counts.
fn exposed(scrape: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in scrape.lines() {
        if let Some(decl) = line.strip_prefix("# TYPE ") {
            let (name, kind) = decl.split_once(' ').expect("a TYPE line has a type");
            let suffixes: &[&str] = match kind {
                "counter" => &["_total"],
                "histogram" => &["_bucket", "_sum", "_count"],
                "summary" => &["", "_sum", "_count"],
                "info" => &["_info"],
                _ => &[""],
            };
            names.extend(suffixes.iter().map(|s| format!("{name}{s}")));
        } else if !line.starts_with('#') && !line.is_empty() {
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            names.insert(line[..end].to_owned());
        }
    }
    names
}

/// The value of an unlabelled sample.
fn sample(scrape: &str, name: &str) -> Option<f64> {
    scrape.lines().find_map(|l| {
        let rest = l.strip_prefix(name)?.strip_prefix(' ')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

fn config(test: &str) -> ServiceConfig {
    let dir = std::env::temp_dir().join(format!(
        "hivesched-deploy-metrics-{}-{test}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let text = format!(
        "listen = \"127.0.0.1:0\"\ndatabase_url = \"sqlite://{}/db.sqlite?mode=rwc\"\n\
         jwt_secret = \"{SECRET}\"\ntick_interval = 1\nshadow = false\ncapacity = 1.0\n\
         restart_hold = 0\nsleep_stabilization = 0\n[actuator]\nkind = \"fake\"\nagents = 6\n",
        dir.display()
    );
    ServiceConfig::from_toml(&text, Vec::new()).unwrap()
}

async fn scrape(server: &TestServer) -> String {
    let (status, body) = server.send(Method::GET, "/metrics", None, None).await;
    assert!(status.is_success(), "{status}");
    body.as_str().expect("metrics are text").to_owned()
}

/// Boots the server with a one-second tick, waits for three ticks (and, with `act`, for the
/// first decided sleeps, then puts an emergency stop in force and has it refuse a bulk
/// operation, so the families that only appear with their first reason are there too), and
/// scrapes it.
async fn scrape_after_ticks(test: &str, act: bool) -> String {
    let server = TestServer::start_with(config(test)).await;
    post_flat_demand(&server, 2.0).await;
    let mut text = String::new();
    for _ in 0..120 {
        text = scrape(&server).await;
        let ticked = sample(&text, "hivesched_ticks_total").unwrap_or(0.0) >= 3.0;
        if ticked && (!act || text.contains("hivesched_actions_total{")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        sample(&text, "hivesched_ticks_total").unwrap_or(0.0) >= 3.0,
        "three ticks within 30 s:\n{text}"
    );
    if act {
        assert!(
            text.contains("hivesched_actions_total{"),
            "no sleep decided within 30 s:\n{text}"
        );
        emergency_stop(&server, "freeze_all").await;
        let operator = token(Role::Operator);
        let (s, body) = server
            .send(
                Method::POST,
                "/api/v1/bulk",
                Some(&operator),
                Some(&json!({"agents": ["agent-0"], "action": "sleep",
                             "strategy": "parallel", "reason": "deploy test"})),
            )
            .await;
        assert!(s.is_success(), "{s}: {body}");
        let path = format!("/api/v1/bulk/{}", body["id"].as_str().unwrap());
        for _ in 0..500 {
            let (_, view) = server.send(Method::GET, &path, Some(&operator), None).await;
            if view["status"] != "pending" && view["status"] != "running" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        text = scrape(&server).await;
    }
    server.stop().await;
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_and_dashboard_read_only_metrics_the_service_exposes() {
    let text = scrape_after_ticks("names", true).await;
    let exposed = exposed(&text);

    let rules = rule_blocks(&repo_file("deploy/prometheus/rules.yml"));
    let recorded: BTreeSet<String> = rules
        .iter()
        .filter(|r| !r.alert)
        .map(|r| r.name.clone())
        .collect();
    assert!(
        rules.len() >= 20 && rules.iter().all(|r| !r.expr.trim().is_empty()),
        "rules.yml read as {rules:#?}"
    );
    let dashboard: Value =
        serde_json::from_str(&repo_file("deploy/grafana/hivesched.json")).unwrap();
    let mut exprs = Vec::new();
    dashboard_exprs(&dashboard, &mut exprs);
    assert!(exprs.len() >= 30, "dashboard expressions: {exprs:#?}");

    let mut missing = Vec::new();
    let mut used = BTreeSet::new();
    let sources = rules
        .iter()
        .map(|r| (format!("rules.yml {}", r.name), r.expr.clone()))
        .chain(
            exprs
                .iter()
                .map(|e| ("hivesched.json".to_owned(), e.clone())),
        );
    for (source, expr) in sources {
        let (metrics, recordings) = names_in(&expr);
        for name in metrics {
            if !exposed.contains(&name) {
                missing.push(format!("{source}: metric {name} is not in /metrics"));
            }
            used.insert(name);
        }
        for name in recordings {
            if !recorded.contains(&name) {
                missing.push(format!(
                    "{source}: recording rule {name} is not in rules.yml"
                ));
            }
        }
    }
    assert!(missing.is_empty(), "{missing:#?}\n/metrics:\n{text}");
    // The story the issue asks for is told: the overhead families are among those read.
    for name in [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "hivesched_tick_cpu_seconds_total",
        "hivesched_agents",
        "hivesched_actuator_seconds_bucket",
        "hivesched_alerts_open",
    ] {
        assert!(used.contains(name), "{name} is read by no rule or panel");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overhead_families_report_sane_values() {
    let text = scrape_after_ticks("values", false).await;
    let value = |name| sample(&text, name).unwrap_or_else(|| panic!("{name} missing:\n{text}"));
    let cpu = value("process_cpu_seconds_total");
    let tick_cpu = value("hivesched_tick_cpu_seconds_total");
    assert!(cpu > 0.0, "process CPU {cpu}");
    // The ticks' decision work is part of the process's CPU, and it did run.
    assert!(
        tick_cpu > 0.0 && tick_cpu <= cpu,
        "tick CPU {tick_cpu}, process {cpu}"
    );
    let rss = value("process_resident_memory_bytes");
    assert!(rss > 1e6, "RSS {rss}");
    assert!(value("process_virtual_memory_bytes") >= rss);
    let fds = value("process_open_fds");
    assert!(fds >= 3.0 && value("process_max_fds") >= fds, "{fds} fds");
    let now = jsonwebtoken::get_current_timestamp() as f64;
    let started = value("process_start_time_seconds");
    assert!(
        started <= now + 1.0 && now - started < 3600.0,
        "started {started}, now {now}"
    );
}

#[test]
fn every_service_alert_rule_has_its_prometheus_twin_with_the_service_defaults() {
    let rules = rule_blocks(&repo_file("deploy/prometheus/rules.yml"));
    let by_rule: BTreeMap<&str, &RuleBlock> = rules
        .iter()
        .filter(|r| r.alert)
        .filter_map(|r| Some((r.fields.get("rule")?.as_str(), r)))
        .collect();
    let d = AlertConfig::default();
    let minutes = |t: Duration| format!("{}m", t.as_secs() / 60);
    for rule in Rule::ALL {
        let block = by_rule
            .get(rule.as_str())
            .unwrap_or_else(|| panic!("no alert with rule: {} in rules.yml", rule.as_str()));
        // Computed here: the service's threshold and `for`. Relayed from hivesched_alerts_open:
        // no `for` of their own (the service has waited it already).
        let (threshold, for_) = match rule {
            Rule::SavingsBelowTarget => (
                Some(format!("< {}", d.savings_target_pct)),
                Some(d.sustained_for),
            ),
            Rule::FailSafe => (None, Some(d.sustained_for / 3)),
            Rule::RailBlocking => (None, Some(d.sustained_for)),
            Rule::ActuatorErrors => (
                Some(format!("> {}", d.actuator_error_rate_max)),
                Some(d.fast_for),
            ),
            Rule::TicksFailing => (None, Some(d.fast_for)),
            Rule::ForecastErrorHigh
            | Rule::BreakerOpen
            | Rule::DemandStale
            | Rule::EmergencyStop
            | Rule::AgentsStuck => {
                let relay = format!("rule=\"{}\"", rule.as_str());
                assert!(
                    block.expr.contains("hivesched_alerts_open") && block.expr.contains(&relay),
                    "{block:?}"
                );
                (None, None)
            }
        };
        if let Some(t) = threshold {
            // The whole number: "> 0.25" is not "> 0.2".
            let whole = block.expr.match_indices(&t).any(|(i, _)| {
                !block.expr[i + t.len()..].starts_with(|c: char| c.is_ascii_digit() || c == '.')
            });
            assert!(whole, "{t} not in {block:?}");
        }
        assert_eq!(
            block.fields.get("for").cloned(),
            for_.map(minutes),
            "{block:?}"
        );
        assert_eq!(
            block.fields.get("severity").map(String::as_str),
            Some(rule.severity().as_str()),
            "{block:?}"
        );
    }
}

#[test]
fn names_are_read_from_expressions_not_from_strings() {
    let (metrics, recorded) = names_in(
        "sum by (state) (hivesched_agents{state=~\"awake|process_x\", job=\"$job\"}) \
         / hivesched:agents_total + rate(process_cpu_seconds_total[$__rate_interval])",
    );
    assert_eq!(
        metrics.into_iter().collect::<Vec<_>>(),
        ["hivesched_agents", "process_cpu_seconds_total"]
    );
    assert_eq!(
        recorded.into_iter().collect::<Vec<_>>(),
        ["hivesched:agents_total"]
    );
    let scrape = "# TYPE hivesched_ticks counter\n# TYPE hivesched_x histogram\n\
                  hivesched_ticks_total 3\n# EOF\n";
    let names = exposed(scrape);
    assert!(names.contains("hivesched_ticks_total") && !names.contains("hivesched_ticks"));
    assert!(names.contains("hivesched_x_bucket") && names.contains("hivesched_x_count"));
}
