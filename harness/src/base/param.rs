//! Parameter values and their kinds, shared by the load settings (flags and `[load]`) and
//! target-app's settings (`[app]`): what values a parameter takes, and checking a value from a
//! flag's text or a scenario's TOML into one normalized [`ParamValue`].

use serde::{Deserialize, Serialize};

use crate::base::expr::Value;
use crate::base::human::{DurationError, parse_duration};

/// Why a value is not one a parameter takes. The words do not name the parameter: callers add
/// the flag, key or `file:line:col`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParamError {
    #[error("must be from {min} to {max}, got {got}")]
    OutOfRange { min: i64, max: i64, got: i64 },
    #[error("must be {expected}, got {got}")]
    Expected { expected: String, got: String },
    #[error("expected a number, string or boolean, got {0}")]
    NotScalar(&'static str),
    #[error("must be more than 0{or}")]
    Zero { or: &'static str },
    #[error(transparent)]
    Duration(#[from] DurationError),
    #[error("MIN ({}) is more than MAX ({})", humantime::format_duration(*.min), humantime::format_duration(*.max))]
    Reversed {
        min: std::time::Duration,
        max: std::time::Duration,
    },
}

/// `got` is not `expected`.
fn expected(expected: impl Into<String>, got: &toml::Value) -> ParamError {
    ParamError::Expected {
        expected: expected.into(),
        got: got.to_string(),
    }
}

/// What values a parameter takes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// A whole number in `min..=max`.
    Int { min: i64, max: i64 },
    /// Any whole number from 0 to `u64::MAX` (a seed).
    Uint,
    /// A positive number.
    Float,
    /// A duration above 0: `"500ms"`, `"3s"`, or a number of seconds.
    Duration,
    /// Seconds (a number or a duration) above 0, or `"none"`.
    SecondsOrNone,
    /// One of these names.
    Choice(&'static [&'static str]),
    /// `"MIN..MAX"` durations, or one duration.
    Range,
    /// On or off: a flag without a value on the command line, `true`/`false` in a scenario.
    Bool,
    /// A file's path (relative to the working directory; in a scenario, to its file).
    Path,
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
            ParamValue::Text(s) => match parse_duration(s) {
                Ok(d) if s.chars().next().is_some_and(|c| c.is_ascii_digit()) => {
                    Value::Num(d.as_secs_f64())
                }
                _ => Value::Str(s.clone()),
            },
        }
    }

    /// A free-form value (a `[vars]` entry) from TOML.
    pub fn from_toml(value: &toml::Value) -> Result<Self, ParamError> {
        Ok(match value {
            toml::Value::Integer(n) => ParamValue::Int(*n),
            toml::Value::Float(x) => ParamValue::Float(*x),
            toml::Value::Boolean(b) => ParamValue::Bool(*b),
            toml::Value::String(s) => ParamValue::Text(s.clone()),
            other => {
                return Err(ParamError::NotScalar(other.type_str()));
            }
        })
    }

    /// A value typed on a command line: a whole number, a number, or text.
    pub fn from_text(text: &str) -> toml::Value {
        text.parse::<i64>()
            .map(toml::Value::Integer)
            .or_else(|_| text.parse::<f64>().map(toml::Value::Float))
            .unwrap_or_else(|_| toml::Value::String(text.to_owned()))
    }

    /// A whole number, if it is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            ParamValue::Int(n) => Some(*n),
            _ => None,
        }
    }

    /// A number (whole or not), if it is one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            ParamValue::Int(n) => Some(*n as f64),
            ParamValue::Float(x) => Some(*x),
            _ => None,
        }
    }
}

impl Kind {
    /// What values it takes, as the docs tables say it.
    pub fn describe(&self) -> String {
        match *self {
            Kind::Int { min, max } if max == i64::MAX => format!("{min}.."),
            Kind::Int { min, max } => format!("{min}..{max}"),
            Kind::Uint => "0..".to_owned(),
            Kind::Float => "number > 0".to_owned(),
            Kind::Duration => "duration".to_owned(),
            Kind::SecondsOrNone => "seconds or `\"none\"`".to_owned(),
            Kind::Choice(names) => names
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", "),
            Kind::Range => "`\"MIN..MAX\"`".to_owned(),
            Kind::Bool => "`true` or `false`".to_owned(),
            Kind::Path => "file".to_owned(),
        }
    }

    /// Checks and normalizes a TOML value; the message does not name the parameter (callers
    /// add the flag, key or `file:line:col`).
    pub fn normalize(&self, value: &toml::Value) -> Result<ParamValue, ParamError> {
        match *self {
            Kind::Int { min, max } => match value.as_integer() {
                Some(n) if (min..=max).contains(&n) => Ok(ParamValue::Int(n)),
                Some(got) => Err(ParamError::OutOfRange { min, max, got }),
                None => Err(expected("a whole number", value)),
            },
            Kind::Uint => match value {
                toml::Value::Integer(n) if *n >= 0 => Ok(ParamValue::Int(*n)),
                toml::Value::String(s) if s.parse::<u64>().is_ok() => {
                    Ok(ParamValue::Text(s.clone()))
                }
                _ => Err(expected(
                    format!("a whole number from 0 to {}", u64::MAX),
                    value,
                )),
            },
            Kind::Float => match value
                .as_float()
                .or_else(|| value.as_integer().map(|n| n as f64))
            {
                Some(x) if x.is_finite() && x > 0.0 => Ok(ParamValue::Float(x)),
                _ => Err(expected("a positive number", value)),
            },
            Kind::Duration => {
                let text =
                    seconds_text(value).ok_or_else(|| expected("a duration like \"3s\"", value))?;
                if parse_duration(&text)?.is_zero() {
                    return Err(ParamError::Zero { or: "" });
                }
                Ok(ParamValue::Text(text))
            }
            Kind::SecondsOrNone => {
                if value.as_str() == Some("none") {
                    return Ok(ParamValue::Text("none".to_owned()));
                }
                let text =
                    seconds_text(value).ok_or_else(|| expected("seconds or \"none\"", value))?;
                let d = parse_duration(&text)?;
                if d.is_zero() {
                    return Err(ParamError::Zero {
                        or: ", or \"none\" to wait forever",
                    });
                }
                Ok(ParamValue::Float(d.as_secs_f64()))
            }
            Kind::Choice(allowed) => match value.as_str() {
                Some(s) if allowed.contains(&s) => Ok(ParamValue::Text(s.to_owned())),
                _ => Err(expected(format!("one of {}", allowed.join(", ")), value)),
            },
            Kind::Range => match value.as_str() {
                Some(s) => {
                    let (min, max) = s.split_once("..").unwrap_or((s, s));
                    let (min, max) = (parse_duration(min)?, parse_duration(max)?);
                    if min > max {
                        return Err(ParamError::Reversed { min, max });
                    }
                    Ok(ParamValue::Text(s.to_owned()))
                }
                None => Err(expected("\"MIN..MAX\" like \"100ms..500ms\"", value)),
            },
            Kind::Bool => match value {
                toml::Value::Boolean(b) => Ok(ParamValue::Bool(*b)),
                toml::Value::String(s) if s == "true" || s == "false" => {
                    Ok(ParamValue::Bool(s == "true"))
                }
                _ => Err(expected("true or false", value)),
            },
            Kind::Path => match value.as_str() {
                Some(s) if !s.is_empty() => Ok(ParamValue::Text(s.to_owned())),
                _ => Err(expected("a file's path", value)),
            },
        }
    }

    /// Checks and normalizes a value typed on a command line (`--users 8`, `--set wait=1s`).
    pub fn parse_text(&self, text: &str) -> Result<ParamValue, ParamError> {
        let value = match self {
            // Kept as typed: "1.0" is not a whole number, and "5" is five seconds.
            Kind::Duration | Kind::Range | Kind::Choice(_) | Kind::Path | Kind::Bool => {
                toml::Value::String(text.to_owned())
            }
            Kind::Uint => match text.parse::<i64>() {
                Ok(n) => toml::Value::Integer(n),
                Err(_) => toml::Value::String(text.to_owned()),
            },
            _ => ParamValue::from_text(text),
        };
        self.normalize(&value)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_against_their_kind() {
        let int = Kind::Int { min: 1, max: 4096 };
        assert_eq!(int.parse_text("8"), Ok(ParamValue::Int(8)));
        assert!(
            int.parse_text("0")
                .unwrap_err()
                .to_string()
                .contains("from 1 to 4096")
        );
        let choice = Kind::Choice(&["shared", "separate", "inline"]);
        assert!(
            choice
                .parse_text("later")
                .unwrap_err()
                .to_string()
                .contains("shared, separate, inline")
        );
        assert_eq!(
            Kind::SecondsOrNone.parse_text("none"),
            Ok(ParamValue::Text("none".into()))
        );
        assert_eq!(
            Kind::SecondsOrNone.parse_text("500ms"),
            Ok(ParamValue::Float(0.5))
        );
        assert_eq!(
            Kind::SecondsOrNone.normalize(&toml::Value::Integer(2)),
            Ok(ParamValue::Float(2.0))
        );
        assert_eq!(
            Kind::Duration.parse_text("4s"),
            Ok(ParamValue::Text("4s".into()))
        );
        assert!(Kind::Duration.parse_text("soon").is_err());
        assert!(Kind::Duration.parse_text("0s").is_err());
        assert!(Kind::Range.parse_text("1s..x").is_err());
        assert!(
            Kind::Range
                .parse_text("2s..1s")
                .unwrap_err()
                .to_string()
                .contains("MIN")
        );
        assert_eq!(
            Kind::Uint.parse_text("18446744073709551615"),
            Ok(ParamValue::Text("18446744073709551615".into()))
        );
        assert!(Kind::Float.parse_text("-5").is_err());
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
