//! Latency histograms: HdrHistogram in microseconds with 3 significant figures, never erroring
//! on a large value (it is clamped to the top and still counted), and their summaries.

use std::time::Duration;

use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer as _, V2DeflateSerializer};
use serde::{Deserialize, Serialize};

/// Significant figures kept (0.1 % resolution).
pub const SIGFIGS: u8 = 3;

/// A latency histogram in microseconds.
#[derive(Debug, Clone)]
pub struct Latency(Histogram<u64>);

/// Why an encoded histogram cannot be read or added.
#[derive(Debug, thiserror::Error)]
pub enum HistogramError {
    #[error("not base64: {0}")]
    Base64(#[from] base64::DecodeError),
    #[error("not an HdrHistogram: {0}")]
    Format(#[from] hdrhistogram::serialization::DeserializeError),
    #[error("cannot add it: {0}")]
    Add(#[from] hdrhistogram::errors::AdditionError),
}

impl Latency {
    /// A histogram that tracks 1 µs up to `highest` exactly (to 3 significant figures).
    pub fn new(highest: Duration) -> Self {
        let high = u64::try_from(highest.as_micros())
            .unwrap_or(u64::MAX)
            .max(1_000);
        Self(Histogram::new_with_bounds(1, high, SIGFIGS).expect("bounds are valid"))
    }

    /// Records one latency; values beyond the top are counted at the top.
    pub fn record(&mut self, latency: Duration) {
        let us = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        self.0.saturating_record(us);
    }

    /// Adds another histogram's counts (both have the same bounds).
    pub fn add(&mut self, other: &Self) {
        self.0.add(&other.0).expect("histograms share bounds");
    }

    /// Empties it, keeping its bounds.
    pub fn reset(&mut self) {
        self.0.reset();
    }

    pub fn count(&self) -> u64 {
        self.0.len()
    }

    /// The HdrHistogram itself (for serialization).
    pub fn inner(&self) -> &Histogram<u64> {
        &self.0
    }

    /// The histogram as base64 of its V2+DEFLATE encoding, as a `.hlog` line holds it:
    /// lossless, for merging shards.
    pub fn encode(&self) -> String {
        use base64::Engine as _;
        let mut bytes = Vec::new();
        V2DeflateSerializer::new()
            .serialize(&self.0, &mut bytes)
            .expect("a histogram in memory serializes");
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    /// Reads what [`Latency::encode`] wrote (or a `.hlog` line's histogram). It grows to take
    /// whatever is added to it.
    pub fn decode(text: &str) -> Result<Self, HistogramError> {
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD.decode(text.trim())?;
        let mut h: Histogram<u64> = Deserializer::new().deserialize(&mut bytes.as_slice())?;
        h.auto(true);
        Ok(Self(h))
    }

    /// Adds another histogram's counts whatever its bounds (a histogram from
    /// [`Latency::decode`] grows to take them).
    pub fn add_any(&mut self, other: &Self) -> Result<(), HistogramError> {
        Ok(self.0.add(&other.0)?)
    }

    /// Percentiles and extremes.
    pub fn summary(&self) -> Summary {
        let h = &self.0;
        if h.is_empty() {
            return Summary::default();
        }
        Summary {
            count: h.len(),
            min: h.min(),
            mean: h.mean().round() as u64,
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            p9999: h.value_at_quantile(0.9999),
            max: h.max(),
        }
    }
}

/// Latency percentiles in microseconds (0 everywhere when nothing was recorded).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub count: u64,
    pub min: u64,
    pub mean: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub p9999: u64,
    pub max: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_keep_three_significant_figures() {
        let mut h = Latency::new(Duration::from_secs(60));
        for ms in 1..=1000u64 {
            h.record(Duration::from_millis(ms));
        }
        let s = h.summary();
        assert_eq!(s.count, 1000);
        assert!((499_000..=501_000).contains(&s.p50), "{s:?}");
        assert!((989_000..=991_000).contains(&s.p99), "{s:?}");
        assert!((999_000..=1_001_000).contains(&s.max), "{s:?}");
    }

    #[test]
    fn an_encoded_histogram_decodes_to_the_same_counts_and_adds_across_bounds() {
        let mut h = Latency::new(Duration::from_secs(60));
        for ms in [1u64, 5, 5, 250, 9000] {
            h.record(Duration::from_millis(ms));
        }
        let back = Latency::decode(&h.encode()).unwrap();
        assert_eq!(back.summary(), h.summary());
        let mut small = Latency::decode(&Latency::new(Duration::from_secs(1)).encode()).unwrap();
        small.add_any(&h).unwrap();
        assert_eq!(small.summary(), h.summary());
        assert!(Latency::decode("not base64!").is_err());
    }

    #[test]
    fn values_beyond_the_top_are_clamped_not_lost() {
        let mut h = Latency::new(Duration::from_secs(1));
        h.record(Duration::from_secs(3600));
        assert_eq!(h.count(), 1);
        assert!(h.summary().max >= 1_000_000);
    }
}
