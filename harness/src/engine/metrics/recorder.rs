//! Worker-local recording: each worker thread records into its own histograms and counters
//! (single-threaded, no locks), and every 100 ms sends what changed to the collector.

use std::time::Duration;

use super::histogram::Latency;
use super::outcome::{Kind, Outcome, OutcomeKey, Outcomes, StatusCounts};

/// Length of one tick: the resolution of the timeline's counters and of stall detection.
pub const TICK: Duration = Duration::from_millis(100);
/// Ticks per interval histogram (the `.hlog` interval and the timeline's percentiles).
pub const TICKS_PER_SECOND: u32 = 10;

/// Counts for one kind-indexed array.
pub type KindCounts = [u64; Kind::ALL.len()];

/// What a worker saw during one tick.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TickCounts {
    /// Requests started.
    pub started: u64,
    /// Open model: starts that found no free slot.
    pub dropped: u64,
    /// Requests finished, by kind.
    pub finished: KindCounts,
    /// Requests in flight at the end of the tick (a gauge, not a delta).
    pub in_flight: u64,
}

/// Everything recorded about one task over the whole run.
#[derive(Debug, Clone)]
pub struct TaskTotals {
    /// Every request that finished with a response, a timeout or a connection error.
    pub all: Latency,
    /// 2xx responses only.
    pub ok: Latency,
    pub kinds: KindCounts,
    /// Every response by status.
    pub statuses: StatusCounts,
    /// Responses counted as `http` (not 2xx, not a pool timeout) by status.
    pub http_errors: StatusCounts,
}

impl TaskTotals {
    fn new(highest: Duration) -> Self {
        Self {
            all: Latency::new(highest),
            ok: Latency::new(highest),
            kinds: KindCounts::default(),
            statuses: StatusCounts::default(),
            http_errors: StatusCounts::default(),
        }
    }

    /// Adds another worker's totals for the same task.
    pub fn merge(&mut self, other: &Self) {
        self.all.add(&other.all);
        self.ok.add(&other.ok);
        for (a, b) in self.kinds.iter_mut().zip(other.kinds) {
            *a += b;
        }
        self.statuses.merge(&other.statuses);
        self.http_errors.merge(&other.http_errors);
    }

    /// The outcomes, HTTP errors by their status.
    pub fn outcomes(&self) -> Outcomes {
        let http = self
            .http_errors
            .iter()
            .map(|(status, n)| (OutcomeKey::http(status), n));
        let rest = Kind::ALL
            .iter()
            .copied()
            .filter(|kind| *kind != Kind::Http)
            .map(|kind| (OutcomeKey::of(kind), self.kinds[kind.index()]));
        http.chain(rest).collect()
    }
}

/// What opening connections cost over the run, apart from request latency.
#[derive(Debug, Clone)]
pub struct ConnectionTotals {
    /// Connections opened.
    pub opened: u64,
    /// TCP connect of each.
    pub connect: Latency,
    /// TLS handshake of each (`https://`).
    pub tls_handshake: Latency,
    /// Connections that could not be opened, by reason.
    pub refused: std::collections::BTreeMap<String, u64>,
    /// HTTP/2 connections the server ended with GOAWAY.
    pub goaways: u64,
}

impl ConnectionTotals {
    pub fn new(highest: Duration) -> Self {
        Self {
            opened: 0,
            connect: Latency::new(highest),
            tls_handshake: Latency::new(highest),
            refused: std::collections::BTreeMap::new(),
            goaways: 0,
        }
    }

    /// Adds another worker's.
    pub fn merge(&mut self, other: &Self) {
        self.opened += other.opened;
        self.connect.add(&other.connect);
        self.tls_handshake.add(&other.tls_handshake);
        for (reason, n) in &other.refused {
            *self.refused.entry(reason.clone()).or_default() += n;
        }
        self.goaways += other.goaways;
    }
}

/// A message from a worker to the collector.
#[derive(Debug)]
pub enum Report {
    /// Counters for tick `tick` (ticks count from the run's start).
    Tick {
        worker: usize,
        tick: u32,
        counts: TickCounts,
    },
    /// Latencies per task recorded since the worker's previous interval, closing second `second`.
    Interval {
        worker: usize,
        second: u32,
        per_task: Vec<Latency>,
    },
    /// The worker is done; these are its totals.
    Done {
        worker: usize,
        totals: Vec<TaskTotals>,
        connections: ConnectionTotals,
    },
}

/// One worker's recording state.
#[derive(Debug)]
pub struct Recorder {
    totals: Vec<TaskTotals>,
    interval: Vec<Latency>,
    tick: TickCounts,
    connections: ConnectionTotals,
}

impl Recorder {
    /// A recorder for `tasks` tasks whose latencies go up to `highest`.
    pub fn new(tasks: usize, highest: Duration) -> Self {
        Self {
            totals: (0..tasks).map(|_| TaskTotals::new(highest)).collect(),
            interval: (0..tasks).map(|_| Latency::new(highest)).collect(),
            tick: TickCounts::default(),
            connections: ConnectionTotals::new(highest),
        }
    }

    /// A connection was opened: its TCP connect and TLS handshake times.
    pub fn opened(&mut self, connect: Duration, tls: Option<Duration>) {
        self.connections.opened += 1;
        self.connections.connect.record(connect);
        if let Some(handshake) = tls {
            self.connections.tls_handshake.record(handshake);
        }
    }

    /// A connection could not be opened, for `reason`.
    pub fn refused(&mut self, reason: &str) {
        match self.connections.refused.get_mut(reason) {
            Some(n) => *n += 1,
            None => {
                self.connections.refused.insert(reason.to_owned(), 1);
            }
        }
    }

    /// An HTTP/2 connection was ended by the server's GOAWAY.
    pub fn goaway(&mut self) {
        self.connections.goaways += 1;
    }

    pub fn started(&mut self) {
        self.tick.started += 1;
        self.tick.in_flight += 1;
    }

    pub fn dropped(&mut self) {
        self.tick.dropped += 1;
    }

    /// Records a finished request. Aborted requests are counted but have no latency.
    pub fn finished(&mut self, task: usize, outcome: Outcome, latency: Duration) {
        self.tick.in_flight -= 1;
        self.tick.finished[outcome.kind.index()] += 1;
        let totals = &mut self.totals[task];
        totals.kinds[outcome.kind.index()] += 1;
        if let Some(status) = outcome.status {
            totals.statuses.add(status);
            if outcome.kind == Kind::Http {
                totals.http_errors.add(status);
            }
        }
        if outcome.kind == Kind::Aborted {
            return;
        }
        totals.all.record(latency);
        if outcome.kind == Kind::Ok {
            totals.ok.record(latency);
        }
        self.interval[task].record(latency);
    }

    /// This tick's counters; the deltas start again from zero, the in-flight gauge carries on.
    pub fn take_tick(&mut self) -> TickCounts {
        let in_flight = self.tick.in_flight;
        let mut counts = std::mem::take(&mut self.tick);
        self.tick.in_flight = in_flight;
        counts.in_flight = in_flight;
        counts
    }

    /// Latencies since the last call, per task; the recorder starts a new interval.
    pub fn take_interval(&mut self) -> Vec<Latency> {
        let fresh = self.interval.iter().map(|h| {
            let mut empty = h.clone();
            empty.reset();
            empty
        });
        let fresh: Vec<_> = fresh.collect();
        std::mem::replace(&mut self.interval, fresh)
    }

    /// The run's totals per task, and its connections'.
    pub fn into_totals(self) -> (Vec<TaskTotals>, ConnectionTotals) {
        (self.totals, self.connections)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_carry_deltas_and_the_in_flight_gauge() {
        let mut r = Recorder::new(1, Duration::from_secs(1));
        r.started();
        r.started();
        r.finished(
            0,
            Outcome::from_response(200, b""),
            Duration::from_millis(3),
        );
        let first = r.take_tick();
        assert_eq!(
            (
                first.started,
                first.in_flight,
                first.finished[Kind::Ok.index()]
            ),
            (2, 1, 1)
        );
        let second = r.take_tick();
        assert_eq!(
            (
                second.started,
                second.in_flight,
                second.finished[Kind::Ok.index()]
            ),
            (0, 1, 0)
        );
    }

    #[test]
    fn aborted_requests_count_but_leave_latency_alone() {
        let mut r = Recorder::new(1, Duration::from_secs(1));
        r.started();
        r.finished(
            0,
            Outcome::no_response(Kind::Aborted),
            Duration::from_millis(3),
        );
        let (totals, _) = r.into_totals();
        assert_eq!(totals[0].kinds[Kind::Aborted.index()], 1);
        assert_eq!(totals[0].all.count(), 0);
    }

    #[test]
    fn intervals_restart_empty() {
        let mut r = Recorder::new(1, Duration::from_secs(1));
        r.started();
        r.finished(
            0,
            Outcome::from_response(500, b""),
            Duration::from_millis(3),
        );
        assert_eq!(r.take_interval()[0].count(), 1);
        assert_eq!(r.take_interval()[0].count(), 0);
    }
}
