//! Every load setting, defined once in [`SETTINGS`]: its name (the scenario key and the name
//! rules use), its flag, what values it takes, its default, its help text and its place in
//! `--help`. The `poolstorm load` flags ([`SettingArgs`]), the scenario's `[load]` parameters,
//! the defaults and the docs tables ([`markdown_table`]) all come from that table, and
//! [`resolve`] turns a set of values into a validated [`LoadPlan`] the same way for both.

use std::collections::BTreeMap;
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command};

use super::{LoadPlan, Model, Protocol, Target, TaskSpec, TlsSettings};
use crate::base::human::parse_duration;
use crate::base::param::{Kind, ParamValue};

/// The name of a load setting: the scenario key in `[load]`, the name in rules and `--set`,
/// and (in kebab case) the flag. [`SETTINGS`] holds one row per key, in this order.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[strum(serialize_all = "snake_case")]
pub enum Key {
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
    Seed,
    Http2,
    H2c,
    Streams,
    Cacert,
    Insecure,
    #[strum(serialize = "cert")]
    ClientCert,
    #[strum(serialize = "key")]
    ClientKey,
}

impl Key {
    /// Its name, as scenarios and rules write it.
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// Its row of [`SETTINGS`].
    pub fn setting(self) -> &'static Setting {
        &SETTINGS[self as usize]
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One load setting.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Setting {
    /// Its name: the scenario key in `[load]` and the name in rules and `--set`.
    pub key: Key,
    /// The `poolstorm load` flag: `--` and the name with `-` for `_`.
    pub flag: &'static str,
    pub value_name: &'static str,
    pub kind: Kind,
    /// The value used when none is given; `None`: unset (see `unset`).
    pub default: Option<&'static str>,
    /// What an unset value means, when there is no default.
    pub unset: &'static str,
    pub help: &'static str,
    /// The `--help` section.
    pub heading: &'static str,
    /// Where a scenario sets it when not in `[load]` (`[stall] window`).
    pub table: Option<(&'static str, &'static str)>,
    /// Settings it cannot be combined with.
    pub conflicts_with: &'static [Key],
    /// A setting it only makes sense with.
    pub requires: Option<Key>,
}

const MODEL: &str = "Load model";
const BOUNDS: &str = "Bounds";
const MEASURING: &str = "Measuring";
const PROTOCOL: &str = "Protocol and TLS";

/// Every load setting, in `--help` order.
pub const SETTINGS: &[Setting] = &[
    Setting {
        key: Key::Users,
        flag: "--users",
        value_name: "N",
        kind: Kind::Int {
            min: 1,
            max: 1_000_000,
        },
        default: None,
        unset: "10 unless rate",
        help: "Closed model: users that each send, wait for the answer, think, and repeat.",
        heading: MODEL,
        table: None,
        conflicts_with: &[Key::Rate],
        requires: None,
    },
    Setting {
        key: Key::SpawnRate,
        flag: "--spawn-rate",
        value_name: "R",
        kind: Kind::Float,
        default: None,
        unset: "all at once",
        help: "Closed model: users started per second.",
        heading: MODEL,
        table: None,
        conflicts_with: &[Key::Rate],
        requires: None,
    },
    Setting {
        key: Key::Wait,
        flag: "--wait",
        value_name: "MIN..MAX",
        kind: Kind::Range,
        default: None,
        unset: "0",
        help: "Closed model: think time between one user's requests, MIN..MAX or one value (e.g. 100ms..500ms).",
        heading: MODEL,
        table: None,
        conflicts_with: &[Key::Rate],
        requires: None,
    },
    Setting {
        key: Key::Rate,
        flag: "--rate",
        value_name: "RPS",
        kind: Kind::Float,
        default: None,
        unset: "none (closed model)",
        help: "Open model: requests started per second on a fixed schedule; latency counts from each request's intended start, and starts with every slot busy are counted as dropped.",
        heading: MODEL,
        table: None,
        conflicts_with: &[],
        requires: None,
    },
    Setting {
        key: Key::MaxInFlight,
        flag: "--max-in-flight",
        value_name: "N",
        kind: Kind::Int {
            min: 1,
            max: 1_000_000,
        },
        default: Some("1000"),
        unset: "",
        help: "Open model: most requests in flight at once (k6's maxVUs).",
        heading: MODEL,
        table: None,
        conflicts_with: &[],
        requires: Some(Key::Rate),
    },
    Setting {
        key: Key::Duration,
        flag: "--duration",
        value_name: "DURATION",
        kind: Kind::Duration,
        default: None,
        unset: "10s unless requests",
        help: "Stop starting requests after this long (e.g. 30s, 2m).",
        heading: BOUNDS,
        table: None,
        conflicts_with: &[],
        requires: None,
    },
    Setting {
        key: Key::Requests,
        flag: "--requests",
        value_name: "N",
        kind: Kind::Int {
            min: 1,
            max: i64::MAX,
        },
        default: None,
        unset: "no limit",
        help: "Stop after starting this many requests.",
        heading: BOUNDS,
        table: None,
        conflicts_with: &[],
        requires: None,
    },
    Setting {
        key: Key::Timeout,
        flag: "--timeout",
        value_name: "DURATION",
        kind: Kind::Duration,
        default: Some("60s"),
        unset: "",
        help: "Longest wait for one request's full response; then it counts as `timeout`.",
        heading: BOUNDS,
        table: None,
        conflicts_with: &[],
        requires: None,
    },
    Setting {
        key: Key::StallWindow,
        flag: "--stall-window",
        value_name: "DURATION",
        kind: Kind::Duration,
        default: Some("3s"),
        unset: "",
        help: "Report a stall when nothing completes for this long while requests are in flight.",
        heading: MEASURING,
        table: Some(("stall", "window")),
        conflicts_with: &[],
        requires: None,
    },
    Setting {
        key: Key::Workers,
        flag: "--workers",
        value_name: "N",
        kind: Kind::Int { min: 1, max: 256 },
        default: None,
        unset: "one per CPU",
        help: "Threads sending requests, each with its own event loop.",
        heading: MEASURING,
        table: None,
        conflicts_with: &[],
        requires: None,
    },
    Setting {
        key: Key::Seed,
        flag: "--seed",
        value_name: "N",
        kind: Kind::Uint,
        default: None,
        unset: "random",
        help: "Seed for task choice and think times.",
        heading: MEASURING,
        table: None,
        conflicts_with: &[],
        requires: None,
    },
    Setting {
        key: Key::Http2,
        flag: "--http2",
        value_name: "",
        kind: Kind::Bool,
        default: None,
        unset: "HTTP/1.1",
        help: "HTTP/2, negotiated by ALPN over TLS (https:// targets); the run fails if the server will not speak it.",
        heading: PROTOCOL,
        table: None,
        conflicts_with: &[Key::H2c],
        requires: None,
    },
    Setting {
        key: Key::H2c,
        flag: "--h2c",
        value_name: "",
        kind: Kind::Bool,
        default: None,
        unset: "HTTP/1.1",
        help: "HTTP/2 with prior knowledge over plain TCP (http:// targets).",
        heading: PROTOCOL,
        table: None,
        conflicts_with: &[],
        requires: None,
    },
    Setting {
        key: Key::Streams,
        flag: "--streams",
        value_name: "N",
        kind: Kind::Int { min: 1, max: 1000 },
        default: Some("1"),
        unset: "",
        help: "HTTP/2: requests in flight at once on one connection. Users (or open-model slots) share connections N to one, so each worker opens users / N of them (oha's -p, h2load's -m).",
        heading: PROTOCOL,
        table: None,
        conflicts_with: &[],
        requires: None,
    },
    Setting {
        key: Key::Cacert,
        flag: "--cacert",
        value_name: "FILE",
        kind: Kind::Path,
        default: None,
        unset: "the system's roots",
        help: "PEM file of the CA certificates that sign the server's certificate (a private CA), or of the server's own certificate (pinned: a self-signed one, CA:TRUE or not; its name is still checked), instead of the system's roots.",
        heading: PROTOCOL,
        table: None,
        conflicts_with: &[Key::Insecure],
        requires: None,
    },
    Setting {
        key: Key::Insecure,
        flag: "--insecure",
        value_name: "",
        kind: Kind::Bool,
        default: None,
        unset: "verify",
        help: "Do not verify the server's certificate (the report says so).",
        heading: PROTOCOL,
        table: None,
        conflicts_with: &[],
        requires: None,
    },
    Setting {
        key: Key::ClientCert,
        flag: "--cert",
        value_name: "FILE",
        kind: Kind::Path,
        default: None,
        unset: "none",
        help: "PEM file of a client certificate (chain) for mutual TLS; needs --key.",
        heading: PROTOCOL,
        table: None,
        conflicts_with: &[],
        requires: Some(Key::ClientKey),
    },
    Setting {
        key: Key::ClientKey,
        flag: "--key",
        value_name: "FILE",
        kind: Kind::Path,
        default: None,
        unset: "none",
        help: "PEM file of the client certificate's private key; needs --cert.",
        heading: PROTOCOL,
        table: None,
        conflicts_with: &[],
        requires: Some(Key::ClientCert),
    },
];

/// The setting called `name`.
pub fn find(name: &str) -> Option<&'static Setting> {
    name.parse::<Key>().ok().map(Key::setting)
}

impl Setting {
    /// Its name: the scenario key in `[load]`, the name in rules and `--set`.
    pub fn name(&self) -> &'static str {
        self.key.name()
    }

    /// The default, normalized.
    pub fn default_value(&self) -> Option<ParamValue> {
        self.default.map(|text| {
            self.kind
                .parse_text(text)
                .expect("defaults in the table are valid")
        })
    }

    /// Where a scenario writes it: `users`, or `[stall] window`.
    pub fn scenario_key(&self) -> String {
        match self.table {
            Some((table, key)) => format!("[{table}] {key}"),
            None => self.name().to_owned(),
        }
    }

    /// Its default as docs show it.
    pub fn default_text(&self) -> &'static str {
        self.default.unwrap_or(self.unset)
    }

    /// Its `poolstorm load` argument.
    fn arg(&self) -> Arg {
        if self.kind == Kind::Bool {
            return Arg::new(self.name())
                .long(&self.flag[2..])
                .help_heading(self.heading)
                .action(ArgAction::SetTrue)
                .help(self.help)
                .conflicts_with_all(self.conflicts());
        }
        let mut arg = Arg::new(self.name())
            .long(&self.flag[2..])
            .value_name(self.value_name)
            .help_heading(self.heading)
            .allow_hyphen_values(true)
            .action(ArgAction::Set)
            .conflicts_with_all(self.conflicts());
        arg = match self.default {
            Some(default) => arg.help(self.help).default_value(default),
            None => arg.help(format!("{} [default: {}]", self.help, self.unset)),
        };
        match self.requires {
            Some(other) => arg.requires(other.name()),
            None => arg,
        }
    }

    /// The names of the settings it cannot be combined with.
    fn conflicts(&self) -> impl Iterator<Item = &'static str> {
        self.conflicts_with.iter().map(|k| k.name())
    }
}

/// A bad load setting, naming it, and keeping the error beneath when there is one.
#[derive(Debug, thiserror::Error)]
#[error("{}: {message}", setting.name())]
pub struct SettingsError {
    pub setting: &'static Setting,
    pub message: String,
    #[source]
    pub cause: Option<Box<dyn std::error::Error + Send + Sync>>,
}

fn err(key: Key, message: impl Into<String>) -> SettingsError {
    SettingsError {
        setting: key.setting(),
        message: message.into(),
        cause: None,
    }
}

/// Setting `key` is bad because of `cause`; `about` (a value, a path) comes first in the words.
fn because(
    key: Key,
    about: Option<&dyn std::fmt::Display>,
    cause: impl std::error::Error + Send + Sync + 'static,
) -> SettingsError {
    SettingsError {
        setting: key.setting(),
        message: match about {
            Some(about) => format!("{about}: {cause}"),
            None => cause.to_string(),
        },
        cause: Some(Box::new(cause)),
    }
}

/// The `poolstorm load` flags of every setting, as given on the command line (defaults are
/// applied by [`resolve`], from the same table).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SettingArgs {
    given: BTreeMap<Key, String>,
}

impl SettingArgs {
    /// Checks every given flag's text; an error names the flag.
    pub fn values(&self) -> Result<BTreeMap<Key, ParamValue>, SettingsError> {
        self.given
            .iter()
            .map(|(&key, text)| {
                key.setting()
                    .kind
                    .parse_text(text)
                    .map(|v| (key, v))
                    .map_err(|cause| because(key, Some(&format_args!("`{text}`")), cause))
            })
            .collect()
    }
}

impl clap::FromArgMatches for SettingArgs {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut args = Self::default();
        args.update_from_arg_matches(matches)?;
        Ok(args)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        for s in SETTINGS {
            let name = s.name();
            if matches.value_source(name) != Some(ValueSource::CommandLine) {
                continue;
            }
            if s.kind == Kind::Bool {
                self.given.insert(s.key, matches.get_flag(name).to_string());
            } else if let Some(text) = matches.get_one::<String>(name) {
                self.given.insert(s.key, text.clone());
            }
        }
        Ok(())
    }
}

impl clap::Args for SettingArgs {
    fn augment_args(cmd: Command) -> Command {
        SETTINGS.iter().fold(cmd, |cmd, s| cmd.arg(s.arg()))
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

/// Users when neither users nor a rate is given.
pub const DEFAULT_USERS: u32 = 10;
/// Duration when neither a duration nor a request count is given.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);

/// The value of a setting that has a default: `key`'s, or an error naming it should the table
/// lose its default.
fn required<T>(key: Key, value: Option<T>) -> Result<T, SettingsError> {
    value.ok_or_else(|| err(key, "needs a value"))
}

/// Validates the settings `value` gives (by key; the table's default where it gives none)
/// into a plan for `target` and `tasks`.
pub fn resolve(
    value: &dyn Fn(Key) -> Option<ParamValue>,
    target: Target,
    tasks: Vec<TaskSpec>,
) -> Result<LoadPlan, SettingsError> {
    let get = |key: Key| value(key).or_else(|| key.setting().default_value());
    let int = |key: Key| get(key).and_then(|v| v.as_int());
    let float = |key: Key| get(key).and_then(|v| v.as_f64());
    let duration = |key: Key| -> Result<Option<Duration>, SettingsError> {
        get(key)
            .map(|v| {
                parse_duration(&v.to_string())
                    .map_err(|cause| because(key, None, cause))
                    .and_then(|d| {
                        if d.is_zero() {
                            Err(err(key, "must be more than 0"))
                        } else {
                            Ok(d)
                        }
                    })
            })
            .transpose()
    };
    let model = model(&get, int, float)?;
    let requests = int(Key::Requests).map(|n| n as u64);
    let duration_limit = match duration(Key::Duration)? {
        Some(d) => Some(d),
        None if requests.is_none() => Some(DEFAULT_DURATION),
        None => None,
    };
    let timeout = required(Key::Timeout, duration(Key::Timeout)?)?;
    let stall_window = required(Key::StallWindow, duration(Key::StallWindow)?)?;
    let cpus = std::thread::available_parallelism().map_or(2, usize::from);
    let mut workers = int(Key::Workers).map_or(cpus, |n| n as usize);
    if let Model::Closed { users, .. } = model {
        workers = workers.min(users as usize);
    }
    let seed = get(Key::Seed)
        .and_then(|v| v.to_string().parse::<u64>().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    let (protocol, tls) = protocol(&get, &target)?;
    Ok(LoadPlan {
        target,
        tasks,
        model,
        duration: duration_limit,
        requests,
        timeout,
        workers,
        stall_window,
        seed,
        protocol,
        tls,
    })
}

/// The protocol and TLS settings, checked against the target's scheme; files must exist.
fn protocol(
    get: &dyn Fn(Key) -> Option<ParamValue>,
    target: &Target,
) -> Result<(Protocol, TlsSettings), SettingsError> {
    let on = |key: Key| matches!(get(key), Some(ParamValue::Bool(true)));
    let file = |key: Key| -> Result<Option<std::path::PathBuf>, SettingsError> {
        let Some(path) = get(key).map(|v| std::path::PathBuf::from(v.to_string())) else {
            return Ok(None);
        };
        std::fs::metadata(&path).map_err(|e| because(key, Some(&path.display()), e))?;
        Ok(Some(path))
    };
    let streams = required(Key::Streams, get(Key::Streams).and_then(|v| v.as_int()))? as u32;
    let protocol = match (on(Key::Http2), on(Key::H2c)) {
        (true, true) => return Err(err(Key::H2c, "cannot be used with http2: choose one")),
        (true, false) if !target.tls => {
            return Err(err(
                Key::Http2,
                "negotiates HTTP/2 over TLS: use an https:// URL, or h2c for http://",
            ));
        }
        (false, true) if target.tls => {
            return Err(err(
                Key::H2c,
                "is HTTP/2 over plain TCP: use an http:// URL, or http2 for https://",
            ));
        }
        (true, false) => Protocol::Http2 { streams },
        (false, true) => Protocol::H2c { streams },
        (false, false) => Protocol::Http1,
    };
    if protocol == Protocol::Http1 && streams > 1 {
        return Err(err(
            Key::Streams,
            "is for HTTP/2 (http2 or h2c); HTTP/1.1 sends one request at a time per connection",
        ));
    }
    let tls = TlsSettings {
        cacert: file(Key::Cacert)?,
        insecure: on(Key::Insecure),
        cert: file(Key::ClientCert)?,
        key: file(Key::ClientKey)?,
    };
    if !target.tls
        && let Some(key) = [Key::Cacert, Key::Insecure, Key::ClientCert, Key::ClientKey]
            .into_iter()
            .find(|&k| get(k).is_some())
    {
        return Err(err(key, "applies to https:// targets only"));
    }
    if tls.cert.is_some() != tls.key.is_some() {
        let missing = if tls.cert.is_some() {
            Key::ClientKey
        } else {
            Key::ClientCert
        };
        return Err(err(missing, "a client certificate needs both cert and key"));
    }
    if tls.insecure && tls.cacert.is_some() {
        return Err(err(Key::Insecure, "cannot be used with cacert: choose one"));
    }
    Ok((protocol, tls))
}

/// The closed or open model the values describe.
fn model(
    get: &dyn Fn(Key) -> Option<ParamValue>,
    int: impl Fn(Key) -> Option<i64>,
    float: impl Fn(Key) -> Option<f64>,
) -> Result<Model, SettingsError> {
    if let Some(rate) = float(Key::Rate) {
        if let Some(closed) = [Key::Users, Key::SpawnRate, Key::Wait]
            .into_iter()
            .find(|&k| get(k).is_some())
        {
            return Err(err(
                closed,
                "cannot be used with rate: an open model takes no users, spawn_rate or wait",
            ));
        }
        let max_in_flight = required(Key::MaxInFlight, int(Key::MaxInFlight))? as u32;
        return Ok(Model::Open {
            rate,
            max_in_flight,
        });
    }
    let users = int(Key::Users).map_or(DEFAULT_USERS, |n| n as u32);
    let wait = match get(Key::Wait) {
        Some(range) => {
            let text = range.to_string();
            let (min, max) = text.split_once("..").unwrap_or((&text, &text));
            (
                parse_duration(min).map_err(|cause| because(Key::Wait, None, cause))?,
                parse_duration(max).map_err(|cause| because(Key::Wait, None, cause))?,
            )
        }
        None => (Duration::ZERO, Duration::ZERO),
    };
    Ok(Model::Closed {
        users,
        spawn_rate: float(Key::SpawnRate),
        wait,
    })
}

/// The Markdown table of every setting, as README.md and scenarios/README.md show it (a test
/// keeps both in step with [`SETTINGS`]).
pub fn markdown_table() -> String {
    let mut out =
        String::from("| scenario key | flag | type | default | meaning |\n|---|---|---|---|---|\n");
    for s in SETTINGS {
        out.push_str(&format!(
            "| `{}` | `{}` | {} | {} | {} |\n",
            s.scenario_key(),
            s.flag,
            s.kind.describe(),
            s.default_text(),
            s.help.replace('|', "\\|")
        ));
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A plan of `GET /` against 127.0.0.1:1 with these settings (as text), for unit tests.
    pub(crate) fn plan(values: &[(&str, &str)]) -> Result<LoadPlan, SettingsError> {
        let values: BTreeMap<Key, ParamValue> = values
            .iter()
            .map(|(k, v)| {
                let key: Key = k.parse().unwrap();
                (key, key.setting().kind.parse_text(v).unwrap())
            })
            .collect();
        let target = Target::parse("http://127.0.0.1:1/").unwrap();
        let task = TaskSpec::parse("GET /", std::path::Path::new(".")).unwrap();
        resolve(&|key| values.get(&key).cloned(), target, vec![task])
    }

    #[test]
    fn defaults_are_ten_users_for_ten_seconds() {
        let p = plan(&[]).unwrap();
        assert_eq!(
            p.model,
            Model::Closed {
                users: 10,
                spawn_rate: None,
                wait: (Duration::ZERO, Duration::ZERO)
            }
        );
        assert_eq!(p.duration, Some(DEFAULT_DURATION));
        assert_eq!(
            (p.timeout, p.stall_window),
            (Duration::from_secs(60), Duration::from_secs(3))
        );
        let p = plan(&[("requests", "5")]).unwrap();
        assert_eq!((p.duration, p.requests), (None, Some(5)));
    }

    #[test]
    fn an_open_model_refuses_closed_model_settings_by_name() {
        let e = plan(&[("rate", "5"), ("users", "3")]).unwrap_err();
        assert_eq!(e.setting.flag, "--users");
        let p = plan(&[("rate", "5")]).unwrap();
        assert_eq!(
            p.model,
            Model::Open {
                rate: 5.0,
                max_in_flight: 1000
            }
        );
    }

    #[test]
    fn every_key_has_its_row_and_every_flag_is_its_name_in_kebab_case_with_a_valid_default() {
        use strum::VariantArray as _;
        assert_eq!(SETTINGS.len(), Key::VARIANTS.len());
        for (&key, s) in Key::VARIANTS.iter().zip(SETTINGS) {
            assert_eq!(s.key, key, "SETTINGS is in Key's order");
            assert_eq!(find(key.name()), Some(s));
            assert_eq!(s.flag, format!("--{}", s.name().replace('_', "-")));
            assert!(s.default.is_some() || !s.unset.is_empty(), "{key}");
            let _ = s.default_value();
        }
    }

    #[test]
    fn bad_text_names_the_flag() {
        let args = SettingArgs {
            given: BTreeMap::from([(Key::Users, "0".to_owned())]),
        };
        let e = args.values().unwrap_err();
        assert_eq!(e.setting.flag, "--users");
        assert!(e.message.contains("from 1 to"), "{}", e.message);
    }
}
