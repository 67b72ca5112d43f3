//! The cli layer, the top: the command line's flags (this file: raw flags only, for `load`,
//! `run`, `advise`, `merge`, `stub` and the rest) and one module per subcommand in
//! [`commands`], which turns them into validated plans and runs them.

pub mod commands;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::engine::load::SettingArgs;
use crate::watch::progress::ProgressMode;

/// How poolstorm ends, for every command's `--help`.
pub const EXIT_STATUS: &str = "Exit status: 0 done, 1 a --fail-if condition or a scenario rule failed, \
2 bad input (a flag, a file, a URL), 3 the run could not be carried out (an I/O error, a thread \
that would not start, a database backend or target that never came up), 130 interrupted.";

/// poolstorm: a load driver and harness that makes connection-pool starvation visible.
#[derive(Debug, Parser)]
#[command(name = "poolstorm", version, propagate_version = true)]
#[command(after_help = EXIT_STATUS)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run scenario files: every cell against a fresh target-app and database, with verdicts,
    /// expectations and reports in results/<scenario>/<timestamp>/.
    Run(RunArgs),
    /// Find the smallest pool that never locks, measured: Cm per task, the floor
    /// Tn x (Cm - 1) + 1, a search under a worst-case load, and throughput above the minimum.
    Advise(AdviseArgs),
    /// Check scenario files without running them.
    Validate(ValidateArgs),
    /// Show a `poolstorm run` result again: the comparison table, or (--html) report.html.
    Report(ReportArgs),
    /// Flood an HTTP URL (black box) and report latency, outcomes, throughput and stalls.
    Load(Box<LoadArgs>),
    /// Merge the shards of one `poolstorm load --shard` run exactly: histograms added,
    /// timelines aligned by wall-clock second, stalls found again, --fail-if on the whole.
    Merge(MergeArgs),
    /// Serve the programmable stub used by tests and `make bench` (/ok, /delay?ms=, /status?code=,
    /// /pool-timeout, /hang).
    Stub(StubArgs),
    /// poolstorm's own: started once per run, it kills the process groups and removes the
    /// folders poolstorm registered when its input ends (poolstorm exited, however it died).
    #[command(hide = true)]
    Reap,
}

/// `poolstorm load`.
#[derive(Debug, Args)]
#[command(after_help = LOAD_HELP)]
pub struct LoadArgs {
    /// Target URL, http:// or https:// (a host name is resolved once, before the run). Without
    /// --task it is also the one request sent; with --task, task paths are appended to its path.
    pub url: String,

    /// Every load setting (users, rate, duration, ...), from the load settings table.
    #[command(flatten)]
    pub settings: SettingArgs,

    /// HTTP method of the URL's request (without --task).
    #[arg(
        short = 'X',
        long,
        value_name = "METHOD",
        default_value = "GET",
        help_heading = "Requests"
    )]
    pub method: String,

    /// Header for every request, `NAME:VALUE` (repeatable).
    #[arg(
        short = 'H',
        long = "header",
        value_name = "NAME:VALUE",
        help_heading = "Requests"
    )]
    pub headers: Vec<String>,

    /// Body of the URL's request (without --task).
    #[arg(
        long,
        value_name = "TEXT",
        conflicts_with = "body_file",
        help_heading = "Requests"
    )]
    pub body: Option<String>,

    /// Body of the URL's request, read from a file.
    #[arg(long, value_name = "FILE", help_heading = "Requests")]
    pub body_file: Option<PathBuf>,

    /// A weighted task (repeatable): `METHOD PATH [weight=N] [name=NAME] [header=K:V]...
    /// [body=TEXT|body=@FILE]`; body= comes last.
    #[arg(long = "task", value_name = "TASK", conflicts_with_all = ["body", "body_file"], help_heading = "Requests")]
    pub tasks: Vec<String>,

    /// Write the JSON report here.
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub json: Option<PathBuf>,

    /// Write the CSV summary (a row per task and `all`) here.
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub csv: Option<PathBuf>,

    /// Write the HdrHistogram interval log (V2+DEFLATE, 1 s intervals, µs) here.
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub hlog: Option<PathBuf>,

    /// Write the self-contained HTML report (summary, timeline, latency percentiles) here.
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub html: Option<PathBuf>,

    /// Fail the run (exit 1) when this condition holds (repeatable), e.g. `error_ratio > 0.01`,
    /// `p99_ms > 500`, `stalled`.
    #[arg(long = "fail-if", value_name = "CONDITION", help_heading = "Output")]
    pub fail_if: Vec<String>,

    /// Live progress on stderr (on a terminal `auto` shows the dashboard).
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto, help_heading = "Output")]
    pub progress: ProgressMode,

    /// No live dashboard on a terminal: progress lines instead.
    #[arg(long, help_heading = "Output")]
    pub no_tui: bool,

    /// Run the I-th share (from 0) of N: users, rate, in-flight cap and request budget
    /// divided, for `poolstorm merge` to add up. Needs --start-at or --run-id.
    #[arg(long, value_name = "I/N", help_heading = "Shards (several machines)")]
    pub shard: Option<String>,

    /// The count of shards when the index comes from JOB_COMPLETION_INDEX (a Kubernetes
    /// Indexed Job); ignored with --shard.
    #[arg(
        long,
        value_name = "N",
        env = "POOLSTORM_SHARDS",
        help_heading = "Shards (several machines)"
    )]
    pub shards: Option<u32>,

    /// Start at this wall-clock time (RFC 3339 in UTC, as 2026-12-01T09:00:00Z), so that
    /// shards start together and their seconds line up.
    #[arg(
        long,
        value_name = "TIME",
        env = "POOLSTORM_START_AT",
        help_heading = "Shards (several machines)"
    )]
    pub start_at: Option<String>,

    /// The run's identity, the same for every shard of it (default: --start-at), so that
    /// merge refuses shards of another run.
    #[arg(
        long,
        value_name = "ID",
        env = "POOLSTORM_RUN_ID",
        help_heading = "Shards (several machines)"
    )]
    pub run_id: Option<String>,
}

const LOAD_HELP: &str = "\
Outcomes, counted apart: ok (2xx), http_<status>, pool_timeout (a response whose JSON `error` is
`pool_timeout`), timeout, connect (refused, reset), other, aborted (cut off by Ctrl-C);
over TLS cert_unknown_issuer, cert_expired, cert_wrong_name, tls (any other TLS failure: a
client certificate the server wants, say); over HTTP/2 goaway (refused by a GOAWAY, twice) and
stream_reset. Connection setup (TCP connect, TLS handshake) is reported apart, per connection.

--fail-if names: requests completed ok errors error_ratio timeouts timeout_ratio pool_timeouts
pool_timeout_ratio connect_errors dropped rps ok_rps mean_ms p50_ms p90_ms p99_ms p999_ms max_ms
stalls stalled; operators + - * / % < <= > >= == != && || !.

Examples:
  poolstorm load http://127.0.0.1:8080/health --users 64 --duration 30s
  poolstorm load http://127.0.0.1:8080 --rate 500 --duration 1m \\
      --task 'GET /mode1/async weight=3' \\
      --task 'POST /mode2/messages body={\"title\": \"t\", \"contents\": \"c\"}' \\
      --json out.json --hlog out.hlog --fail-if 'p99_ms > 500' --fail-if stalled

Exit status: 0 done, 1 a --fail-if condition held, 2 bad input (a flag, a file, a URL), 3 the run
could not be carried out (an I/O error, a thread that would not start), 130 interrupted.";

/// `poolstorm merge`.
#[derive(Debug, Args)]
#[command(after_help = MERGE_HELP)]
pub struct MergeArgs {
    /// Shards' JSON reports (`poolstorm load --shard I/N --json FILE`), or folders of them.
    #[arg(required = true, value_name = "FILES|DIR")]
    pub inputs: Vec<PathBuf>,

    /// Write the merged JSON report here.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,

    /// Write the merged CSV summary here.
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,

    /// Write the merged HTML report here.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,

    /// Write the merged HdrHistogram interval log here: each second's histogram of every task
    /// together (untagged lines; shards keep no per-task seconds).
    #[arg(long, value_name = "FILE")]
    pub hlog: Option<PathBuf>,

    /// Fail (exit 1) when this condition holds on the merged result (repeatable); the names
    /// of `poolstorm load --fail-if`.
    #[arg(long = "fail-if", value_name = "CONDITION")]
    pub fail_if: Vec<String>,
}

const MERGE_HELP: &str = "\
Every shard of the run must be there, once: shards of another run (another --run-id or
--start-at), a shard given twice, a missing one, or shards that disagree on the target, the
tasks or the settings are refused, naming the files. Percentiles come from the added
histograms, never from averaging the shards' percentiles.

Example:
  poolstorm load http://10.0.0.5:8080/api --users 400 --duration 5m \\
      --shard 0/4 --start-at 2026-12-01T09:00:00Z --json shards/0.json   # on each of 4 machines
  poolstorm merge shards/ --json merged.json --html merged.html --hlog merged.hlog \\
      --fail-if 'p99_ms > 500'

Exit status: 0 merged, 1 a --fail-if condition held, 2 bad input (a file that is not a shard's
report, shards that do not make one run), 3 a file could not be written.";

/// Options shared by `run` and `validate`: which files and what the command line changes.
#[derive(Debug, Args)]
pub struct ScenarioArgs {
    /// Scenario files (TOML; see scenarios/README.md).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Override a parameter in every cell (repeatable), e.g. `--set duration=30s`,
    /// `--set pool_max=17`, `--set target.url=http://127.0.0.1:8080`. Overriding a matrix axis
    /// leaves one value for it.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,

    /// Database backend for every scenario: sqlite, mariadb-local, postgres-local, container
    /// (MySQL), container:postgres, or a mysql://USER:PASS@IP:PORT or
    /// postgres://USER:PASS@IP:PORT URL.
    #[arg(long, value_name = "BACKEND")]
    pub db: Option<String>,

    /// Use each scenario's [quick] values (shorter runs, for CI).
    #[arg(long)]
    pub quick: bool,
}

/// `poolstorm run`.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit status: 0 every rule held in every cell, 1 a rule failed, \
2 bad input (a flag or a scenario file), 3 the run could not be carried out (a database backend \
that would not start, a command target's program that is missing, a cell whose target never \
came up, results that could not be written), 130 interrupted (results so far are kept). \
The last lines name the results' report.html."
)]
pub struct RunArgs {
    #[command(flatten)]
    pub scenarios: ScenarioArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// Where a scenario's results go and how its progress shows (`run` and `advise`).
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Where results go: DIR/<scenario>/<timestamp>/.
    #[arg(long, value_name = "DIR", default_value = "results")]
    pub out: PathBuf,

    /// Live progress on stderr (on a terminal `auto` shows the dashboard).
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,

    /// No live dashboard on a terminal: progress lines instead.
    #[arg(long)]
    pub no_tui: bool,
}

/// `poolstorm advise`.
#[derive(Debug, Args)]
#[command(after_help = ADVISE_HELP)]
pub struct AdviseArgs {
    /// The scenario (one file; its first cell gives every value the search does not set).
    #[command(flatten)]
    pub scenarios: ScenarioArgs,

    /// Runs per pool size; a size locks when any of them locks (the search stops at the
    /// first).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub repeat: u32,

    /// How long each run of the search and of the curve lasts.
    #[arg(long, value_name = "DURATION", default_value = "4s")]
    pub duration: String,

    /// The parameter (or var, for a command target) that sizes the pool.
    #[arg(long, value_name = "NAME", default_value = "pool_max")]
    pub pool_param: String,

    /// The parameter (or var) that counts the threads that each hold a connection: Tn.
    #[arg(long, value_name = "NAME", default_value = "threads")]
    pub threads_param: String,

    /// Measure Cm by the pool-of-N probe even where the service counts it.
    #[arg(long)]
    pub probe: bool,

    /// Results (advice.json beside report.json) and progress.
    #[command(flatten)]
    pub output: OutputArgs,
}

const ADVISE_HELP: &str = "Steps: (1) Cm per task: target-app's max_connections_held, else one \
request at a time on a pool of 1, 2, ... with a 1 s acquire timeout; (2) the floor \
Tn x (Cm - 1) + 1, or what the scenario's `when` rules predict; (3) from there, doubling until a \
size holds, then bisection, each size run --repeat times under a worst-case load (at least a user \
per thread; target-app: 200 ms of work on the first connection) and stopped at its first lock \
(deadlocked or starved); (4) the scenario's own load at the minimum and a few sizes above.

Exit status: 0 advice given, 2 bad input, 3 no advice (a run failed for a reason outside the \
pool, or the pool still locks at 4096), 130 interrupted.";

/// `poolstorm validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub scenarios: ScenarioArgs,
}

/// `poolstorm report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A run's `report.json` (results/<scenario>/<timestamp>/report.json).
    #[arg(value_name = "REPORT_JSON")]
    pub file: PathBuf,

    /// Write the self-contained HTML report (default: report.html beside the JSON).
    #[arg(long)]
    pub html: bool,

    /// Where --html writes.
    #[arg(long, value_name = "FILE", requires = "html")]
    pub out: Option<PathBuf>,
}

/// `poolstorm stub`.
#[derive(Debug, Args)]
pub struct StubArgs {
    /// Address to listen on; port 0 picks a free port. Prints `listening on http://ADDR`.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,

    /// Threads serving requests.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,

    /// Die by SIGKILL when this many requests have arrived, as a crashed service would (for
    /// tests of a target that dies in the middle of a cell).
    #[arg(long, value_name = "N")]
    pub die_after: Option<u64>,

    /// Serve HTTPS with this certificate chain (PEM); HTTP/2 or HTTP/1.1 by ALPN.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The private key (PEM) of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Require a client certificate signed by this CA (PEM): mutual TLS.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub client_ca: Option<PathBuf>,

    /// Plain TCP: HTTP/2 with prior knowledge instead of HTTP/1.1.
    #[arg(long, conflicts_with = "tls_cert")]
    pub h2c: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    /// The help's prose is the one place outcome and rule names are written out by hand: it
    /// names every kind and every `--fail-if` name there is.
    #[test]
    fn load_help_names_every_outcome_kind_and_every_fail_if_name() {
        let words: Vec<&str> = LOAD_HELP
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .collect();
        for kind in crate::engine::metrics::Kind::ALL {
            let name = match kind.name() {
                "http" => "http_",
                name => name,
            };
            assert!(
                words
                    .iter()
                    .any(|w| *w == name || (name == "http_" && w.starts_with(name))),
                "LOAD_HELP misses the outcome {name}"
            );
        }
        for name in crate::results::gate::NAMES {
            assert!(
                words.contains(name),
                "LOAD_HELP misses the --fail-if name {name}"
            );
        }
    }
}
