//! Load settings as text and numbers, from flags or a scenario, validated into a
//! [`LoadPlan`]. Errors name the field so each caller can say `--users` or `users`.

use std::time::Duration;

use super::{LoadPlan, Model, Target, TaskSpec};
use crate::duration::parse_duration;

/// A load setting, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Users,
    SpawnRate,
    Wait,
    Rate,
    MaxInFlight,
    Duration,
    Requests,
    Timeout,
    StallWindow,
    Workers,
}

impl Field {
    /// The `poolstorm load` flag.
    pub fn flag(self) -> &'static str {
        match self {
            Field::Users => "--users",
            Field::SpawnRate => "--spawn-rate",
            Field::Wait => "--wait",
            Field::Rate => "--rate",
            Field::MaxInFlight => "--max-in-flight",
            Field::Duration => "--duration",
            Field::Requests => "--requests",
            Field::Timeout => "--timeout",
            Field::StallWindow => "--stall-window",
            Field::Workers => "--workers",
        }
    }

    /// The scenario key.
    pub fn key(self) -> &'static str {
        match self {
            Field::Users => "users",
            Field::SpawnRate => "spawn_rate",
            Field::Wait => "wait",
            Field::Rate => "rate",
            Field::MaxInFlight => "max_in_flight",
            Field::Duration => "duration",
            Field::Requests => "requests",
            Field::Timeout => "timeout",
            Field::StallWindow => "stall.window",
            Field::Workers => "workers",
        }
    }
}

/// A bad load setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", field.key())]
pub struct SettingsError {
    pub field: Field,
    pub message: String,
}

fn err(field: Field, message: impl Into<String>) -> SettingsError {
    SettingsError {
        field,
        message: message.into(),
    }
}

/// Users when neither users nor a rate is given.
pub const DEFAULT_USERS: u32 = 10;
/// Duration when neither a duration nor a request count is given.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);

/// Load settings before validation.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadSettings {
    pub users: Option<u32>,
    pub spawn_rate: Option<f64>,
    pub wait: Option<String>,
    pub rate: Option<f64>,
    pub max_in_flight: u32,
    pub duration: Option<String>,
    pub requests: Option<u64>,
    pub timeout: String,
    pub stall_window: String,
    pub workers: Option<usize>,
    pub seed: Option<u64>,
}

impl Default for LoadSettings {
    fn default() -> Self {
        Self {
            users: None,
            spawn_rate: None,
            wait: None,
            rate: None,
            max_in_flight: 1000,
            duration: None,
            requests: None,
            timeout: "60s".to_owned(),
            stall_window: "3s".to_owned(),
            workers: None,
            seed: None,
        }
    }
}

fn duration(field: Field, text: &str) -> Result<Duration, SettingsError> {
    parse_duration(text).map_err(|m| err(field, m))
}

fn positive(field: Field, text: &str) -> Result<Duration, SettingsError> {
    let d = duration(field, text)?;
    if d.is_zero() {
        Err(err(field, "must be more than 0"))
    } else {
        Ok(d)
    }
}

/// `MIN..MAX` or one value.
fn wait_range(text: &str) -> Result<(Duration, Duration), SettingsError> {
    let (min, max) = text.split_once("..").unwrap_or((text, text));
    let (min, max) = (duration(Field::Wait, min)?, duration(Field::Wait, max)?);
    if min > max {
        return Err(err(
            Field::Wait,
            format!("MIN ({min:?}) is more than MAX ({max:?})"),
        ));
    }
    Ok((min, max))
}

impl LoadSettings {
    fn model(&self) -> Result<Model, SettingsError> {
        if let Some(rate) = self.rate {
            if self.users.is_some() || self.spawn_rate.is_some() || self.wait.is_some() {
                return Err(err(
                    Field::Rate,
                    "an open model (rate) takes no users, spawn_rate or wait",
                ));
            }
            if !(rate.is_finite() && rate > 0.0) {
                return Err(err(
                    Field::Rate,
                    "must be a positive number of requests per second",
                ));
            }
            if self.max_in_flight == 0 {
                return Err(err(Field::MaxInFlight, "must be at least 1"));
            }
            return Ok(Model::Open {
                rate,
                max_in_flight: self.max_in_flight,
            });
        }
        let users = self.users.unwrap_or(DEFAULT_USERS);
        if users == 0 {
            return Err(err(Field::Users, "must be at least 1"));
        }
        if let Some(r) = self.spawn_rate.filter(|r| !(r.is_finite() && *r > 0.0)) {
            return Err(err(
                Field::SpawnRate,
                format!("must be a positive number of users per second, got {r}"),
            ));
        }
        let wait = self
            .wait
            .as_deref()
            .map(wait_range)
            .transpose()?
            .unwrap_or_default();
        Ok(Model::Closed {
            users,
            spawn_rate: self.spawn_rate,
            wait,
        })
    }

    /// Validates the settings into a plan for `target` and `tasks`.
    pub fn into_plan(
        self,
        target: Target,
        tasks: Vec<TaskSpec>,
    ) -> Result<LoadPlan, SettingsError> {
        let model = self.model()?;
        if self.requests == Some(0) {
            return Err(err(Field::Requests, "must be at least 1"));
        }
        let duration = match &self.duration {
            Some(text) => Some(positive(Field::Duration, text)?),
            None if self.requests.is_none() => Some(DEFAULT_DURATION),
            None => None,
        };
        let timeout = positive(Field::Timeout, &self.timeout)?;
        let stall_window = positive(Field::StallWindow, &self.stall_window)?;
        let cpus = std::thread::available_parallelism().map_or(2, usize::from);
        let mut workers = self.workers.unwrap_or(cpus);
        if !(1..=256).contains(&workers) {
            return Err(err(Field::Workers, "must be from 1 to 256"));
        }
        if let Model::Closed { users, .. } = model {
            workers = workers.min(users as usize);
        }
        Ok(LoadPlan {
            target,
            tasks,
            model,
            duration,
            requests: self.requests,
            timeout,
            workers,
            stall_window,
            seed: self.seed.unwrap_or_else(|| fastrand::u64(..)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(settings: LoadSettings) -> Result<LoadPlan, SettingsError> {
        let target = Target::parse("http://127.0.0.1:1/").unwrap();
        let task = TaskSpec::parse("GET /", std::path::Path::new(".")).unwrap();
        settings.into_plan(target, vec![task])
    }

    #[test]
    fn defaults_are_ten_users_for_ten_seconds() {
        let p = plan(LoadSettings::default()).unwrap();
        assert_eq!(
            p.model,
            Model::Closed {
                users: 10,
                spawn_rate: None,
                wait: (Duration::ZERO, Duration::ZERO)
            }
        );
        assert_eq!(p.duration, Some(DEFAULT_DURATION));
    }

    #[test]
    fn errors_name_the_field_both_ways() {
        let e = plan(LoadSettings {
            users: Some(0),
            ..LoadSettings::default()
        })
        .unwrap_err();
        assert_eq!((e.field.flag(), e.field.key()), ("--users", "users"));
        let e = plan(LoadSettings {
            rate: Some(5.0),
            users: Some(3),
            ..LoadSettings::default()
        })
        .unwrap_err();
        assert_eq!(e.field, Field::Rate);
        let e = plan(LoadSettings {
            wait: Some("2s..1s".into()),
            ..LoadSettings::default()
        })
        .unwrap_err();
        assert_eq!(e.field, Field::Wait);
    }
}
