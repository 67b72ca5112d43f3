//! What became of one request: outcome kinds, counted apart.

use serde::Serialize;

/// The class of a finished request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
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
}

impl Kind {
    /// Every kind, in report order.
    pub const ALL: [Kind; 7] = [
        Kind::Ok,
        Kind::Http,
        Kind::PoolTimeout,
        Kind::Timeout,
        Kind::Connect,
        Kind::Other,
        Kind::Aborted,
    ];

    /// Position in [`Kind::ALL`], for counter arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The name used in reports and `--fail-if`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Ok => "ok",
            Kind::Http => "http",
            Kind::PoolTimeout => "pool_timeout",
            Kind::Timeout => "timeout",
            Kind::Connect => "connect",
            Kind::Other => "other",
            Kind::Aborted => "aborted",
        }
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
        } else if error_code(body_head) == Some("pool_timeout") {
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

/// The `error` field of a JSON error body, if it has one.
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
