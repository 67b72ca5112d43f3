//! What became of one request: outcome kinds counted apart on the hot path ([`Kind`]), and
//! the typed outcomes reports count ([`OutcomeKey`], [`Outcomes`]): a kind, with the status
//! code for HTTP errors.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// The class of a finished request.
///
/// The names (in reports, `--fail-if` and the CSV) come from this one definition, as do the
/// iteration order ([`Kind::ALL`]) and the counter arrays' indexes.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Kind {
    /// A 2xx response.
    Ok,
    /// Any other HTTP status (counted by code as `http_<code>`).
    Http,
    /// A response whose JSON `error` is `pool_timeout` (the target's pool gave up).
    PoolTimeout,
    /// No full response within `--timeout`.
    Timeout,
    /// Connection refused, reset or closed before a response.
    Connect,
    /// Anything else (a malformed response, for one).
    Other,
    /// Cut off by Ctrl-C / SIGTERM while in flight.
    Aborted,
    /// The server's certificate is signed by no CA poolstorm trusts.
    CertUnknownIssuer,
    /// The server's certificate has expired (or is not valid yet).
    CertExpired,
    /// The server's certificate is not for the host name (or IP) asked for.
    CertWrongName,
    /// Any other TLS failure: a handshake the server refused (a client certificate it wants),
    /// a protocol it does not speak.
    Tls,
    /// HTTP/2: the server sent GOAWAY and the request could not go again.
    #[serde(rename = "goaway")]
    #[strum(serialize = "goaway")]
    GoAway,
    /// HTTP/2: the server reset the request's stream.
    StreamReset,
}

impl Kind {
    /// Every kind, in report order.
    pub const ALL: &'static [Kind] = <Kind as strum::VariantArray>::VARIANTS;

    /// Position in [`Kind::ALL`], for counter arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The name used in reports and `--fail-if`.
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// The timeline column it is counted in.
    pub fn family(self) -> Family {
        match self {
            Kind::Ok => Family::Ok,
            Kind::Http => Family::Http,
            Kind::PoolTimeout => Family::PoolTimeout,
            Kind::Timeout => Family::Timeout,
            Kind::Connect => Family::Connect,
            Kind::Other => Family::Other,
            Kind::Aborted => Family::Aborted,
            Kind::CertUnknownIssuer | Kind::CertExpired | Kind::CertWrongName | Kind::Tls => {
                Family::Tls
            }
            Kind::GoAway | Kind::StreamReset => Family::H2,
        }
    }

    /// A TLS failure (certificate or handshake).
    pub fn is_tls(self) -> bool {
        self.family() == Family::Tls
    }

    /// An HTTP/2 failure (GOAWAY, stream reset).
    pub fn is_h2(self) -> bool {
        self.family() == Family::H2
    }
}

/// The columns a timeline counts finished requests in, a second at a time: each [`Kind`], but
/// the TLS failures together and the HTTP/2 ones together.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::VariantArray,
)]
#[strum(serialize_all = "snake_case")]
pub enum Family {
    Ok,
    Http,
    PoolTimeout,
    Timeout,
    Connect,
    Other,
    Aborted,
    /// Certificates and handshakes.
    Tls,
    /// GOAWAYs and stream resets.
    H2,
}

impl Family {
    /// Every family, in report order.
    pub const ALL: &'static [Family] = <Family as strum::VariantArray>::VARIANTS;

    /// The name of its timeline column.
    pub fn name(self) -> &'static str {
        self.into()
    }
}

/// Finished requests counted by [`Family`]; in JSON, a field per family named after it (a
/// missing one is 0, an unknown one is skipped).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Families([u64; Family::ALL.len()]);

impl std::ops::Index<Family> for Families {
    type Output = u64;
    fn index(&self, family: Family) -> &u64 {
        &self.0[family as usize]
    }
}

impl std::ops::IndexMut<Family> for Families {
    fn index_mut(&mut self, family: Family) -> &mut u64 {
        &mut self.0[family as usize]
    }
}

impl Families {
    /// Adds another's counts.
    pub fn add(&mut self, other: &Families) {
        for (mine, theirs) in self.0.iter_mut().zip(other.0) {
            *mine += theirs;
        }
    }
}

impl Serialize for Families {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut map = serializer.serialize_map(Some(Family::ALL.len()))?;
        for &family in Family::ALL {
            map.serialize_entry(family.name(), &self[family])?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Families {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Families;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("counts by outcome family")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Families, A::Error> {
                let mut counts = Families::default();
                while let Some(name) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    match name.parse::<Family>() {
                        Ok(family) => counts[family] = map.next_value()?,
                        Err(_) => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(counts)
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

/// One finished request: its kind and, when a response came, its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub kind: Kind,
    pub status: Option<u16>,
}

impl Outcome {
    pub fn no_response(kind: Kind) -> Self {
        Self { kind, status: None }
    }

    /// Classifies a response by status and (for non-2xx) the start of its body.
    pub fn from_response(status: u16, body_head: &[u8]) -> Self {
        let kind = if (200..300).contains(&status) {
            Kind::Ok
        } else if error_code(body_head) == Some(contract::ErrorCode::PoolTimeout.as_str()) {
            Kind::PoolTimeout
        } else {
            Kind::Http
        };
        Self {
            kind,
            status: Some(status),
        }
    }
}

/// The `error` field of a JSON error body, if it has one (`contract::ErrorBody`).
fn error_code(body: &[u8]) -> Option<&str> {
    // Cheap scan first: most bodies are not ours, and parsing JSON per error is not free.
    let text = std::str::from_utf8(body).ok()?;
    let at = text.find("\"error\"")?;
    let rest = text[at + 7..]
        .trim_start()
        .strip_prefix(':')?
        .trim_start()
        .strip_prefix('"')?;
    rest.split('"').next()
}

/// An outcome as reports count it: a kind, with the status code for HTTP errors. Shown as
/// the kind's name (`ok`, `pool_timeout`, `timeout`, ...), or `http_503` for an HTTP error;
/// ordered by that name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OutcomeKey {
    kind: Kind,
    /// For [`Kind::Http`] only.
    status: Option<u16>,
}

impl OutcomeKey {
    /// The key of a kind. ([`Kind::Http`] without a status is the `http` key, which only
    /// sums: reports count HTTP errors by status, with [`OutcomeKey::http`].)
    pub const fn of(kind: Kind) -> Self {
        Self { kind, status: None }
    }

    /// An HTTP error with this status.
    pub const fn http(status: u16) -> Self {
        Self {
            kind: Kind::Http,
            status: Some(status),
        }
    }

    /// Its kind.
    pub fn kind(self) -> Kind {
        self.kind
    }
}

impl From<Kind> for OutcomeKey {
    fn from(kind: Kind) -> Self {
        Self::of(kind)
    }
}

impl Ord for OutcomeKey {
    /// By name: the kind's name, then the status (three digits, so in text order too).
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.kind.name(), self.status).cmp(&(other.kind.name(), other.status))
    }
}

impl PartialOrd for OutcomeKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for OutcomeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.status {
            Some(status) => write!(f, "http_{status}"),
            None => f.write_str(self.kind.name()),
        }
    }
}

/// A name that is no outcome.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnknownOutcome {
    #[error("`{0}`: not an HTTP status")]
    Status(String),
    #[error("unknown outcome `{0}`")]
    Name(String),
}

impl std::str::FromStr for OutcomeKey {
    type Err = UnknownOutcome;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(status) = s.strip_prefix("http_") {
            return status
                .parse()
                .map(Self::http)
                .map_err(|_| UnknownOutcome::Status(s.to_owned()));
        }
        match s.parse::<Kind>() {
            Ok(Kind::Http) | Err(_) => Err(UnknownOutcome::Name(s.to_owned())),
            Ok(kind) => Ok(Self::of(kind)),
        }
    }
}

/// Finished requests by outcome (zero counts left out, except `ok`). Serialized as a map of
/// outcome names to counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcomes(BTreeMap<OutcomeKey, u64>);

impl Default for Outcomes {
    fn default() -> Self {
        Self(BTreeMap::from([(OutcomeKey::of(Kind::Ok), 0)]))
    }
}

impl Outcomes {
    /// Counts `n` more of `key`.
    pub fn add(&mut self, key: impl Into<OutcomeKey>, n: u64) {
        let key = key.into();
        if n > 0 || key.kind == Kind::Ok {
            *self.0.entry(key).or_default() += n;
        }
    }

    /// Adds every count of `other`.
    pub fn merge(&mut self, other: &Self) {
        for (key, n) in other.iter() {
            self.add(key, n);
        }
    }

    /// Requests with this outcome.
    pub fn get(&self, key: impl Into<OutcomeKey>) -> u64 {
        self.0.get(&key.into()).copied().unwrap_or_default()
    }

    /// Requests of this kind (every status for `Http`).
    pub fn of_kind(&self, kind: Kind) -> u64 {
        self.iter()
            .filter(|(k, _)| k.kind() == kind)
            .map(|(_, n)| n)
            .sum()
    }

    /// Requests that finished with any outcome but `aborted`.
    pub fn completed(&self) -> u64 {
        self.iter()
            .filter(|(k, _)| k.kind != Kind::Aborted)
            .map(|(_, n)| n)
            .sum()
    }

    /// Completed requests that were not `ok`.
    pub fn errors(&self) -> u64 {
        self.completed() - self.get(Kind::Ok)
    }

    /// Every outcome with its count, in name order.
    pub fn iter(&self) -> impl Iterator<Item = (OutcomeKey, u64)> + '_ {
        self.0.iter().map(|(k, n)| (*k, *n))
    }
}

impl FromIterator<(OutcomeKey, u64)> for Outcomes {
    fn from_iter<I: IntoIterator<Item = (OutcomeKey, u64)>>(iter: I) -> Self {
        let mut out = Self::default();
        for (key, n) in iter {
            out.add(key, n);
        }
        out
    }
}

impl Serialize for Outcomes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, n)| (k.to_string(), n)))
    }
}

impl<'de> Deserialize<'de> for Outcomes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let named = BTreeMap::<String, u64>::deserialize(d)?;
        named
            .into_iter()
            .map(|(k, n)| Ok((k.parse().map_err(serde::de::Error::custom)?, n)))
            .collect()
    }
}

/// Counts per HTTP status code 100..=599, kept as a flat array for a cheap hot path.
#[derive(Debug, Clone)]
pub struct StatusCounts(Vec<u64>);

impl Default for StatusCounts {
    fn default() -> Self {
        Self(vec![0; 500])
    }
}

impl StatusCounts {
    pub fn add(&mut self, status: u16) {
        if let Some(slot) = self.0.get_mut(usize::from(status).wrapping_sub(100)) {
            *slot += 1;
        }
    }

    pub fn merge(&mut self, other: &Self) {
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a += b;
        }
    }

    /// Codes seen, with their counts.
    pub fn iter(&self) -> impl Iterator<Item = (u16, u64)> + '_ {
        self.0
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(i, n)| (i as u16 + 100, *n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeline_second_keeps_a_field_per_family_and_reads_older_seconds_without_tls() {
        use crate::engine::metrics::Second;
        let old = r#"{"t": 3, "started": 9, "dropped": 0, "completed": 7, "ok": 4, "http": 1,
            "pool_timeout": 2, "timeout": 0, "connect": 0, "other": 0, "aborted": 0,
            "in_flight": 5, "latency_us": {"count": 0, "min": 0, "mean": 0, "p50": 0, "p90": 0,
            "p99": 0, "p999": 0, "p9999": 0, "max": 0}}"#;
        let second: Second = serde_json::from_str(old).unwrap();
        assert_eq!(
            (
                second.finished[Family::Ok],
                second.finished[Family::PoolTimeout]
            ),
            (4, 2)
        );
        assert_eq!(second.finished[Family::Tls], 0);
        let written = serde_json::to_value(&second).unwrap();
        let names: Vec<&str> = Family::ALL.iter().map(|f| f.name()).collect();
        assert_eq!(
            names,
            [
                "ok",
                "http",
                "pool_timeout",
                "timeout",
                "connect",
                "other",
                "aborted",
                "tls",
                "h2"
            ]
        );
        for name in names {
            assert!(written[name].is_u64(), "{name} in {written}");
        }
        assert_eq!(serde_json::from_value::<Second>(written).unwrap(), second);
    }

    #[test]
    fn every_kind_is_counted_in_its_family() {
        let tls: Vec<Kind> = Kind::ALL.iter().copied().filter(|k| k.is_tls()).collect();
        assert_eq!(
            tls,
            [
                Kind::CertUnknownIssuer,
                Kind::CertExpired,
                Kind::CertWrongName,
                Kind::Tls
            ]
        );
        assert_eq!(Kind::GoAway.family(), Family::H2);
        assert_eq!(Kind::PoolTimeout.family().name(), Kind::PoolTimeout.name());
    }

    #[test]
    fn a_pool_timeout_body_is_its_own_kind() {
        let body = br#"{"error": "pool_timeout", "message": "pool timed out"}"#;
        assert_eq!(Outcome::from_response(503, body).kind, Kind::PoolTimeout);
        assert_eq!(
            Outcome::from_response(503, br#"{"error":"db"}"#).kind,
            Kind::Http
        );
        assert_eq!(Outcome::from_response(503, b"busy").kind, Kind::Http);
        assert_eq!(Outcome::from_response(204, b"").kind, Kind::Ok);
    }

    #[test]
    fn outcome_names_round_trip_and_sort_by_name() {
        let mut keys: Vec<OutcomeKey> = Kind::ALL
            .iter()
            .filter(|k| **k != Kind::Http)
            .map(|k| OutcomeKey::of(*k))
            .collect();
        keys.extend([OutcomeKey::http(503), OutcomeKey::http(404)]);
        for k in &keys {
            assert_eq!(k.to_string().parse::<OutcomeKey>(), Ok(*k));
        }
        let names: Vec<String> = Kind::ALL.iter().map(|k| k.name().to_owned()).collect();
        assert_eq!(
            names,
            [
                "ok",
                "http",
                "pool_timeout",
                "timeout",
                "connect",
                "other",
                "aborted",
                "cert_unknown_issuer",
                "cert_expired",
                "cert_wrong_name",
                "tls",
                "goaway",
                "stream_reset"
            ],
            "the names reports and --fail-if use"
        );
        let mut sorted = keys.clone();
        sorted.sort();
        let names: Vec<String> = sorted.iter().map(ToString::to_string).collect();
        let mut by_name = names.clone();
        by_name.sort();
        assert_eq!(names, by_name);
        assert!("http_x".parse::<OutcomeKey>().is_err());
        assert!("nope".parse::<OutcomeKey>().is_err());
        assert!(
            "http".parse::<OutcomeKey>().is_err(),
            "HTTP errors are counted by status"
        );
    }

    #[test]
    fn outcomes_count_http_errors_by_status_and_keep_ok() {
        let o: Outcomes = [
            (OutcomeKey::http(500), 2),
            (OutcomeKey::http(503), 1),
            (Kind::PoolTimeout.into(), 4),
            (Kind::Aborted.into(), 3),
            (Kind::Timeout.into(), 0),
        ]
        .into_iter()
        .collect();
        assert_eq!(o.of_kind(Kind::Http), 3);
        assert_eq!((o.completed(), o.errors()), (7, 7));
        let json = serde_json::to_string(&o).unwrap();
        assert_eq!(
            json,
            r#"{"aborted":3,"http_500":2,"http_503":1,"ok":0,"pool_timeout":4}"#
        );
        assert_eq!(serde_json::from_str::<Outcomes>(&json).unwrap(), o);
    }

    #[test]
    fn status_counts_keep_every_code() {
        let mut c = StatusCounts::default();
        for s in [200, 200, 503, 599, 99, 600] {
            c.add(s);
        }
        assert_eq!(
            c.iter().collect::<Vec<_>>(),
            vec![(200, 2), (503, 1), (599, 1)]
        );
    }
}
