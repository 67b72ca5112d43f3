//! The parameters a scenario can set, sweep in a matrix and test in rules: every target-app
//! flag and every load setting, with their types, ranges and defaults (target-app's own
//! defaults, pinned by a test against its `/debug/pool`).

use serde::{Deserialize, Serialize};

use crate::expr::Value;

/// Where a parameter goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// A target-app flag (managed targets only).
    App,
    /// A load setting.
    Load,
}

/// What values a parameter takes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    Int {
        min: i64,
        max: i64,
    },
    /// A positive number.
    Float,
    /// A duration: `"500ms"`, `"3s"`, or a number of seconds.
    Duration,
    /// Seconds (a number or a duration) or `"none"`.
    SecondsOrNone,
    Choice(&'static [&'static str]),
    /// `"MIN..MAX"` durations.
    Range,
}

/// One parameter.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    pub name: &'static str,
    pub section: Section,
    pub kind: Kind,
    /// The value used when the scenario sets none (`None`: unset unless given).
    pub default: Option<&'static str>,
    pub doc: &'static str,
}

const TEARDOWNS: &[&str] = &["shared", "separate", "inline"];
const STRATEGIES: &[&str] = &["table", "pooled-lo", "pooled-lotl", "identity", "same-conn"];

/// Every parameter, app first.
pub const PARAMS: &[Param] = &[
    Param {
        name: "threads",
        section: Section::App,
        kind: Kind::Int { min: 1, max: 4096 },
        default: Some("40"),
        doc: "bounded blocking pool size (Tn)",
    },
    Param {
        name: "pool_max",
        section: Section::App,
        kind: Kind::Int {
            min: 1,
            max: 10_000,
        },
        default: Some("10"),
        doc: "most connections in the pool",
    },
    Param {
        name: "pool_min",
        section: Section::App,
        kind: Kind::Int {
            min: 0,
            max: 10_000,
        },
        default: Some("0"),
        doc: "idle connections kept open",
    },
    Param {
        name: "acquire_timeout",
        section: Section::App,
        kind: Kind::SecondsOrNone,
        default: Some("30"),
        doc: "seconds to wait for a connection, or \"none\"",
    },
    Param {
        name: "teardown",
        section: Section::App,
        kind: Kind::Choice(TEARDOWNS),
        default: Some("shared"),
        doc: "where mode 1's teardown runs",
    },
    Param {
        name: "hold_ms",
        section: Section::App,
        kind: Kind::Int {
            min: 0,
            max: 60_000,
        },
        default: Some("1000"),
        doc: "ms a mode-1 handler holds its connection",
    },
    Param {
        name: "id_strategy",
        section: Section::App,
        kind: Kind::Choice(STRATEGIES),
        default: Some("table"),
        doc: "how mode 2 allocates ids",
    },
    Param {
        name: "id_block",
        section: Section::App,
        kind: Kind::Int {
            min: 1,
            max: 1_000_000,
        },
        default: Some("1000"),
        doc: "ids per block (pooled-lo, pooled-lotl)",
    },
    Param {
        name: "work_ms",
        section: Section::App,
        kind: Kind::Int {
            min: 0,
            max: 60_000,
        },
        default: Some("0"),
        doc: "ms of work on connection A before a mode-2 id is needed",
    },
    Param {
        name: "users",
        section: Section::Load,
        kind: Kind::Int {
            min: 1,
            max: 1_000_000,
        },
        default: None,
        doc: "closed model: users (default 10 unless rate)",
    },
    Param {
        name: "spawn_rate",
        section: Section::Load,
        kind: Kind::Float,
        default: None,
        doc: "closed model: users started per second",
    },
    Param {
        name: "wait",
        section: Section::Load,
        kind: Kind::Range,
        default: None,
        doc: "closed model: think time \"MIN..MAX\"",
    },
    Param {
        name: "rate",
        section: Section::Load,
        kind: Kind::Float,
        default: None,
        doc: "open model: requests started per second",
    },
    Param {
        name: "max_in_flight",
        section: Section::Load,
        kind: Kind::Int {
            min: 1,
            max: 1_000_000,
        },
        default: Some("1000"),
        doc: "open model: most requests in flight",
    },
    Param {
        name: "duration",
        section: Section::Load,
        kind: Kind::Duration,
        default: None,
        doc: "how long to send (default 10s unless requests)",
    },
    Param {
        name: "requests",
        section: Section::Load,
        kind: Kind::Int {
            min: 1,
            max: i64::MAX,
        },
        default: None,
        doc: "how many requests to send",
    },
    Param {
        name: "timeout",
        section: Section::Load,
        kind: Kind::Duration,
        default: Some("60s"),
        doc: "longest wait for one response",
    },
];

/// The parameter called `name`.
pub fn find(name: &str) -> Option<&'static Param> {
    PARAMS.iter().find(|p| p.name == name)
}

/// Every parameter name, for error messages.
pub fn names() -> Vec<&'static str> {
    PARAMS.iter().map(|p| p.name).collect()
}

/// A parameter's value, normalized.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ParamValue {
    Int(i64),
    Float(f64),
    Bool(bool),
    Text(String),
}

impl std::fmt::Display for ParamValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParamValue::Int(n) => write!(f, "{n}"),
            ParamValue::Float(x) => write!(f, "{x}"),
            ParamValue::Bool(b) => write!(f, "{b}"),
            ParamValue::Text(s) => f.write_str(s),
        }
    }
}

impl ParamValue {
    /// The value in a rule: numbers as numbers (durations in seconds), the rest as strings.
    pub fn to_expr(&self) -> Value {
        match self {
            ParamValue::Int(n) => Value::Num(*n as f64),
            ParamValue::Float(x) => Value::Num(*x),
            ParamValue::Bool(b) => Value::Bool(*b),
            ParamValue::Text(s) => match crate::duration::parse_duration(s) {
                Ok(d) if s.chars().next().is_some_and(|c| c.is_ascii_digit()) => {
                    Value::Num(d.as_secs_f64())
                }
                _ => Value::Str(s.clone()),
            },
        }
    }

    /// A free-form value (a `[vars]` entry) from TOML.
    pub fn from_toml(value: &toml::Value) -> Result<Self, String> {
        Ok(match value {
            toml::Value::Integer(n) => ParamValue::Int(*n),
            toml::Value::Float(x) => ParamValue::Float(*x),
            toml::Value::Boolean(b) => ParamValue::Bool(*b),
            toml::Value::String(s) => ParamValue::Text(s.clone()),
            other => {
                return Err(format!(
                    "expected a number, string or boolean, got {}",
                    other.type_str()
                ));
            }
        })
    }
}

impl Param {
    /// Checks and normalizes a TOML value for this parameter.
    pub fn normalize(&self, value: &toml::Value) -> Result<ParamValue, String> {
        let name = self.name;
        match self.kind {
            Kind::Int { min, max } => match value.as_integer() {
                Some(n) if (min..=max).contains(&n) => Ok(ParamValue::Int(n)),
                Some(n) => Err(format!("{name} must be from {min} to {max}, got {n}")),
                None => Err(format!("{name} must be a whole number, got {value}")),
            },
            Kind::Float => match value
                .as_float()
                .or_else(|| value.as_integer().map(|n| n as f64))
            {
                Some(x) if x.is_finite() && x > 0.0 => Ok(ParamValue::Float(x)),
                _ => Err(format!("{name} must be a positive number, got {value}")),
            },
            Kind::Duration => {
                let text = seconds_text(value)
                    .ok_or_else(|| format!("{name} must be a duration like \"3s\", got {value}"))?;
                crate::duration::parse_duration(&text).map_err(|e| format!("{name}: {e}"))?;
                Ok(ParamValue::Text(text))
            }
            Kind::SecondsOrNone => {
                if value.as_str() == Some("none") {
                    return Ok(ParamValue::Text("none".to_owned()));
                }
                let text = seconds_text(value)
                    .ok_or_else(|| format!("{name} must be seconds or \"none\", got {value}"))?;
                let d =
                    crate::duration::parse_duration(&text).map_err(|e| format!("{name}: {e}"))?;
                if d.is_zero() {
                    return Err(format!(
                        "{name} must be more than 0, or \"none\" to wait forever"
                    ));
                }
                Ok(ParamValue::Float(d.as_secs_f64()))
            }
            Kind::Choice(allowed) => match value.as_str() {
                Some(s) if allowed.contains(&s) => Ok(ParamValue::Text(s.to_owned())),
                _ => Err(format!(
                    "{name} must be one of {}, got {value}",
                    allowed.join(", ")
                )),
            },
            Kind::Range => match value.as_str() {
                Some(s) => {
                    let (min, max) = s.split_once("..").unwrap_or((s, s));
                    for part in [min, max] {
                        crate::duration::parse_duration(part)
                            .map_err(|e| format!("{name}: {e}"))?;
                    }
                    Ok(ParamValue::Text(s.to_owned()))
                }
                None => Err(format!(
                    "{name} must be \"MIN..MAX\" like \"100ms..500ms\", got {value}"
                )),
            },
        }
    }

    /// The default, normalized.
    pub fn default_value(&self) -> Option<ParamValue> {
        let text = self.default?;
        let value = text
            .parse::<i64>()
            .map(toml::Value::Integer)
            .unwrap_or_else(|_| toml::Value::String(text.to_owned()));
        Some(self.normalize(&value).expect("defaults are valid"))
    }

    /// `--flag value` for target-app.
    pub fn flag(&self, value: &ParamValue) -> [String; 2] {
        [
            format!("--{}", self.name.replace('_', "-")),
            value.to_string(),
        ]
    }
}

/// A number of seconds or a duration string, as duration text.
fn seconds_text(value: &toml::Value) -> Option<String> {
    match value {
        toml::Value::Integer(n) if *n >= 0 => Some(n.to_string()),
        toml::Value::Float(x) if *x >= 0.0 => Some(x.to_string()),
        toml::Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

/// Connections one mode-2 insert holds at once with an id strategy (HikariCP's Cm).
pub fn connections_per_request(id_strategy: &str) -> u32 {
    match id_strategy {
        "table" | "pooled-lo" | "pooled-lotl" => 2,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(name: &str, value: impl Into<toml::Value>) -> Result<ParamValue, String> {
        find(name).unwrap().normalize(&value.into())
    }

    #[test]
    fn values_are_checked_against_their_kind() {
        assert_eq!(
            norm("threads", toml::Value::Integer(8)),
            Ok(ParamValue::Int(8))
        );
        assert!(
            norm("threads", toml::Value::Integer(0))
                .unwrap_err()
                .contains("from 1 to 4096")
        );
        assert!(
            norm("teardown", "later")
                .unwrap_err()
                .contains("shared, separate, inline")
        );
        assert_eq!(
            norm("acquire_timeout", "none"),
            Ok(ParamValue::Text("none".into()))
        );
        assert_eq!(norm("acquire_timeout", "500ms"), Ok(ParamValue::Float(0.5)));
        assert_eq!(
            norm("acquire_timeout", toml::Value::Integer(2)),
            Ok(ParamValue::Float(2.0))
        );
        assert_eq!(norm("duration", "4s"), Ok(ParamValue::Text("4s".into())));
        assert!(norm("duration", "soon").is_err());
        assert!(norm("wait", "1s..x").is_err());
    }

    #[test]
    fn every_default_is_valid_and_flags_are_kebab_case() {
        for p in PARAMS {
            if let Some(v) = p.default_value() {
                assert!(!v.to_string().is_empty(), "{}", p.name);
            }
        }
        let p = find("pool_max").unwrap();
        assert_eq!(
            p.flag(&ParamValue::Int(4)),
            ["--pool-max".to_owned(), "4".to_owned()]
        );
    }

    #[test]
    fn durations_become_seconds_in_rules() {
        assert_eq!(ParamValue::Text("1500ms".into()).to_expr(), Value::Num(1.5));
        assert_eq!(
            ParamValue::Text("shared".into()).to_expr(),
            Value::Str("shared".into())
        );
    }
}
