//! A pool read from a service's own metrics: Prometheus text (parsed with `prometheus-parse`)
//! or a JSON document, through a [`Mapping`] from poolstorm's pool gauges to the service's
//! metric names. Presets hold the names real exporters emit (HikariCP through Micrometer or
//! its own Prometheus tracker, Go's database/sql collector, pgbouncer_exporter, target-app);
//! a scenario can also name them itself.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A gauge poolstorm reads from a pool.
///
/// Its `[pool]` key, its label in charts and the dashboard, and its place in the list all come
/// from this one definition.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Gauge {
    /// Connections lent out.
    InUse,
    /// Most connections the pool opens.
    Max,
    /// Callers waiting for a connection now.
    Waiting,
    /// Open connections not lent out.
    Idle,
    /// Connections open, in use or idle.
    Open,
    /// Request threads busy.
    ThreadsBusy,
    /// Request threads at most.
    ThreadsMax,
    /// Work queued for a request thread.
    ThreadsQueued,
    /// Acquires that gave up so far (a counter).
    Timeouts,
    /// Waits for a connection begun so far (a counter, where no waiting gauge exists).
    Waits,
}

impl Gauge {
    pub const ALL: &'static [Gauge] = <Gauge as strum::VariantArray>::VARIANTS;

    /// The key in a scenario's `[pool]` table.
    pub fn key(self) -> &'static str {
        self.into()
    }

    /// The gauge a `[pool]` key names.
    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|g| g.key() == key)
    }

    /// What charts and the dashboard call it where the service has no name of its own.
    pub fn label(self) -> &'static str {
        match self {
            Gauge::InUse => "pool in use",
            Gauge::Max => "pool max",
            Gauge::Waiting => "waiting for a connection",
            Gauge::Idle => "pool idle",
            Gauge::Open => "pool open",
            Gauge::ThreadsBusy => "blocking busy",
            Gauge::ThreadsMax => "blocking threads",
            Gauge::ThreadsQueued => "jobs queued",
            Gauge::Timeouts => "acquire timeouts",
            Gauge::Waits => "waits begun",
        }
    }

    /// The service's own name for it (`hikaricp_connections_active`) when it has one, else
    /// [`Gauge::label`].
    pub fn named(self, names: &super::GaugeNames) -> String {
        names
            .get(&self)
            .cloned()
            .unwrap_or_else(|| self.label().to_owned())
    }
}

impl fmt::Display for Gauge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// Where one gauge is read: metric names (the first that has a series wins), each series
/// picked by labels; or a JSON pointer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    Metric {
        names: Vec<String>,
        labels: Vec<(String, String)>,
    },
    Json(String),
}

/// Why a selector's text is not a selector: the text, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}`: {problem}")]
pub struct SelectorError {
    pub text: String,
    pub problem: String,
}

/// Why a scrape's body gives no reading.
#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    #[error("not Prometheus text: {0}")]
    Text(#[source] std::io::Error),
    #[error("no samples: not Prometheus text")]
    NoSamples,
    #[error("not JSON: {0}")]
    Json(#[source] serde_json::Error),
}

impl Selector {
    /// Parses `name`, `name{label="value",...}`, `a | b` (alternatives) or `json:/pointer`.
    pub fn parse(text: &str) -> Result<Self, SelectorError> {
        let text = text.trim();
        let bad = |problem: String| SelectorError {
            text: text.to_owned(),
            problem,
        };
        if let Some(pointer) = text.strip_prefix("json:") {
            if !(pointer.is_empty() || pointer.starts_with('/')) {
                return Err(bad(
                    "a JSON pointer starts with `/`, e.g. json:/pool/active".to_owned(),
                ));
            }
            return Ok(Selector::Json(pointer.to_owned()));
        }
        let (names, labels) = match text.split_once('{') {
            Some((names, rest)) => {
                let inner = rest
                    .strip_suffix('}')
                    .ok_or_else(|| bad("labels end with `}`".to_owned()))?;
                (names, parse_labels(inner, bad)?)
            }
            None => (text, Vec::new()),
        };
        let names: Vec<String> = names.split('|').map(|n| n.trim().to_owned()).collect();
        for name in &names {
            let valid = name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
            if !valid {
                return Err(bad(format!(
                    "`{name}` is not a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)"
                )));
            }
        }
        Ok(Selector::Metric { names, labels })
    }
}

/// `k="v", k2="v2"` with `\"`, `\\` and `\n` escapes; `bad` makes the error of a problem.
fn parse_labels(
    text: &str,
    bad: impl Fn(String) -> SelectorError,
) -> Result<Vec<(String, String)>, SelectorError> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let (key, after) = rest
            .split_once('=')
            .ok_or_else(|| bad(format!("expected label=\"value\" at `{rest}`")))?;
        let after = after
            .trim_start()
            .strip_prefix('"')
            .ok_or_else(|| bad(format!("the value of `{}` must be quoted", key.trim())))?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c)) => value.push(c),
                    None => return Err(bad("unterminated label value".to_owned())),
                },
                Some((i, '"')) => break i,
                Some((_, c)) => value.push(c),
                None => return Err(bad("unterminated label value".to_owned())),
            }
        };
        out.push((key.trim().to_owned(), value));
        rest = after[end + 1..].trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
    }
    Ok(out)
}

/// How to read each gauge of one pool.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Mapping {
    pub gauges: Vec<(Gauge, Selector)>,
    /// Pick one series where several match: a series matches when each of these labels it
    /// carries has this value.
    pub labels: Vec<(String, String)>,
}

impl Mapping {
    /// Whether it reads a JSON document (every selector a pointer) rather than metrics.
    pub fn is_json(&self) -> bool {
        self.gauges
            .iter()
            .all(|(_, s)| matches!(s, Selector::Json(_)))
    }

    /// Sets (or replaces) one gauge's selector.
    pub fn set(&mut self, gauge: Gauge, selector: Selector) {
        self.gauges.retain(|(g, _)| *g != gauge);
        self.gauges.push((gauge, selector));
    }
}

/// What one scrape gave: values by gauge, the metric (or pointer) each came from, and why a
/// gauge that was asked for is missing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reading {
    pub values: BTreeMap<Gauge, u64>,
    pub names: BTreeMap<Gauge, String>,
    pub missing: Vec<String>,
}

fn count(value: f64) -> Option<u64> {
    (value.is_finite() && value >= 0.0).then(|| value.round() as u64)
}

/// Reads `mapping`'s gauges from Prometheus text (0.0.4 or OpenMetrics).
pub fn read_text(body: &str, mapping: &Mapping) -> Result<Reading, ScrapeError> {
    let scrape = prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_owned())))
        .map_err(ScrapeError::Text)?;
    if scrape.samples.is_empty() {
        return Err(ScrapeError::NoSamples);
    }
    let mut reading = Reading::default();
    for (gauge, selector) in &mapping.gauges {
        let Selector::Metric { names, labels } = selector else {
            continue;
        };
        let matching = |name: &str| -> Vec<&prometheus_parse::Sample> {
            scrape
                .samples
                .iter()
                .filter(|s| s.metric == name)
                .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(v)))
                .filter(|s| {
                    mapping
                        .labels
                        .iter()
                        .all(|(k, v)| s.labels.get(k).is_none_or(|have| have == v))
                })
                .collect()
        };
        let Some((name, series)) = names
            .iter()
            .map(|n| (n, matching(n)))
            .find(|(_, series)| !series.is_empty())
        else {
            reading
                .missing
                .push(format!("{gauge}: no series of {}", names.join(" or ")));
            continue;
        };
        if series.len() > 1 {
            let which: Vec<String> = series.iter().map(|s| format!("{{{}}}", s.labels)).collect();
            reading.missing.push(format!(
                "{gauge}: {} series of {name} ({}); pick one with [pool] labels",
                series.len(),
                which.join(", ")
            ));
            continue;
        }
        let (prometheus_parse::Value::Counter(value)
        | prometheus_parse::Value::Gauge(value)
        | prometheus_parse::Value::Untyped(value)) = series[0].value
        else {
            reading
                .missing
                .push(format!("{gauge}: {name} is a histogram or summary"));
            continue;
        };
        if let Some(v) = count(value) {
            reading.values.insert(*gauge, v);
            reading.names.insert(*gauge, name.clone());
        }
    }
    Ok(reading)
}

/// Reads `mapping`'s gauges from a JSON document by pointer.
pub fn read_json(body: &[u8], mapping: &Mapping) -> Result<Reading, ScrapeError> {
    let doc: serde_json::Value = serde_json::from_slice(body).map_err(ScrapeError::Json)?;
    let mut reading = Reading::default();
    for (gauge, selector) in &mapping.gauges {
        let Selector::Json(pointer) = selector else {
            continue;
        };
        match doc
            .pointer(pointer)
            .and_then(serde_json::Value::as_f64)
            .and_then(count)
        {
            Some(v) => {
                reading.values.insert(*gauge, v);
                reading.names.insert(*gauge, format!("json:{pointer}"));
            }
            None => reading
                .missing
                .push(format!("{gauge}: no number at json:{pointer}")),
        }
    }
    Ok(reading)
}

/// A preset: a name, what it covers, and its mapping as `[pool]` keys would give it.
#[derive(Debug, Clone, Copy)]
pub struct Preset {
    pub name: &'static str,
    pub covers: &'static str,
    pub gauges: &'static [(Gauge, &'static str)],
}

/// The presets, with the names the exporters emit (looked up in their sources; each has a
/// test against recorded output, see `harness/tests/fixtures/metrics/`).
pub const PRESETS: &[Preset] = &[
    Preset {
        name: "hikaricp",
        covers: "HikariCP through Micrometer (Spring Boot /actuator/prometheus) or HikariCP's own \
                 Prometheus tracker; request threads from Tomcat's or Micrometer's executor gauges",
        gauges: &[
            (
                Gauge::InUse,
                "hikaricp_connections_active | hikaricp_active_connections",
            ),
            (
                Gauge::Max,
                "hikaricp_connections_max | hikaricp_max_connections",
            ),
            (
                Gauge::Waiting,
                "hikaricp_connections_pending | hikaricp_pending_threads",
            ),
            (
                Gauge::Idle,
                "hikaricp_connections_idle | hikaricp_idle_connections",
            ),
            (Gauge::Open, "hikaricp_connections"),
            (
                Gauge::Timeouts,
                "hikaricp_connections_timeout_total | hikaricp_connection_timeout_total",
            ),
            (
                Gauge::ThreadsBusy,
                "tomcat_threads_busy_threads | executor_active_threads",
            ),
            (
                Gauge::ThreadsMax,
                "tomcat_threads_config_max_threads | executor_pool_max_threads",
            ),
            (Gauge::ThreadsQueued, "executor_queued_tasks"),
        ],
    },
    Preset {
        name: "go-sql",
        covers: "Go's database/sql through client_golang's collectors.NewDBStatsCollector",
        gauges: &[
            (Gauge::InUse, "go_sql_in_use_connections"),
            (Gauge::Max, "go_sql_max_open_connections"),
            (Gauge::Idle, "go_sql_idle_connections"),
            (Gauge::Open, "go_sql_open_connections"),
            (Gauge::Waits, "go_sql_wait_count_total"),
        ],
    },
    Preset {
        name: "pgbouncer",
        covers: "pgbouncer through prometheus-community's pgbouncer_exporter",
        gauges: &[
            (Gauge::InUse, "pgbouncer_pools_server_active_connections"),
            (Gauge::Max, "pgbouncer_databases_pool_size"),
            (Gauge::Waiting, "pgbouncer_pools_client_waiting_connections"),
            (Gauge::Idle, "pgbouncer_pools_server_idle_connections"),
        ],
    },
    Preset {
        name: "target-app",
        covers: "target-app's own /metrics",
        gauges: &[
            (Gauge::InUse, contract::metrics::POOL_IN_USE),
            (Gauge::Max, contract::metrics::POOL_MAX),
            (Gauge::Waiting, contract::metrics::POOL_WAITING),
            (Gauge::Idle, contract::metrics::POOL_IDLE),
            (Gauge::Open, contract::metrics::POOL_OPEN),
            (
                Gauge::Timeouts,
                contract::metrics::POOL_ACQUIRE_TIMEOUTS_TOTAL,
            ),
            (Gauge::ThreadsBusy, contract::metrics::BLOCKING_BUSY),
            (Gauge::ThreadsMax, contract::metrics::BLOCKING_THREADS),
            (Gauge::ThreadsQueued, contract::metrics::BLOCKING_QUEUED),
        ],
    },
];

/// The preset called `name`.
pub fn preset(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name == name)
}

impl Preset {
    pub fn mapping(&self) -> Mapping {
        Mapping {
            gauges: self
                .gauges
                .iter()
                .map(|(g, text)| (*g, Selector::parse(text).expect("presets parse")))
                .collect(),
            labels: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_gauge_has_its_pool_key_and_a_label_from_one_definition() {
        let keys: Vec<&str> = Gauge::ALL.iter().map(|g| g.key()).collect();
        assert_eq!(
            keys,
            [
                "in_use",
                "max",
                "waiting",
                "idle",
                "open",
                "threads_busy",
                "threads_max",
                "threads_queued",
                "timeouts",
                "waits"
            ]
        );
        for &g in Gauge::ALL {
            assert_eq!(Gauge::from_key(g.key()), Some(g));
            assert_eq!(serde_json::to_value(g).unwrap(), g.key());
        }
        let names =
            super::super::GaugeNames::from([(Gauge::InUse, "hikaricp_connections_active".into())]);
        assert_eq!(Gauge::InUse.named(&names), "hikaricp_connections_active");
        assert_eq!(Gauge::Max.named(&names), "pool max");
    }

    #[test]
    fn selectors_parse_names_alternatives_labels_and_pointers() {
        assert_eq!(
            Selector::parse(r#"a_b | c{pool="Hikari \"1\"", x = "y,z"}"#),
            Ok(Selector::Metric {
                names: vec!["a_b".into(), "c".into()],
                labels: vec![
                    ("pool".into(), "Hikari \"1\"".into()),
                    ("x".into(), "y,z".into())
                ],
            })
        );
        assert_eq!(
            Selector::parse("json:/pool/in_use"),
            Ok(Selector::Json("/pool/in_use".into()))
        );
        assert!(Selector::parse("json:pool").is_err());
        assert!(
            Selector::parse("bad-name")
                .unwrap_err()
                .to_string()
                .contains("not a metric name")
        );
        assert!(Selector::parse(r#"a{pool="x"#).is_err());
        for p in PRESETS {
            let _ = p.mapping();
        }
    }

    #[test]
    fn one_series_is_read_and_several_need_labels() {
        let text = "# TYPE m gauge\nm{pool=\"a\"} 3\nm{pool=\"b\"} 5\nn 7.0\n";
        let mut mapping = Mapping {
            gauges: vec![
                (Gauge::InUse, Selector::parse("m").unwrap()),
                (Gauge::Max, Selector::parse("n").unwrap()),
            ],
            labels: Vec::new(),
        };
        let r = read_text(text, &mapping).unwrap();
        assert_eq!(r.values.get(&Gauge::Max), Some(&7));
        assert!(!r.values.contains_key(&Gauge::InUse));
        assert!(r.missing[0].contains("2 series of m"), "{:?}", r.missing);
        mapping.labels = vec![("pool".into(), "b".into())];
        let r = read_text(text, &mapping).unwrap();
        assert_eq!(
            (r.values.get(&Gauge::InUse), r.values.get(&Gauge::Max)),
            (Some(&5), Some(&7)),
            "a label picks one series; series without the label still match"
        );
        assert!(read_text("<html>oops</html>", &mapping).is_err());
    }

    #[test]
    fn json_pointers_read_numbers() {
        let mapping = Mapping {
            gauges: vec![
                (Gauge::InUse, Selector::parse("json:/pool/in_use").unwrap()),
                (
                    Gauge::Waiting,
                    Selector::parse("json:/pool/waiting").unwrap(),
                ),
            ],
            labels: Vec::new(),
        };
        let r = read_json(br#"{"pool": {"in_use": 4}}"#, &mapping).unwrap();
        assert_eq!(r.values.get(&Gauge::InUse), Some(&4));
        assert_eq!(
            r.names.get(&Gauge::InUse).map(String::as_str),
            Some("json:/pool/in_use")
        );
        assert_eq!(r.missing.len(), 1);
        assert!(read_json(b"garbage", &mapping).is_err());
    }
}
