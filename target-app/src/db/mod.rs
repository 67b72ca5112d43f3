//! The database: one sqlx pool (SQLite, MySQL/MariaDB or PostgreSQL through sqlx's `Any`
//! driver) wrapped so that waiting callers, acquire waits and acquire timeouts are counted, and
//! every connection is counted against the request that holds it.

mod dialect;
mod lease;
mod schema;
pub mod statement;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;

pub use contract::snapshot::PoolSnapshot;
pub use dialect::*;
pub use lease::{ConnScope, Lease};
use prometheus_client::metrics::histogram::Histogram;

use crate::config::{AcquireTimeout, DatabaseUrl, Engine};
use crate::error::AppError;
use crate::metrics::Gauge;

/// Upper bounds (seconds) of the acquire-wait histogram buckets.
pub const ACQUIRE_WAIT_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// How a pool is set up.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub max: u32,
    pub min: u32,
    pub acquire_timeout: AcquireTimeout,
    /// Fault injection: a server-side sleep every checkout runs first (MySQL, PostgreSQL).
    pub checkout_delay: Duration,
}

/// The pool and its counters.
#[derive(Debug)]
pub struct Database {
    pool: AnyPool,
    engine: Engine,
    settings: PoolSettings,
    waiting: Gauge,
    acquire_timeouts: AtomicU64,
    acquire_wait: Histogram,
}

impl Database {
    /// Connects, creates the schema and reconciles the id counters.
    pub async fn connect(
        url: &DatabaseUrl,
        settings: PoolSettings,
    ) -> Result<Arc<Self>, sqlx::Error> {
        sqlx::any::install_default_drivers();
        let engine = url.engine;
        statement::set_named(!url.unnamed_statements());
        let options = AnyPoolOptions::new()
            .max_connections(settings.max)
            .min_connections(settings.min)
            .acquire_timeout(settings.acquire_timeout.as_duration());
        let options = match engine {
            Engine::Sqlite => options.after_connect(|conn, _| {
                Box::pin(async move {
                    for pragma in [
                        "PRAGMA journal_mode = WAL",
                        "PRAGMA synchronous = NORMAL",
                        "PRAGMA busy_timeout = 5000",
                    ] {
                        statement::query(pragma).execute(&mut *conn).await?;
                    }
                    Ok(())
                })
            }),
            Engine::Mysql | Engine::Postgres => options,
        };
        let pool = match options.clone().connect(url.as_str()).await {
            Err(err) if schema::is_unknown_database(&err) => {
                schema::create_database(url).await?;
                options.connect(url.as_str()).await?
            }
            other => other?,
        };
        if engine == Engine::Postgres {
            // One transaction: behind a transaction pooler its statements all keep one server
            // connection, and so do the two round trips of each unnamed statement.
            let mut tx = pool.begin().await?;
            schema::prepare(&mut tx, engine).await?;
            tx.commit().await?;
        } else {
            let mut conn = pool.acquire().await?;
            schema::prepare(&mut conn, engine).await?;
        }
        Ok(Arc::new(Self {
            pool,
            engine,
            settings,
            waiting: Gauge::default(),
            acquire_timeouts: AtomicU64::new(0),
            acquire_wait: Histogram::new(ACQUIRE_WAIT_BUCKETS.iter().copied()),
        }))
    }

    /// Which engine this is.
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// Waits for a pooled connection, counted as held by `scope` until the lease is dropped.
    /// A timeout is [`AppError::PoolTimeout`].
    pub async fn acquire(&self, scope: &ConnScope) -> Result<Lease, AppError> {
        let started = Instant::now();
        let result = {
            let _waiting = self.waiting.enter();
            self.pool.acquire().await
        };
        let waited = started.elapsed();
        self.acquire_wait.observe(waited.as_secs_f64());
        match result {
            Ok(conn) => {
                let mut lease = Lease::new(conn, scope);
                if !self.settings.checkout_delay.is_zero() {
                    let sleep = match self.engine {
                        Engine::Postgres => PG_SLEEP,
                        Engine::Sqlite | Engine::Mysql => SLEEP,
                    };
                    statement::query(self.engine.sql(sleep))
                        .bind(self.settings.checkout_delay.as_secs_f64())
                        .execute(&mut **lease)
                        .await?;
                }
                Ok(lease)
            }
            Err(sqlx::Error::PoolTimedOut) => Err(self.timed_out(waited)),
            Err(err) => Err(err.into()),
        }
    }

    fn timed_out(&self, waited: Duration) -> AppError {
        self.acquire_timeouts.fetch_add(1, Ordering::SeqCst);
        let snapshot = self.snapshot();
        AppError::PoolTimeout {
            waited_ms: u64::try_from(waited.as_millis()).unwrap_or(u64::MAX),
            open: snapshot.open,
            in_use: snapshot.in_use,
            waiting: snapshot.waiting,
        }
    }

    /// The pool for statements that need no lease accounting (stats queries).
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Pool gauges now.
    pub fn snapshot(&self) -> PoolSnapshot {
        let open = self.pool.size();
        let idle = u32::try_from(self.pool.num_idle())
            .unwrap_or(u32::MAX)
            .min(open);
        PoolSnapshot {
            max: self.settings.max,
            min: self.settings.min,
            open,
            idle,
            in_use: open - idle,
            waiting: self.waiting.get(),
            acquire_timeouts: self.acquire_timeouts.load(Ordering::SeqCst),
            acquire_timeout_ms: self.settings.acquire_timeout.as_millis(),
        }
    }

    /// The acquire-wait histogram (seconds).
    pub fn acquire_wait(&self) -> &Histogram {
        &self.acquire_wait
    }

    /// Closes the pool, waiting at most `grace` for connections still lent out.
    pub async fn close(&self, grace: Duration) {
        let _ = tokio::time::timeout(grace, self.pool.close()).await;
    }
}
