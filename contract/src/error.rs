//! Errors as target-app sends them: `{"error": CODE, "message": ...}` with a stable code and
//! the HTTP status that goes with it.

use serde::{Deserialize, Serialize};

/// The stable code of a JSON error body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// No pooled connection became free within the acquire timeout (503).
    PoolTimeout,
    /// SQLite could not take a lock within its busy timeout (500).
    SqliteBusy,
    /// MySQL error 1205 (500).
    MysqlLockWaitTimeout,
    /// MySQL error 1213 (500).
    MysqlDeadlock,
    /// PostgreSQL SQLSTATE 40P01, a deadlock its detector broke (500).
    PgDeadlock,
    /// PostgreSQL SQLSTATE 55P03: a lock `NOWAIT` or `lock_timeout` could not get (500).
    LockNotAvailable,
    /// PostgreSQL SQLSTATE 57014: `statement_timeout` cancelled the query (500).
    StatementTimeout,
    /// PostgreSQL SQLSTATE 53300: the server's max_connections, or pgbouncer's, is reached
    /// (500).
    TooManyConnections,
    /// Any other database error (500).
    Db,
    /// The request itself is wrong (400).
    BadRequest,
}

impl ErrorCode {
    /// Every code.
    pub const ALL: [ErrorCode; 10] = [
        ErrorCode::PoolTimeout,
        ErrorCode::SqliteBusy,
        ErrorCode::MysqlLockWaitTimeout,
        ErrorCode::MysqlDeadlock,
        ErrorCode::PgDeadlock,
        ErrorCode::LockNotAvailable,
        ErrorCode::StatementTimeout,
        ErrorCode::TooManyConnections,
        ErrorCode::Db,
        ErrorCode::BadRequest,
    ];

    /// The code as sent in `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::PoolTimeout => "pool_timeout",
            ErrorCode::SqliteBusy => "sqlite_busy",
            ErrorCode::MysqlLockWaitTimeout => "mysql_lock_wait_timeout",
            ErrorCode::MysqlDeadlock => "mysql_deadlock",
            ErrorCode::PgDeadlock => "pg_deadlock",
            ErrorCode::LockNotAvailable => "lock_not_available",
            ErrorCode::StatementTimeout => "statement_timeout",
            ErrorCode::TooManyConnections => "too_many_connections",
            ErrorCode::Db => "db",
            ErrorCode::BadRequest => "bad_request",
        }
    }

    /// The HTTP status sent with it.
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::PoolTimeout => 503,
            ErrorCode::BadRequest => 400,
            _ => 500,
        }
    }

    /// The code named `text`, if it is one.
    pub fn from_code(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == text)
    }
}

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorCode,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialize_as_their_names_and_parse_back() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(ErrorCode::from_code(code.as_str()), Some(code));
        }
        assert_eq!(ErrorCode::from_code("nope"), None);
        assert_eq!(ErrorCode::PoolTimeout.status(), 503);
    }
}
