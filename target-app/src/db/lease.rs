//! A pooled connection lent to one request, and the per-request count of connections held at
//! once (the observed Cm of HikariCP's pool-sizing formula).

use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::Any;
use sqlx::pool::PoolConnection;

/// Counts the connections one request holds and raises its route's maximum as they grow.
#[derive(Debug, Clone)]
pub struct ConnScope {
    held: Arc<AtomicU32>,
    route_max: Arc<AtomicU32>,
}

impl ConnScope {
    /// A scope for one request whose route keeps its maximum in `route_max`.
    pub fn new(route_max: Arc<AtomicU32>) -> Self {
        Self {
            held: Arc::default(),
            route_max,
        }
    }

    /// A scope that reports to nobody (schema setup, tests).
    pub fn detached() -> Self {
        Self::new(Arc::default())
    }

    /// Connections this request holds now.
    pub fn held(&self) -> u32 {
        self.held.load(Ordering::SeqCst)
    }

    fn enter(&self) {
        let now = self.held.fetch_add(1, Ordering::SeqCst) + 1;
        self.route_max.fetch_max(now, Ordering::SeqCst);
    }
}

/// A pooled connection counted against its request's [`ConnScope`] until dropped. Dropping it
/// returns the connection to the pool (sqlx does that on a runtime task).
#[derive(Debug)]
pub struct Lease {
    conn: PoolConnection<Any>,
    scope: ConnScope,
}

impl Lease {
    pub(crate) fn new(conn: PoolConnection<Any>, scope: &ConnScope) -> Self {
        scope.enter();
        Self {
            conn,
            scope: scope.clone(),
        }
    }
}

impl Deref for Lease {
    type Target = PoolConnection<Any>;

    fn deref(&self) -> &Self::Target {
        &self.conn
    }
}

impl DerefMut for Lease {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.conn
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.scope.held.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_max_keeps_the_peak_of_concurrent_holds() {
        let route_max = Arc::new(AtomicU32::new(0));
        let scope = ConnScope::new(Arc::clone(&route_max));
        scope.enter();
        scope.enter();
        scope.held.fetch_sub(2, Ordering::SeqCst);
        scope.enter();
        assert_eq!(scope.held(), 1);
        assert_eq!(route_max.load(Ordering::SeqCst), 2);
    }
}
