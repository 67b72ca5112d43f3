//! Mode 1, the FastAPI + SQLAlchemy + anyio deadlock: a sync handler on the bounded blocking
//! pool whose request-scoped session is torn down by a second job. With `--teardown shared`
//! that job queues behind handlers that are themselves blocked waiting for the connections
//! the queued teardowns would return. The two fixes are separate routes.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use tokio::runtime::Handle;

use super::detached;
use crate::config::{MAX_HOLD_MS, Teardown};
use crate::db::statement;
use crate::db::{ConnScope, Database, Lease};
use crate::error::AppError;
use crate::state::App;

/// `?hold_ms=` overrides `--hold-ms` for one request.
#[derive(Debug, Deserialize)]
pub(super) struct HoldQuery {
    hold_ms: Option<u64>,
}

/// What a mode-1 request answers.
#[derive(Debug, Serialize)]
pub(super) struct Answer {
    /// The result of `SELECT 1`.
    value: i64,
    hold_ms: u64,
}

/// What every mode-1 handler starts from: the state, the request's connection scope and the
/// validated hold time (`?hold_ms=` or `--hold-ms`; out of 0..=60000 is a 400).
#[derive(Debug)]
pub(super) struct Mode1Request {
    app: Arc<App>,
    scope: ConnScope,
    hold: Duration,
}

impl FromRequestParts<Arc<App>> for Mode1Request {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<App>,
    ) -> Result<Self, Self::Rejection> {
        let Query(query) = Query::<HoldQuery>::from_request_parts(parts, app)
            .await
            .map_err(|e| AppError::BadRequest(format!("hold_ms: {}", e.body_text())))?;
        let ms = query.hold_ms.unwrap_or(app.config.hold_ms);
        if ms > MAX_HOLD_MS {
            return Err(AppError::BadRequest(format!(
                "hold_ms must be 0..={MAX_HOLD_MS}, got {ms}"
            )));
        }
        let scope = parts
            .extensions
            .get::<ConnScope>()
            .cloned()
            .ok_or_else(|| {
                AppError::Db("route registered without connection tracking".to_owned())
            })?;
        Ok(Self {
            app: Arc::clone(app),
            scope,
            hold: Duration::from_millis(ms),
        })
    }
}

/// A SQLAlchemy-style session: it checks a connection out of the pool at its first query and
/// keeps it until closed. Used from blocking jobs only.
#[derive(Debug)]
struct Session {
    db: Arc<Database>,
    scope: ConnScope,
    conn: Option<Lease>,
}

impl Session {
    fn open(db: Arc<Database>, scope: ConnScope) -> Self {
        Self {
            db,
            scope,
            conn: None,
        }
    }

    /// Runs `SELECT 1`, checking a connection out first if the session has none (blocking).
    fn select_one(&mut self) -> Result<i64, AppError> {
        Handle::current().block_on(async {
            if self.conn.is_none() {
                self.conn = Some(self.db.acquire(&self.scope).await?);
            }
            let conn = self.conn.as_mut().expect("checked out above");
            Ok(statement::scalar::<i64>("SELECT 1")
                .fetch_one(&mut ***conn)
                .await?)
        })
    }

    /// Returns the connection to the pool.
    fn close(self) {
        drop(self.conn);
    }
}

/// The path operation itself: one query, then `time.sleep(hold)` with the connection held.
fn path_operation(session: &mut Session, hold: Duration) -> Result<Answer, AppError> {
    let value = session.select_one()?;
    std::thread::sleep(hold);
    Ok(Answer {
        value,
        hold_ms: u64::try_from(hold.as_millis()).unwrap_or(u64::MAX),
    })
}

/// One handler job on the bounded pool: a fresh session, the path operation, and, when
/// `close_in_job`, the session closed before the job gives its thread back. Otherwise the
/// session (and the connection it may hold) is handed back for a teardown job.
async fn handler_job(
    request: &Mode1Request,
    close_in_job: bool,
) -> (Option<Session>, Result<Answer, AppError>) {
    let (app, scope, hold) = (
        Arc::clone(&request.app),
        request.scope.clone(),
        request.hold,
    );
    detached(async move {
        let db = Arc::clone(&app.db);
        app.workers
            .run(move |_| {
                let mut session = Session::open(db, scope);
                let answer = path_operation(&mut session, hold);
                if close_in_job {
                    session.close();
                    return (None, answer);
                }
                (Some(session), answer)
            })
            .await
    })
    .await
}

/// `GET /mode1/dependency`: handler job on the bounded pool with a request-scoped session;
/// the response is sent when the handler job ends and the teardown job runs afterwards, as in
/// FastAPI before 0.106.
pub(super) async fn dependency(request: Mode1Request) -> Result<Json<Answer>, AppError> {
    let teardown = request.app.config.teardown;
    let (session, answer) = handler_job(&request, teardown == Teardown::Inline).await;
    if let Some(session) = session {
        tokio::spawn(tear_down(request.app, teardown, session));
    }
    answer.map(Json)
}

/// The dependency's exit code (`db.close()`), submitted as its own blocking job.
async fn tear_down(app: Arc<App>, teardown: Teardown, session: Session) {
    let _pending = app.teardown_pending.enter();
    let pool = match teardown {
        Teardown::Shared => &app.workers,
        Teardown::Separate | Teardown::Inline => &app.teardown_pool,
    };
    pool.run(move |_| session.close()).await;
}

/// `GET /mode1/per-operation`: the session-per-operation fix: open, query, hold and close in
/// one job, so a job never waits for a connection that only a later job can return.
pub(super) async fn per_operation(request: Mode1Request) -> Result<Json<Answer>, AppError> {
    handler_job(&request, true).await.1.map(Json)
}

/// `GET /mode1/async`: the async fix: no blocking pool at all; the connection is awaited,
/// held across an async sleep and dropped in the same task.
pub(super) async fn async_handler(request: Mode1Request) -> Result<Json<Answer>, AppError> {
    let Mode1Request { app, scope, hold } = request;
    detached(async move {
        let mut conn = app.db.acquire(&scope).await?;
        let value = statement::scalar::<i64>("SELECT 1")
            .fetch_one(&mut **conn)
            .await?;
        tokio::time::sleep(hold).await;
        drop(conn);
        Ok(Answer {
            value,
            hold_ms: u64::try_from(hold.as_millis()).unwrap_or(u64::MAX),
        })
    })
    .await
    .map(Json)
}
