//! Errors as HTTP responses: the contract's [`ErrorBody`], `{"error": CODE, "message": ...}`,
//! with the stable [`ErrorCode`] the harness classifies by.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use contract::{ErrorBody, ErrorCode};
use sqlx::mysql::MySqlDatabaseError;
use sqlx::sqlite::SqliteError;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// No connection became free within the acquire timeout.
    #[error(
        "pool timed out while waiting for an open connection after {waited_ms} ms \
         (open={open}, in_use={in_use}, waiting={waiting})"
    )]
    PoolTimeout {
        waited_ms: u64,
        open: u32,
        in_use: u32,
        waiting: u64,
    },
    /// SQLite could not take a lock within its busy timeout.
    #[error("database is locked: {0}")]
    SqliteBusy(String),
    /// MySQL error 1205.
    #[error("lock wait timeout exceeded: {0}")]
    MysqlLockWaitTimeout(String),
    /// MySQL error 1213.
    #[error("deadlock found when trying to get lock: {0}")]
    MysqlDeadlock(String),
    /// A PostgreSQL error with a stable code of its own (see [`PG_CODES`]).
    #[error("{1}")]
    Postgres(ErrorCode, String),
    /// Any other database error.
    #[error("database error: {0}")]
    Db(String),
    /// The request itself is wrong.
    #[error("{0}")]
    BadRequest(String),
}

impl AppError {
    /// The stable error code sent as `error`.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::PoolTimeout { .. } => ErrorCode::PoolTimeout,
            Self::SqliteBusy(_) => ErrorCode::SqliteBusy,
            Self::MysqlLockWaitTimeout(_) => ErrorCode::MysqlLockWaitTimeout,
            Self::MysqlDeadlock(_) => ErrorCode::MysqlDeadlock,
            Self::Postgres(code, _) => *code,
            Self::Db(_) => ErrorCode::Db,
            Self::BadRequest(_) => ErrorCode::BadRequest,
        }
    }

    /// The HTTP status sent with it.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.code().status()).expect("error statuses are valid")
    }
}

/// The PostgreSQL SQLSTATEs with a stable code of their own.
pub const PG_CODES: [(&str, ErrorCode); 4] = [
    ("40P01", ErrorCode::PgDeadlock),
    ("55P03", ErrorCode::LockNotAvailable),
    ("57014", ErrorCode::StatementTimeout),
    ("53300", ErrorCode::TooManyConnections),
];

/// SQLite's primary result code for "busy" (extended codes keep it in the low byte).
const SQLITE_BUSY: i64 = 5;

impl From<sqlx::Error> for AppError {
    fn from(err: sqlx::Error) -> Self {
        if let sqlx::Error::PoolTimedOut = err {
            return Self::PoolTimeout {
                waited_ms: 0,
                open: 0,
                in_use: 0,
                waiting: 0,
            };
        }
        let text = err.to_string();
        let Some(db) = err.as_database_error() else {
            return Self::Db(text);
        };
        if let Some(mysql) = db.try_downcast_ref::<MySqlDatabaseError>() {
            return match mysql.number() {
                1205 => Self::MysqlLockWaitTimeout(text),
                1213 => Self::MysqlDeadlock(text),
                _ => Self::Db(text),
            };
        }
        if db.try_downcast_ref::<SqliteError>().is_some() {
            let code = db
                .code()
                .and_then(|c| c.parse::<i64>().ok())
                .unwrap_or_default();
            if code & 0xff == SQLITE_BUSY {
                return Self::SqliteBusy(text);
            }
            return Self::Db(text);
        }
        // PostgreSQL's: read by SQLSTATE, which needs no driver type (the `postgres` feature
        // may be off); the four are PostgreSQL's own classes, which MySQL does not send.
        let state = db.code().unwrap_or_default();
        match PG_CODES.iter().find(|(s, _)| *s == state) {
            Some(&(_, code)) => Self::Postgres(code, text),
            None => Self::Db(text),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code(),
            message: self.to_string(),
        };
        (self.status(), Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_statuses_are_stable() {
        let timeout = AppError::PoolTimeout {
            waited_ms: 1,
            open: 1,
            in_use: 1,
            waiting: 1,
        };
        assert_eq!(
            (timeout.code(), timeout.status().as_u16()),
            (ErrorCode::PoolTimeout, 503)
        );
        assert_eq!(
            AppError::SqliteBusy(String::new()).code(),
            ErrorCode::SqliteBusy
        );
        assert_eq!(AppError::BadRequest(String::new()).status().as_u16(), 400);
        assert_eq!(AppError::Db(String::new()).status().as_u16(), 500);
    }

    #[test]
    fn pool_timed_out_becomes_pool_timeout() {
        assert_eq!(
            AppError::from(sqlx::Error::PoolTimedOut).code(),
            ErrorCode::PoolTimeout
        );
    }
}
