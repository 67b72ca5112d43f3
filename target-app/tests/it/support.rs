//! Test support: fresh databases on both engines, `target-app` started as a real child process
//! on port 0, and bounded concurrent load from the test itself.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;
use serde_json::Value;
use sqlx::Connection as _;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The environment variable naming the MySQL/MariaDB server the tests use
/// (`mysql://USER[:PASS]@IP:PORT`; `make test` starts a throwaway one and sets it).
pub(crate) const MYSQL_URL_VAR: &str = "POOLSTORM_MYSQL_URL";
/// The same for PostgreSQL (`postgres://USER[:PASS]@IP:PORT`).
pub(crate) const POSTGRES_URL_VAR: &str = "POOLSTORM_POSTGRES_URL";

/// Which engine a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    Sqlite,
    #[cfg_attr(not(feature = "interop"), allow(dead_code))]
    Mariadb,
    #[cfg_attr(not(feature = "interop"), allow(dead_code))]
    Postgres,
}

/// A fresh, empty database for one test.
#[derive(Debug)]
pub(crate) struct TestDb {
    pub(crate) url: String,
    _dir: Option<tempfile::TempDir>,
}

/// The server named by `var` as `scheme://authority`; `what` says what to run when unset.
fn server_url(var: &str, what: &str) -> String {
    let url = std::env::var(var).unwrap_or_else(|_| {
        panic!("this test needs a {what} server: run `make test` (it starts a throwaway one) or set {var}")
    });
    let (scheme, rest) = url
        .split_once("://")
        .unwrap_or_else(|| panic!("{var} is a URL"));
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    format!("{scheme}://{authority}")
}

impl Backend {
    /// A new empty database named after the test (a MySQL or PostgreSQL database of that name
    /// is dropped first, so reruns start clean).
    pub(crate) async fn fresh_db(self, name: &str) -> TestDb {
        match self {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join(format!("{name}.db")).display()
                );
                TestDb {
                    url,
                    _dir: Some(dir),
                }
            }
            Backend::Mariadb | Backend::Postgres => {
                sqlx::any::install_default_drivers();
                let db = format!("ta_{name}");
                // The server's own database to connect to, and how it drops one still in use.
                let (server, admin, drop) = match self {
                    Backend::Mariadb => (
                        server_url(MYSQL_URL_VAR, "MySQL/MariaDB"),
                        "/",
                        format!("DROP DATABASE IF EXISTS `{db}`"),
                    ),
                    _ => (
                        server_url(POSTGRES_URL_VAR, "PostgreSQL"),
                        "/postgres",
                        format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"),
                    ),
                };
                let mut conn = sqlx::AnyConnection::connect(&format!("{server}{admin}"))
                    .await
                    .unwrap_or_else(|e| panic!("connect to {server}: {e}"));
                sqlx::query(sqlx::AssertSqlSafe(drop))
                    .execute(&mut conn)
                    .await
                    .expect("drop old test database");
                TestDb {
                    url: format!("{server}/{db}"),
                    _dir: None,
                }
            }
        }
    }
}

/// A running `target-app` child process, killed when dropped.
#[derive(Debug)]
pub(crate) struct RunningApp {
    child: Child,
    pub(crate) base: String,
    pub(crate) client: reqwest::Client,
    stderr: Arc<Mutex<String>>,
    stderr_reader: tokio::task::JoinHandle<()>,
}

/// The `target-app` binary built by cargo for these tests.
pub(crate) fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_target-app")
}

impl RunningApp {
    /// Starts the app on `db` with extra flags (as typed: `"--threads 8 --pool-max 4"`) and
    /// waits for its `listening on` line.
    pub(crate) async fn start(db: &TestDb, flags: &str) -> Self {
        let mut child = Command::new(binary())
            .arg("--database-url")
            .arg(&db.url)
            .args(flags.split_whitespace())
            .env("TARGET_APP_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn target-app");
        let stderr = Arc::new(Mutex::new(String::new()));
        // Line by line as the app writes, so a failing start can show what it said so far.
        let mut err_lines = BufReader::new(child.stderr.take().expect("stderr piped")).lines();
        let sink = Arc::clone(&stderr);
        let stderr_reader = tokio::spawn(async move {
            while let Ok(Some(line)) = err_lines.next_line().await {
                let mut all = sink.lock().unwrap();
                all.push_str(&line);
                all.push('\n');
            }
        });
        let mut lines = BufReader::new(child.stdout.take().expect("stdout piped")).lines();
        let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await;
        let base = match first {
            Ok(Ok(Some(line))) => line
                .strip_prefix("listening on ")
                .unwrap_or_else(|| panic!("unexpected first line: {line}"))
                .to_owned(),
            other => {
                let _ = child.kill().await;
                // The pipe closes with the process: everything it wrote is in by then.
                let _ = tokio::time::timeout(Duration::from_secs(5), stderr_reader).await;
                panic!(
                    "target-app did not start ({other:?}); stderr:\n{}",
                    stderr.lock().unwrap()
                );
            }
        };
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .build()
            .expect("client");
        Self {
            child,
            base,
            client,
            stderr,
            stderr_reader,
        }
    }

    /// `GET /debug/pool`.
    pub(crate) async fn snapshot(&self) -> Value {
        self.client
            .get(format!("{}/debug/pool", self.base))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .expect("GET /debug/pool")
            .json()
            .await
            .expect("snapshot JSON")
    }

    /// `GET path` and its status and JSON body (Null when not JSON).
    pub(crate) async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("GET");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Sends SIGTERM and waits (at most `limit`) for the exit status.
    pub(crate) async fn terminate(self, limit: Duration) -> Option<i32> {
        self.terminate_and_read_stderr(limit).await.0
    }

    /// Sends SIGTERM, waits (at most `limit`, then SIGKILL) for the exit status, and returns
    /// it (`None`: it had to be killed) with all the app wrote to stderr, read to the end of
    /// the pipe.
    pub(crate) async fn terminate_and_read_stderr(
        mut self,
        limit: Duration,
    ) -> (Option<i32>, String) {
        let pid = self.child.id().expect("running");
        signal::kill(Pid::from_raw(pid as i32), Signal::SIGTERM).expect("SIGTERM");
        let code = match tokio::time::timeout(limit, self.child.wait()).await {
            Ok(status) => status.expect("wait").code(),
            Err(_) => {
                let _ = self.child.kill().await;
                None
            }
        };
        // The pipe closes with the process: everything it wrote is in by then.
        tokio::time::timeout(Duration::from_secs(5), self.stderr_reader)
            .await
            .expect("stderr closes when the app exits")
            .expect("stderr reader");
        let stderr = self.stderr.lock().unwrap().clone();
        (code, stderr)
    }

    /// Stops the app (SIGTERM, SIGKILL after 10 s) and returns all it wrote to stderr.
    pub(crate) async fn stop_and_read_stderr(self) -> String {
        self.terminate_and_read_stderr(Duration::from_secs(10))
            .await
            .1
    }
}

/// Responses counted by status and by JSON error code.
#[derive(Debug, Default, Clone)]
pub(crate) struct Tally {
    pub(crate) by_status: BTreeMap<u16, u64>,
    pub(crate) by_error: BTreeMap<String, u64>,
    /// Requests that got no response (client timeout or connection error).
    pub(crate) no_response: u64,
    pub(crate) ids: Vec<i64>,
}

impl Tally {
    pub(crate) fn status(&self, code: u16) -> u64 {
        self.by_status.get(&code).copied().unwrap_or_default()
    }

    pub(crate) fn error(&self, code: &str) -> u64 {
        self.by_error.get(code).copied().unwrap_or_default()
    }

    pub(crate) fn completed(&self) -> u64 {
        self.by_status.values().sum()
    }

    fn add(&mut self, outcome: Result<(u16, Value), ()>) {
        match outcome {
            Ok((status, body)) => {
                *self.by_status.entry(status).or_default() += 1;
                if let Some(code) = body.get("error").and_then(Value::as_str) {
                    *self.by_error.entry(code.to_owned()).or_default() += 1;
                }
                if let Some(id) = body.get("id").and_then(Value::as_i64) {
                    self.ids.push(id);
                }
            }
            Err(()) => self.no_response += 1,
        }
    }
}

/// What one simulated client sends.
#[derive(Debug, Clone)]
pub(crate) enum Call {
    Get(String),
    PostMessage,
}

impl Call {
    pub(crate) fn get(path: &str) -> Self {
        Self::Get(path.to_owned())
    }
}

async fn send(
    client: &reqwest::Client,
    base: &str,
    call: &Call,
    timeout: Duration,
) -> Result<(u16, Value), ()> {
    let request = match call {
        Call::Get(path) => client.get(format!("{base}{path}")),
        Call::PostMessage => client
            .post(format!("{base}/mode2/messages"))
            .json(&serde_json::json!({"title": "hello", "contents": "pool-locking"})),
    };
    let response = request.timeout(timeout).send().await.map_err(|_| ())?;
    let status = response.status().as_u16();
    Ok((status, response.json().await.unwrap_or(Value::Null)))
}

/// Load started in the background: `clients` tasks, each sending `call` once or in a loop.
#[derive(Debug)]
pub(crate) struct Load {
    tally: Arc<Mutex<Tally>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    /// Each of `clients` tasks sends one request, waiting at most `timeout` for its answer.
    pub(crate) fn once(app: &RunningApp, clients: usize, call: Call, timeout: Duration) -> Self {
        Self::spawn(app, clients, call, timeout, None)
    }

    /// Each of `clients` tasks sends requests back to back until `duration` is over.
    pub(crate) fn looping(
        app: &RunningApp,
        clients: usize,
        call: Call,
        timeout: Duration,
        duration: Duration,
    ) -> Self {
        Self::spawn(app, clients, call, timeout, Some(Instant::now() + duration))
    }

    fn spawn(
        app: &RunningApp,
        clients: usize,
        call: Call,
        timeout: Duration,
        until: Option<Instant>,
    ) -> Self {
        let tally = Arc::new(Mutex::new(Tally::default()));
        let call = Arc::new(call);
        let tasks = (0..clients)
            .map(|_| {
                let (client, base, call, tally) = (
                    app.client.clone(),
                    app.base.clone(),
                    Arc::clone(&call),
                    Arc::clone(&tally),
                );
                tokio::spawn(async move {
                    loop {
                        let outcome = send(&client, &base, &call, timeout).await;
                        tally.lock().unwrap().add(outcome);
                        if until.is_none_or(|t| Instant::now() >= t) {
                            break;
                        }
                    }
                })
            })
            .collect();
        Self { tally, tasks }
    }

    /// The tally so far.
    pub(crate) fn tally(&self) -> Tally {
        self.tally.lock().unwrap().clone()
    }

    /// Waits (at most `limit`) for every client to finish, then returns the tally.
    pub(crate) async fn finish(self, limit: Duration) -> Tally {
        let deadline = tokio::time::Instant::now() + limit;
        let tally = self.tally;
        for task in self.tasks {
            tokio::time::timeout_at(deadline, task)
                .await
                .expect("load finished within its bound")
                .expect("client task");
        }
        tally.lock().unwrap().clone()
    }

    /// Stops every client now and returns the tally.
    pub(crate) fn abort(self) -> Tally {
        for task in &self.tasks {
            task.abort();
        }
        self.tally()
    }
}

/// Polls `/debug/pool` until `condition` holds, for at most `limit`.
pub(crate) async fn wait_for_snapshot(
    app: &RunningApp,
    limit: Duration,
    condition: impl Fn(&Value) -> bool,
) -> Value {
    wait_until(limit, async || {
        let s = app.snapshot().await;
        if condition(&s) {
            Ok(s)
        } else {
            Err(format!("last snapshot: {s:#}"))
        }
    })
    .await
}

/// Asks `check` every 20 ms until it answers `Ok`, for at most `limit`; then fails with what
/// its last `Err` said was there instead. The one wait of these tests.
pub(crate) async fn wait_until<T>(
    limit: Duration,
    mut check: impl AsyncFnMut() -> Result<T, String>,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        let seen = match check().await {
            Ok(value) => return value,
            Err(seen) => seen,
        };
        assert!(
            Instant::now() < deadline,
            "not reached within {limit:?}; {seen}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A JSON number at a path like `pool.in_use`.
pub(crate) fn num(v: &Value, path: &str) -> u64 {
    path.split('.')
        .fold(v, |v, key| &v[key])
        .as_u64()
        .unwrap_or_else(|| panic!("no number at `{path}` in {v:#}"))
}

/// Declares each listed `async fn name(Backend)` as one test per engine: `sqlite::name`, and
/// `mariadb::name` and `postgres::name` in the tier that has those servers (feature `interop`,
/// `make test`).
#[macro_export]
macro_rules! on_every_engine {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::Backend::Sqlite).await
                }
            )*
        }
        #[cfg(feature = "interop")]
        mod mariadb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::Backend::Mariadb).await
                }
            )*
        }
        #[cfg(feature = "interop")]
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::Backend::Postgres).await
                }
            )*
        }
    };
}
