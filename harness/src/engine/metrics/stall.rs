//! Client-side stall detection: a stretch of at least the stall window with no completions
//! while requests are in flight.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::recorder::TICK;

/// One stall.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stall {
    /// Seconds from the start of the run to the first quiet tick.
    pub onset_s: f64,
    /// How long nothing completed.
    pub length_s: f64,
    /// Most requests in flight during the stall.
    pub in_flight_max: u64,
    /// Still going when the run ended.
    pub ongoing: bool,
}

/// Per tick: (completions during it, requests in flight at its end).
pub fn find_stalls(ticks: &[(u64, u64)], window: Duration) -> Vec<Stall> {
    let min_ticks = window.as_millis().div_ceil(TICK.as_millis()).max(1) as usize;
    let tick_s = TICK.as_secs_f64();
    let mut stalls = Vec::new();
    let mut run_start = None;
    let mut peak = 0;
    for (i, &(completed, in_flight)) in ticks.iter().chain([(1, 0)].iter()).enumerate() {
        let quiet = completed == 0 && in_flight > 0 && i < ticks.len();
        match (quiet, run_start) {
            (true, None) => {
                run_start = Some(i);
                peak = in_flight;
            }
            (true, Some(_)) => peak = peak.max(in_flight),
            (false, Some(start)) => {
                if i - start >= min_ticks {
                    stalls.push(Stall {
                        onset_s: round_tick(start as f64 * tick_s),
                        length_s: round_tick((i - start) as f64 * tick_s),
                        in_flight_max: peak,
                        ongoing: i == ticks.len(),
                    });
                }
                run_start = None;
            }
            (false, None) => {}
        }
    }
    stalls
}

fn round_tick(seconds: f64) -> f64 {
    (seconds * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quiet_stretch_with_requests_in_flight_is_a_stall_with_its_onset() {
        let mut ticks = vec![(5, 2); 10];
        ticks.extend(vec![(0, 8); 35]);
        ticks.extend(vec![(9, 1); 10]);
        let stalls = find_stalls(&ticks, Duration::from_secs(3));
        assert_eq!(
            stalls,
            vec![Stall {
                onset_s: 1.0,
                length_s: 3.5,
                in_flight_max: 8,
                ongoing: false
            }]
        );
    }

    #[test]
    fn idle_time_and_short_gaps_are_not_stalls() {
        let mut ticks = vec![(0, 0); 50];
        ticks.extend(vec![(0, 3); 29]);
        ticks.push((1, 0));
        assert!(find_stalls(&ticks, Duration::from_secs(3)).is_empty());
    }

    #[test]
    fn a_stall_at_the_end_is_ongoing() {
        let ticks = vec![(0, 4); 40];
        let stalls = find_stalls(&ticks, Duration::from_secs(3));
        assert_eq!(stalls.len(), 1);
        assert!(stalls[0].ongoing);
        assert_eq!((stalls[0].onset_s, stalls[0].length_s), (0.0, 4.0));
    }
}
