//! How target-app sends its statements. By default as sqlx does: named prepared statements,
//! cached per connection. Behind a pooler that hands each transaction to any server connection
//! and cannot follow prepared statements (pgbouncer before 1.21 in transaction mode), a named
//! statement prepared on one server is missing, or already taken, on the next
//! ("prepared statement \"sqlx_s_1\" already exists"), and sqlx names them even with its cache
//! off. A PostgreSQL URL with `statement-cache-capacity=0` (sqlx's own knob for that cache)
//! therefore makes every statement unnamed, as JDBC's `prepareThreshold=0` and pgx's
//! `statement_cache_mode=describe` do for the same poolers.
//!
//! One target-app process has one database, so the choice is made once, at connect.

use std::sync::atomic::{AtomicBool, Ordering};

use sqlx::any::{Any, AnyRow};
use sqlx::query::{Query, QueryAs, QueryScalar};
use sqlx::{FromRow, SqlSafeStr};

static NAMED: AtomicBool = AtomicBool::new(true);

type Arguments = <Any as sqlx::Database>::Arguments;

/// Whether statements are named (prepared once per connection and cached).
pub fn named() -> bool {
    NAMED.load(Ordering::Relaxed)
}

/// Chooses, once at connect, whether statements are named.
pub(super) fn set_named(named: bool) {
    NAMED.store(named, Ordering::Relaxed);
}

/// A statement that returns nothing to read (sqlx's `query`).
pub fn query<'q>(sql: impl SqlSafeStr) -> Query<'q, Any, Arguments> {
    sqlx::query(sql).persistent(named())
}

/// A statement whose rows are one value each (sqlx's `query_scalar`).
pub fn scalar<'q, O>(sql: impl SqlSafeStr) -> QueryScalar<'q, Any, O, Arguments>
where
    (O,): for<'r> FromRow<'r, AnyRow>,
{
    sqlx::query_scalar(sql).persistent(named())
}

/// A statement whose rows are tuples (sqlx's `query_as`).
pub fn rows<'q, O>(sql: impl SqlSafeStr) -> QueryAs<'q, Any, O, Arguments>
where
    O: for<'r> FromRow<'r, AnyRow>,
{
    sqlx::query_as(sql).persistent(named())
}
