//! Planner statistics after bulk writes (PostgreSQL).
//!
//! Autovacuum analyzes a table only on its next round (`autovacuum_naptime`, a minute by
//! default) once a tenth of it changed: right after the initial sync of a large cluster the
//! planner still plans with the statistics of a nearly empty table, and list and label queries
//! took 5–25× longer until autovacuum came (measured by `cargo xtask bench scale`). The layer
//! therefore runs `ANALYZE resources` itself, in the background and one at a time, whenever the
//! rows written since the last one reach half of those written before it (at least
//! [`MIN_ROWS`]): a handful of runs during an initial sync of a million objects, rarely
//! afterwards. MySQL/MariaDB (InnoDB recalculates statistics after 10% changed) and SQLite
//! (its queries name their indexes where the plan matters) are left alone.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::db::Db;
use crate::dialect::Dialect;

/// Rows written before the first `ANALYZE`, and at least between two.
const MIN_ROWS: u64 = 10_000;

/// Counts rows written and decides when to analyze (shared by the handles of one pool).
#[derive(Debug, Default)]
pub(crate) struct Statistics {
    /// Rows written in total, and when the last `ANALYZE` started.
    counts: Mutex<(u64, u64)>,
    running: AtomicBool,
}

impl Statistics {
    /// Records `rows` written; true when an `ANALYZE` is due now (and marks it started).
    fn due(&self, rows: u64) -> bool {
        let Ok(mut counts) = self.counts.lock() else {
            return false;
        };
        let (total, at_last) = &mut *counts;
        *total += rows;
        let since = *total - *at_last;
        if since < MIN_ROWS.max(*at_last / 2) || self.running.swap(true, Ordering::AcqRel) {
            return false;
        }
        *at_last = *total;
        true
    }
}

/// Records `rows` written through `db`; starts a background `ANALYZE resources` when due.
pub(crate) fn wrote(db: &Db, rows: u64) {
    if db.dialect() != Dialect::Postgres || !db.statistics().due(rows) {
        return;
    }
    let db = db.clone();
    tokio::spawn(async move {
        let mut sql = db.sql();
        sql.push("ANALYZE resources");
        let started = std::time::Instant::now();
        match db.execute("analyze resources", &sql).await {
            Ok(_) => tracing::debug!(
                elapsed_ms = started.elapsed().as_millis() as u64,
                "analyzed the resources table after bulk writes"
            ),
            Err(e) => tracing::warn!(error = %e, "cannot analyze the resources table"),
        }
        db.statistics().running.store(false, Ordering::Release);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn analyzes_when_the_rows_since_the_last_run_reach_half_of_those_before() {
        let stats = Statistics::default();
        assert!(!stats.due(MIN_ROWS - 1), "below the minimum");
        assert!(stats.due(1), "10,000 rows: the first run");
        stats.running.store(false, Ordering::Release);
        assert!(
            !stats.due(MIN_ROWS - 1),
            "the minimum applies between runs too"
        );
        assert!(stats.due(1), "20,000 rows");
        stats.running.store(false, Ordering::Release);
        assert!(!stats.due(MIN_ROWS - 1));
        assert!(stats.due(1), "30,000: half of 20,000 is below the minimum");
        stats.running.store(false, Ordering::Release);
        assert!(
            !stats.due(14_999),
            "45,000 is the next: half of 30,000 more"
        );
        assert!(stats.due(1));
        // One at a time: due again, but the last one has not finished.
        assert!(!stats.due(1_000_000));
        stats.running.store(false, Ordering::Release);
        assert!(stats.due(1), "due once the running one ended");
    }
}
