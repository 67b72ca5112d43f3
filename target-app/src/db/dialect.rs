//! The SQL text that differs between SQLite and MySQL/MariaDB. Every value is bound as a
//! parameter (`?` on both engines); nothing here is ever spliced together with input.

use crate::config::Engine;

/// The SQL that differs by engine, as methods on [`Engine`].
pub trait Dialect: Copy {
    /// Statements that create the schema; safe to run again on an existing database.
    fn schema(self) -> &'static [&'static str];
    /// How the isolated sequence transaction on connection B begins. SQLite has no
    /// `SELECT ... FOR UPDATE`, so B takes the write lock up front with `BEGIN IMMEDIATE`.
    fn begin_sequence_tx(self) -> &'static str;
    /// Reads the next value of a sequence row, locking it where the engine can
    /// (Hibernate's `select next_val as id_val from hibernate_sequence for update`).
    fn select_sequence_locked(self) -> &'static str;
    /// Highest auto-increment value handed out so far for `messages`.
    fn select_auto_increment(self) -> &'static str;
}

/// Name of the row in `id_sequence` that numbers messages (Hibernate's `hibernate_sequence`).
pub const SEQUENCE_NAME: &str = "messages";

impl Dialect for Engine {
    fn schema(self) -> &'static [&'static str] {
        match self {
            Engine::Sqlite => &[
                "CREATE TABLE IF NOT EXISTS id_sequence (\
                   name TEXT NOT NULL PRIMARY KEY, next_val INTEGER NOT NULL)",
                "CREATE TABLE IF NOT EXISTS messages (\
                   id INTEGER PRIMARY KEY AUTOINCREMENT, title TEXT NOT NULL, contents TEXT NOT NULL)",
                "INSERT OR IGNORE INTO id_sequence (name, next_val) VALUES ('messages', 1)",
            ],
            Engine::Mysql => &[
                "CREATE TABLE IF NOT EXISTS id_sequence (\
                   name VARCHAR(64) NOT NULL PRIMARY KEY, next_val BIGINT NOT NULL) ENGINE=InnoDB",
                "CREATE TABLE IF NOT EXISTS messages (\
                   id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, title VARCHAR(200) NOT NULL, \
                   contents TEXT NOT NULL) ENGINE=InnoDB",
                "INSERT IGNORE INTO id_sequence (name, next_val) VALUES ('messages', 1)",
            ],
        }
    }

    fn begin_sequence_tx(self) -> &'static str {
        match self {
            Engine::Sqlite => "BEGIN IMMEDIATE",
            Engine::Mysql => "BEGIN",
        }
    }

    fn select_sequence_locked(self) -> &'static str {
        match self {
            Engine::Sqlite => "SELECT next_val FROM id_sequence WHERE name = ?",
            Engine::Mysql => "SELECT next_val FROM id_sequence WHERE name = ? FOR UPDATE",
        }
    }

    fn select_auto_increment(self) -> &'static str {
        match self {
            Engine::Sqlite => {
                "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'messages'), 0)"
            }
            Engine::Mysql => {
                "SELECT CAST(COALESCE(AUTO_INCREMENT, 1) AS SIGNED) - 1 FROM information_schema.TABLES \
                 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'messages'"
            }
        }
    }
}

/// Moves the sequence forward by a block (optimistic: no row changes if another writer moved
/// it first, which the caller treats as a retry, as Hibernate's `TableStructure` does).
pub const ADVANCE_SEQUENCE: &str =
    "UPDATE id_sequence SET next_val = ? WHERE name = ? AND next_val = ?";

/// Inside A's own transaction: bump first (taking the row or write lock), then read.
pub const BUMP_SEQUENCE: &str = "UPDATE id_sequence SET next_val = next_val + 1 WHERE name = ?";
pub const READ_SEQUENCE: &str = "SELECT next_val FROM id_sequence WHERE name = ?";

pub const INSERT_MESSAGE_WITH_ID: &str =
    "INSERT INTO messages (id, title, contents) VALUES (?, ?, ?)";
/// `identity` on MySQL: the id comes back in the OK packet (`LAST_INSERT_ID()`).
pub const INSERT_MESSAGE: &str = "INSERT INTO messages (title, contents) VALUES (?, ?)";
/// `identity` on SQLite: sqlx's `Any` driver does not pass SQLite's rowid on, so ask for it.
pub const INSERT_MESSAGE_RETURNING_ID: &str =
    "INSERT INTO messages (title, contents) VALUES (?, ?) RETURNING id";
/// `--query-delay-ms` (MySQL/MariaDB): the server sleeps, so the session shows as running.
pub const SLEEP: &str = "SELECT SLEEP(?)";
pub const MESSAGE_STATS: &str =
    "SELECT COUNT(*), COUNT(DISTINCT id), COALESCE(MAX(id), 0) FROM messages";
pub const MAX_MESSAGE_ID: &str = "SELECT COALESCE(MAX(id), 0) FROM messages";
