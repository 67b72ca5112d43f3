//! `GET /mode2/messages/stats`: what the messages table holds, for the harness to check that
//! every 201 it counted is one row with an id of its own.

use serde::{Deserialize, Serialize};

/// Rows in `messages`, their distinct ids and the largest id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageStats {
    pub rows: u64,
    pub distinct_ids: u64,
    pub max_id: i64,
}
