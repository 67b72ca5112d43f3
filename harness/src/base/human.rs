//! Numbers and durations as people type and read them: durations typed as `250ms`, `3s`,
//! `1m30s` or bare seconds; durations, latencies and counts shown compactly.

use std::time::Duration;

/// Why a text is not a duration.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DurationError {
    #[error("`{text}` is not a duration: it must be 0 or more")]
    Negative { text: String },
    #[error("`{text}` is not a duration ({source}); try 500ms, 3s, 1m30s or a number of seconds")]
    Syntax {
        text: String,
        #[source]
        source: humantime::DurationError,
    },
}

/// Parses `250ms`, `3s`, `1m30s` (humantime syntax) or a bare number of seconds (`2.5`).
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<f64>() {
        if !secs.is_finite() || secs < 0.0 {
            return Err(DurationError::Negative {
                text: text.to_owned(),
            });
        }
        return Ok(Duration::from_secs_f64(secs));
    }
    humantime::parse_duration(text).map_err(|source| DurationError::Syntax {
        text: text.to_owned(),
        source,
    })
}

/// Formats a duration compactly for terminals: `850ms`, `3.2s`, `1m05s`.
pub fn short(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        format!("{}m{:02}s", ms / 60_000, (ms % 60_000) / 1000)
    }
}

/// Seconds as the evidence and the reports' prose write them: `2.3 s`.
pub fn secs(s: f64) -> String {
    format!("{s:.1} s")
}

/// Milliseconds (a sample's time, a query's age) as seconds in prose: `2.3 s`.
pub fn ms_secs(ms: u64) -> String {
    secs(ms as f64 / 1000.0)
}

/// A database round trip in µs, as prose writes it: `0.4 ms`, `1.20 s`.
pub fn rtt(us: u64) -> String {
    if us < 1_000_000 {
        format!("{:.1} ms", us as f64 / 1000.0)
    } else {
        format!("{:.2} s", us as f64 / 1e6)
    }
}

/// A latency in µs, in the unit that reads best: `812µs`, `12.3ms`, `1.23s`.
pub fn latency(us: u64) -> String {
    match us {
        0..1_000 => format!("{us}µs"),
        1_000..1_000_000 => format!("{:.1}ms", us as f64 / 1e3),
        _ => format!("{:.2}s", us as f64 / 1e6),
    }
}

/// Thousands separated by commas.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_bare_seconds_parse() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2.5"), Ok(Duration::from_millis(2500)));
        assert!(parse_duration("-1").is_err());
        assert!(
            parse_duration("soon")
                .unwrap_err()
                .to_string()
                .contains("try 500ms")
        );
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(latency(812), "812µs");
        assert_eq!(latency(12_345), "12.3ms");
        assert_eq!(latency(1_234_567), "1.23s");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(count(999), "999");
    }

    #[test]
    fn short_forms_read_well() {
        assert_eq!(short(Duration::from_millis(850)), "850ms");
        assert_eq!(short(Duration::from_millis(3200)), "3.2s");
        assert_eq!(short(Duration::from_secs(65)), "1m05s");
    }
}
