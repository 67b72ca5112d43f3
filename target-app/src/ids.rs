//! Message id allocation for mode 2, after Hibernate's table-based sequence and its
//! optimizers. `table`, `pooled-lo` and `pooled-lotl` take a second pooled connection (B) for
//! an isolated `select ... for update; update; commit` on `id_sequence` while the request still
//! holds its own connection (A): that is what locks a pool smaller than Tn x (Cm - 1) + 1.

use sqlx::AnyConnection;
use tokio::sync::Mutex;

use crate::blocking::WorkerSlot;
use crate::config::IdStrategy;
use crate::db::statement;
use crate::db::{
    ADVANCE_SEQUENCE, BUMP_SEQUENCE, ConnScope, Database, Dialect as _, READ_SEQUENCE,
    SEQUENCE_NAME,
};
use crate::error::AppError;

/// How often B retries when another writer moved the sequence between its read and its update.
const MAX_SEQUENCE_RETRIES: usize = 16;

/// Ids handed out from memory: `next..end`.
#[derive(Debug, Default, Clone, Copy)]
struct Block {
    next: i64,
    end: i64,
}

impl Block {
    fn take(&mut self) -> Option<i64> {
        (self.next < self.end).then(|| {
            self.next += 1;
            self.next - 1
        })
    }
}

/// Allocates ids per the configured strategy.
#[derive(Debug)]
pub struct IdAllocator {
    strategy: IdStrategy,
    block_size: i64,
    /// `pooled-lo`: one block for all threads (Hibernate synchronizes `generate`).
    shared: Mutex<Block>,
    /// `pooled-lotl`: one block per worker slot (Hibernate's ThreadLocal).
    per_slot: Vec<Mutex<Block>>,
}

impl IdAllocator {
    /// An allocator for `threads` worker slots.
    pub fn new(strategy: IdStrategy, block_size: u32, threads: usize) -> Self {
        let per_slot = match strategy {
            IdStrategy::PooledLotl => (0..threads).map(|_| Mutex::default()).collect(),
            _ => Vec::new(),
        };
        Self {
            strategy,
            block_size: i64::from(block_size),
            shared: Mutex::default(),
            per_slot,
        }
    }

    /// The strategy.
    pub fn strategy(&self) -> IdStrategy {
        self.strategy
    }

    /// The id for the next row, or `None` when the database assigns it on insert (`identity`).
    /// `a` is the request's own connection with its transaction open.
    pub async fn next_id(
        &self,
        db: &Database,
        scope: &ConnScope,
        a: &mut AnyConnection,
        slot: WorkerSlot,
    ) -> Result<Option<i64>, AppError> {
        let id = match self.strategy {
            IdStrategy::Identity => return Ok(None),
            IdStrategy::SameConn => {
                let engine = db.engine();
                statement::query(engine.sql(BUMP_SEQUENCE))
                    .bind(SEQUENCE_NAME)
                    .execute(&mut *a)
                    .await?;
                let next: i64 = statement::scalar(engine.sql(READ_SEQUENCE))
                    .bind(SEQUENCE_NAME)
                    .fetch_one(&mut *a)
                    .await?;
                next - 1
            }
            IdStrategy::Table => allocate_on_second_connection(db, scope, 1).await?,
            IdStrategy::PooledLo => self.take_from(&self.shared, db, scope).await?,
            IdStrategy::PooledLotl => {
                let block = self
                    .per_slot
                    .get(slot.0)
                    .expect("one block per worker slot");
                self.take_from(block, db, scope).await?
            }
        };
        Ok(Some(id))
    }

    async fn take_from(
        &self,
        block: &Mutex<Block>,
        db: &Database,
        scope: &ConnScope,
    ) -> Result<i64, AppError> {
        let mut block = block.lock().await;
        if let Some(id) = block.take() {
            return Ok(id);
        }
        let lo = allocate_on_second_connection(db, scope, self.block_size).await?;
        *block = Block {
            next: lo,
            end: lo + self.block_size,
        };
        Ok(block.take().expect("a fresh block is never empty"))
    }
}

/// Reserves `size` ids on a second pooled connection in its own transaction, commits and
/// releases it: Hibernate's `JdbcIsolationDelegate.delegateWork` around `TableStructure`.
/// Returns the first id of the block.
async fn allocate_on_second_connection(
    db: &Database,
    scope: &ConnScope,
    size: i64,
) -> Result<i64, AppError> {
    let engine = db.engine();
    let mut b = db.acquire(scope).await?;
    let mut tx = sqlx::Connection::begin_with(&mut **b, engine.begin_sequence_tx()).await?;
    for _ in 0..MAX_SEQUENCE_RETRIES {
        let lo: i64 = statement::scalar(engine.select_sequence_locked())
            .bind(SEQUENCE_NAME)
            .fetch_one(&mut *tx)
            .await?;
        let moved = statement::query(engine.sql(ADVANCE_SEQUENCE))
            .bind(lo + size)
            .bind(SEQUENCE_NAME)
            .bind(lo)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if moved == 1 {
            tx.commit().await?;
            return Ok(lo);
        }
    }
    Err(AppError::Db(format!(
        "id_sequence kept moving: gave up after {MAX_SEQUENCE_RETRIES} tries"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_hands_out_each_id_once_then_runs_dry() {
        let mut b = Block { next: 10, end: 13 };
        assert_eq!(
            (b.take(), b.take(), b.take(), b.take()),
            (Some(10), Some(11), Some(12), None)
        );
    }

    #[test]
    fn pooled_lotl_keeps_one_block_per_worker_slot() {
        assert_eq!(
            IdAllocator::new(IdStrategy::PooledLotl, 10, 4)
                .per_slot
                .len(),
            4
        );
        assert!(
            IdAllocator::new(IdStrategy::PooledLo, 10, 4)
                .per_slot
                .is_empty()
        );
    }
}
