//! Mode 2, the HikariCP + Hibernate pool-locking: each insert runs on one of Tn worker threads,
//! holds connection A for its transaction and, with a table-based sequence, takes a second
//! connection B to allocate its id.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;
use tokio::runtime::Handle;

use super::detached;
use crate::blocking::WorkerSlot;
use crate::config::Engine;
use crate::db::{
    ConnScope, Dialect as _, INSERT_MESSAGE, INSERT_MESSAGE_RETURNING_ID, INSERT_MESSAGE_WITH_ID,
    MESSAGE_STATS,
};
use contract::MessageStats;

use crate::db::statement;
use crate::error::AppError;
use crate::state::App;

/// Longest title accepted (the MySQL column is VARCHAR(200)).
const MAX_TITLE_CHARS: usize = 200;
/// Longest contents accepted.
const MAX_CONTENTS_BYTES: usize = 64 * 1024;

/// The body of `POST /mode2/messages`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewMessage {
    title: String,
    contents: String,
}

/// What a successful insert answers.
#[derive(Debug, Serialize)]
pub(super) struct Created {
    id: i64,
}

impl NewMessage {
    fn check(self) -> Result<Self, AppError> {
        if self.title.chars().count() > MAX_TITLE_CHARS {
            return Err(AppError::BadRequest(format!(
                "title: at most {MAX_TITLE_CHARS} characters"
            )));
        }
        if self.contents.len() > MAX_CONTENTS_BYTES {
            return Err(AppError::BadRequest(format!(
                "contents: at most {MAX_CONTENTS_BYTES} bytes"
            )));
        }
        Ok(self)
    }
}

/// `POST /mode2/messages`: the whole request is one job on the bounded worker pool, as a
/// servlet thread would run it.
pub(super) async fn create_message(
    State(app): State<Arc<App>>,
    Extension(scope): Extension<ConnScope>,
    body: Result<Json<NewMessage>, JsonRejection>,
) -> Result<(StatusCode, Json<Created>), AppError> {
    let Json(message) = body.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let message = message.check()?;
    let id = detached(async move {
        let job_app = Arc::clone(&app);
        app.workers
            .run(move |slot| Handle::current().block_on(insert(&job_app, &scope, slot, message)))
            .await
    })
    .await?;
    Ok((StatusCode::CREATED, Json(Created { id })))
}

/// Begin on A; `--work-ms` of work; id per strategy (maybe on B); insert on A; commit A.
async fn insert(
    app: &App,
    scope: &ConnScope,
    slot: WorkerSlot,
    message: NewMessage,
) -> Result<i64, AppError> {
    let mut a = app.db.acquire(scope).await?;
    let mut tx = sqlx::Connection::begin(&mut **a).await?;
    if app.config.work_ms > 0 {
        // The worker thread is parked in `block_on`; this holds it and A just as busy work would.
        tokio::time::sleep(Duration::from_millis(app.config.work_ms)).await;
    }
    let id = match app.ids.next_id(&app.db, scope, &mut tx, slot).await? {
        Some(id) => {
            statement::query(app.db.engine().sql(INSERT_MESSAGE_WITH_ID))
                .bind(id)
                .bind(message.title)
                .bind(message.contents)
                .execute(&mut *tx)
                .await?;
            id
        }
        None => insert_with_identity(&mut tx, app.db.engine(), message).await?,
    };
    tx.commit().await?;
    Ok(id)
}

/// Inserts and lets the database number the row (AUTO_INCREMENT, INTEGER PRIMARY KEY, an
/// identity column).
async fn insert_with_identity(
    conn: &mut AnyConnection,
    engine: Engine,
    message: NewMessage,
) -> Result<i64, AppError> {
    match engine {
        Engine::Sqlite | Engine::Postgres => {
            Ok(statement::scalar(engine.sql(INSERT_MESSAGE_RETURNING_ID))
                .bind(message.title)
                .bind(message.contents)
                .fetch_one(conn)
                .await?)
        }
        Engine::Mysql => statement::query(INSERT_MESSAGE)
            .bind(message.title)
            .bind(message.contents)
            .execute(conn)
            .await?
            .last_insert_id()
            .ok_or_else(|| AppError::Db("MySQL returned no id for the insert".to_owned())),
    }
}

/// `GET /mode2/messages/stats`: rows, distinct ids and the largest id, for the harness to
/// check that every 201 it counted is one row with its own id.
pub(super) async fn stats(State(app): State<Arc<App>>) -> Result<Json<MessageStats>, AppError> {
    let (rows, distinct_ids, max_id): (i64, i64, i64) = statement::rows(MESSAGE_STATS)
        .fetch_one(app.db.pool())
        .await?;
    Ok(Json(MessageStats {
        rows: rows as u64,
        distinct_ids: distinct_ids as u64,
        max_id,
    }))
}
