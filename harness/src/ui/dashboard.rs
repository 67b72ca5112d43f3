//! The live terminal dashboard (ratatui on stderr's alternate screen): for the cell under way,
//! completions per second by outcome over the last 60 s, requests in flight, latency so far,
//! the server's pool and blocking-pool gauges, and a banner that says in words what the verdict
//! is as soon as it changes ("DEADLOCKED at 2.3 s: 8/8 blocking threads ...").
//!
//! No raw mode: Ctrl-C still reaches poolstorm as SIGINT, which ends the run and restores the
//! terminal through [`Monitor::finish`] (or `Drop`).

use std::io::{Stderr, Write as _};
use std::time::Duration;

use ratatui::backend::CrosstermBackend;
use ratatui::buffer::Buffer;
use ratatui::crossterm::{cursor, execute, terminal};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Widget, Wrap};
use ratatui::{Frame, Terminal};

use crate::base::human::{count, latency, short};
use crate::engine::metrics::{Kind, KindCounts, Live};
use crate::observe::database::{DbReport, DbSample};
use crate::observe::{Gauge, GaugeNames, PoolSample, PoolState};
use crate::verdict::{self, Judgement, Observed, Thresholds, Verdict};
use crate::watch::monitor::Monitor;

/// Outcome kinds drawn, bottom to top, with their colors.
const STACK: [(Kind, Color); 12] = [
    (Kind::Ok, Color::Green),
    (Kind::Http, Color::Yellow),
    (Kind::PoolTimeout, Color::Red),
    (Kind::Timeout, Color::Magenta),
    (Kind::Connect, Color::DarkGray),
    (Kind::Other, Color::Blue),
    (Kind::CertUnknownIssuer, Color::LightMagenta),
    (Kind::CertExpired, Color::LightMagenta),
    (Kind::CertWrongName, Color::LightMagenta),
    (Kind::Tls, Color::LightMagenta),
    (Kind::GoAway, Color::LightBlue),
    (Kind::StreamReset, Color::LightBlue),
];

fn verdict_color(v: Verdict) -> Color {
    match v {
        Verdict::Healthy => Color::Green,
        Verdict::Degraded => Color::Yellow,
        Verdict::Starved => Color::LightRed,
        Verdict::Deadlocked => Color::Red,
        Verdict::DatabaseDown | Verdict::DatabaseSlow => Color::Magenta,
        Verdict::LockContention => Color::LightMagenta,
        Verdict::TargetDied => Color::Cyan,
    }
}

/// How long a final verdict stays on screen before the next cell.
const VERDICT_ON_SCREEN: Duration = Duration::from_millis(700);

/// What is on screen.
#[derive(Debug, Default)]
struct View {
    title: String,
    total: Option<Duration>,
    thresholds: Thresholds,
    live: Live,
    sample: Option<PoolSample>,
    /// The pool's source: its URL and the service's names for the gauges.
    source: Option<(String, GaugeNames)>,
    /// The database's latest sample (`Some(None)`: watched, nothing yet; `None`: not watched).
    database: Option<Option<DbSample>>,
    /// The verdict in the banner, and whether it is final.
    banner: Option<(Judgement, bool)>,
}

/// The dashboard.
pub struct Dashboard {
    terminal: Terminal<CrosstermBackend<Stderr>>,
    view: View,
    active: bool,
}

impl std::fmt::Debug for Dashboard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dashboard")
            .field("title", &self.view.title)
            .finish_non_exhaustive()
    }
}

impl Dashboard {
    /// Switches stderr to the alternate screen.
    pub fn new() -> std::io::Result<Self> {
        let mut err = std::io::stderr();
        execute!(err, terminal::EnterAlternateScreen, cursor::Hide)?;
        let terminal = Terminal::new(CrosstermBackend::new(std::io::stderr()))?;
        Ok(Self {
            terminal,
            view: View::default(),
            active: true,
        })
    }

    fn draw(&mut self) {
        let view = &self.view;
        let _ = self.terminal.draw(|frame| render(frame, view));
    }

    fn restore(&mut self) {
        if self.active {
            self.active = false;
            let mut err = std::io::stderr();
            let _ = execute!(err, cursor::Show, terminal::LeaveAlternateScreen);
            let _ = err.flush();
        }
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        self.restore();
    }
}

impl Monitor for Dashboard {
    fn start(&mut self, title: &str, total: Option<Duration>, thresholds: Thresholds) {
        self.view = View {
            title: title.to_owned(),
            total,
            thresholds,
            ..View::default()
        };
        // A full repaint per cell: nothing written around the dashboard can linger on screen.
        let _ = self.terminal.clear();
        self.draw();
    }

    fn update(&mut self, live: &Live, pool: Option<&PoolState>, database: Option<&DbReport>) {
        self.view.live = live.clone();
        self.view.sample = pool.and_then(|p| p.samples.last().copied());
        self.view.source = pool.map(|p| (p.report.url.clone(), p.report.names.clone()));
        self.view.database = database.map(|d| d.samples.last().cloned());
        let (samples, source) = pool.map_or((&[][..], None), |p| (&p.samples[..], Some(&p.report)));
        let mut observed = Observed::live(live, samples, source);
        observed.database = database;
        let now = verdict::judge(&observed, &self.view.thresholds);
        let changed = match &self.view.banner {
            None => now.verdict != Verdict::Healthy,
            Some((shown, final_)) => !final_ && shown.verdict != now.verdict,
        };
        if changed {
            self.view.banner = Some((now, false));
        }
        self.draw();
    }

    fn verdict(&mut self, judgement: &Judgement) {
        self.view.banner = Some((judgement.clone(), true));
        self.draw();
    }

    fn linger(&self) -> Duration {
        VERDICT_ON_SCREEN
    }

    fn finish(&mut self) {
        self.restore();
    }

    fn owns_screen(&self) -> bool {
        self.active
    }
}

fn render(frame: &mut Frame<'_>, view: &View) {
    let area = frame.area();
    let rows = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(8),
        Constraint::Length(6),
        Constraint::Length(4),
    ])
    .split(area);
    let elapsed = match view.total {
        Some(total) => format!("{} / {}", short(view.live.elapsed), short(total)),
        None => short(view.live.elapsed),
    };
    let header = Line::from(vec![
        Span::styled(
            " poolstorm ",
            Style::new()
                .fg(Color::Black)
                .bg(Color::Cyan)
                .add_modifier(Modifier::BOLD),
        ),
        Span::raw(format!(" {}   ", view.title)),
        Span::styled(elapsed, Style::new().add_modifier(Modifier::BOLD)),
    ]);
    frame.render_widget(Paragraph::new(header), rows[0]);

    let middle = Layout::horizontal([Constraint::Min(40), Constraint::Length(34)]).split(rows[1]);
    let chart = Block::new()
        .borders(Borders::ALL)
        .title(" completions per second by outcome, last 60 s ");
    let inner = chart.inner(middle[0]);
    frame.render_widget(chart, middle[0]);
    frame.render_widget(StackedColumns(&view.live.recent), inner);
    frame.render_widget(numbers(&view.live), middle[1]);

    frame.render_widget(
        gauges(
            view.sample.as_ref(),
            view.source.as_ref(),
            view.database.as_ref(),
        ),
        rows[2],
    );
    if let Some((j, final_)) = &view.banner {
        frame.render_widget(banner(j, *final_), rows[3]);
    } else {
        let calm = Paragraph::new(" no stall, no pool timeouts so far")
            .block(Block::new().borders(Borders::ALL).title(" verdict "));
        frame.render_widget(calm, rows[3]);
    }
}

/// Latency so far, in flight, and outcome totals.
fn numbers(live: &Live) -> Paragraph<'static> {
    let l = &live.latency_us;
    let mut lines = vec![
        Line::from(format!("in flight     {:>10}", count(live.in_flight))),
        Line::from(format!("req/s now     {:>10.0}", live.recent_rps)),
        Line::from(""),
        Line::from(format!(
            "p50 {:>9}  p90 {:>9}",
            latency(l.p50),
            latency(l.p90)
        )),
        Line::from(format!(
            "p99 {:>9}  max {:>9}",
            latency(l.p99),
            latency(l.max)
        )),
        Line::from(""),
    ];
    for (kind, color) in STACK {
        let n = live.count(kind);
        if n > 0 || kind == Kind::Ok {
            lines.push(Line::from(vec![
                Span::styled("██ ", Style::new().fg(color)),
                Span::raw(format!("{:<13}{:>12}", kind.name(), count(n))),
            ]));
        }
    }
    Paragraph::new(lines).block(Block::new().borders(Borders::ALL).title(" so far "))
}

/// Pool and blocking-pool gauges from the server's latest sample, under the service's own
/// metric names when it has them.
fn gauges(
    sample: Option<&PoolSample>,
    source: Option<&(String, GaugeNames)>,
    database: Option<&Option<DbSample>>,
) -> Paragraph<'static> {
    let database = database.map(|d| match d {
        Some(s) => Line::from(vec![
            Span::raw(format!("{:<17}", " database")),
            Span::styled(
                s.brief(),
                Style::new().fg(if s.up { Color::Reset } else { Color::Red }),
            ),
        ]),
        None => Line::from(format!("{:<17}no answer yet", " database")),
    });
    let title = match source {
        Some((url, _)) => format!(" server pool ({url}) "),
        None => " server pool ".to_owned(),
    };
    let block = Block::new().borders(Borders::ALL).title(title);
    let Some(s) = sample else {
        let why = match source {
            Some((url, _)) => format!(" no server view yet: nothing read from {url}"),
            None => " no server view: the target has no pool source".to_owned(),
        };
        let lines: Vec<Line<'static>> = std::iter::once(Line::from(why)).chain(database).collect();
        return Paragraph::new(lines).block(block);
    };
    let empty = GaugeNames::new();
    let names = source.map_or(&empty, |(_, n)| n);
    let label = |gauge: Gauge| format!(" {}", gauge.named(names));
    let n = |v: Option<u64>| v.map_or("-".to_owned(), |v| v.to_string());
    let bar = |used: Option<u64>, max: Option<u64>| {
        let width = 24usize;
        let filled = match (used, max) {
            (Some(used), Some(max)) if max > 0 => {
                ((used.min(max) as f64 / max as f64) * width as f64).round() as usize
            }
            _ => 0,
        };
        format!("{}{}", "█".repeat(filled), "░".repeat(width - filled))
    };
    let full = |used: Option<u64>, max: Option<u64>| match (used, max) {
        (Some(used), Some(max)) if max > 0 && used >= max => Color::Red,
        _ => Color::Green,
    };
    let lines = vec![
        Line::from(vec![
            Span::raw(format!("{:<17}", label(Gauge::InUse))),
            Span::styled(
                bar(s.pool_in_use, s.pool_max),
                Style::new().fg(full(s.pool_in_use, s.pool_max)),
            ),
            Span::raw(format!(
                " {}/{}   waiting {}   acquire timeouts {}",
                n(s.pool_in_use),
                n(s.pool_max),
                n(s.pool_waiting.or(s.pool_waits)),
                n(s.acquire_timeouts)
            )),
        ]),
        Line::from(vec![
            Span::raw(format!("{:<17}", label(Gauge::ThreadsBusy))),
            Span::styled(
                bar(s.blocking_busy, s.blocking_threads),
                Style::new().fg(full(s.blocking_busy, s.blocking_threads)),
            ),
            Span::raw(format!(
                " {}/{}   queued {}   teardowns pending {}",
                n(s.blocking_busy),
                n(s.blocking_threads),
                n(s.blocking_queued),
                n(s.teardown_pending)
            )),
        ]),
        Line::from(format!(
            " requests in flight at the server {}",
            n(s.requests_in_flight)
        )),
    ];
    let lines: Vec<Line<'static>> = lines.into_iter().chain(database).collect();
    Paragraph::new(lines).block(block)
}

fn banner(j: &Judgement, final_: bool) -> Paragraph<'static> {
    let onset = j
        .onset_s
        .map(|s| format!(" at {}", crate::base::human::secs(s)))
        .unwrap_or_default();
    let color = verdict_color(j.verdict);
    let title = if final_ {
        " verdict "
    } else {
        " verdict so far "
    };
    Paragraph::new(Line::from(vec![
        Span::styled(
            format!(" {}{onset} ", j.verdict.name().to_uppercase()),
            Style::new()
                .fg(Color::Black)
                .bg(color)
                .add_modifier(Modifier::BOLD),
        ),
        Span::raw(format!(" {}", j.evidence)),
    ]))
    .wrap(Wrap { trim: true })
    .block(
        Block::new()
            .borders(Borders::ALL)
            .title(title)
            .border_style(Style::new().fg(color)),
    )
}

/// Columns of stacked outcome counts, one per second, newest on the right.
struct StackedColumns<'a>(&'a [KindCounts]);

impl Widget for StackedColumns<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        if area.height < 2 || area.width < 8 {
            return;
        }
        let label_width = 7u16;
        let width = (area.width - label_width) as usize;
        let seconds: Vec<&KindCounts> = self.0.iter().rev().take(width).rev().collect();
        let peak = seconds
            .iter()
            .map(|c| c.iter().sum::<u64>())
            .max()
            .unwrap_or(0)
            .max(1);
        let height = u64::from(area.height - 1);
        buf.set_string(
            area.x,
            area.y,
            format!("{:>6}", count(peak)),
            Style::new().fg(Color::Gray),
        );
        buf.set_string(
            area.x,
            area.y + area.height - 2,
            format!("{:>6}", 0),
            Style::new().fg(Color::Gray),
        );
        for (i, counts) in seconds.iter().enumerate() {
            let x = area.x + label_width + i as u16;
            let mut row = 0u64;
            for (kind, color) in STACK {
                let n = counts[kind.index()];
                let cells = (n * height).div_ceil(peak).min(height - row);
                for r in row..row + cells {
                    let y = area.y + area.height - 2 - r as u16;
                    buf[(x, y)].set_symbol("█").set_fg(color);
                }
                row += cells;
            }
        }
        let axis = format!("{:>w$}", "now", w = width);
        buf.set_string(
            area.x + label_width,
            area.y + area.height - 1,
            axis,
            Style::new().fg(Color::Gray),
        );
    }
}
