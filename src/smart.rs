//! The SMART poller: on its own schedule (never on a page load), reads
//! every present drive's SMART through the backend, a few drives at a time,
//! and keeps each reading with its verdict, so trends show and a count that
//! grew says so.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use diesel::prelude::*;

use crate::db::schema::drives;
use crate::db::{self, Db, inventory};
use crate::db_run;
use crate::error::AppError;
use crate::storage::{Backend, Smart};

/// Enqueues the SMART self-tests that are due: a short test every
/// `short_days` days and a long one every `long_days` days per drive (0:
/// never), counted from the last one Baystack started or from when it
/// first saw the drive, so a new appliance does not test every drive at
/// once. At most one long test is started per round, so long tests, which
/// slow a drive for hours, spread out. Returns how many were enqueued.
pub fn schedule_self_tests(db: &Db, short_days: u32, long_days: u32) -> Result<usize, AppError> {
    use crate::jobs::{self, kinds};
    use crate::storage::SelfTestKind;
    let now = db::now();
    db.get()?.write(|c| -> Result<usize, AppError> {
        let mut enqueued = 0;
        for (kind, days, at_most) in [
            (SelfTestKind::Long, long_days, 1),
            (SelfTestKind::Short, short_days, usize::MAX),
        ] {
            if days == 0 {
                continue;
            }
            let due_before = now - chrono::Duration::days(days.into());
            for d in inventory::self_tests_due(c, kind, due_before)?
                .iter()
                .take(at_most)
            {
                let spec =
                    kinds::self_test(d.id, &d.ident, d.dev_name.as_deref(), &d.label(), kind);
                let why = format!("due every {days} day(s)");
                jobs::enqueue_audited(
                    c,
                    &spec,
                    crate::lights::SYSTEM_ACTOR,
                    None,
                    None,
                    Some(&why),
                )?;
                // Counted from the asking, so a drive that refuses is asked
                // again a period later, not every round.
                inventory::mark_self_test(c, d.id, kind, now)?;
                enqueued += 1;
            }
        }
        Ok(enqueued)
    })
}

/// What one round of reading did.
#[derive(Debug, Clone, Default)]
pub struct PollReport {
    /// Drives read.
    pub drives: usize,
    /// Every drive present when the round began, read or not.
    pub present: Vec<i64>,
    /// The drives among those read whose reading failed.
    pub unread: Vec<i64>,
    /// Drives whose SMART could not be read, with the reason.
    pub failed: Vec<(String, String)>,
    pub took: Duration,
}

/// Reads every present drive's SMART now, `concurrency` drives at a time,
/// and keeps each reading and its verdict.
pub fn poll_once(
    db: &Db,
    backend: &dyn Backend,
    concurrency: usize,
) -> Result<PollReport, AppError> {
    poll(db, backend, concurrency, None)
}

/// As [`poll_once`], for the present drives not in `known` only: those that
/// appeared since (a drive put in a bay is read at once, not at the next
/// round).
pub fn poll_newcomers(
    db: &Db,
    backend: &dyn Backend,
    concurrency: usize,
    known: &HashSet<i64>,
) -> Result<PollReport, AppError> {
    poll(db, backend, concurrency, Some(known))
}

fn poll(
    db: &Db,
    backend: &dyn Backend,
    concurrency: usize,
    known: Option<&HashSet<i64>>,
) -> Result<PollReport, AppError> {
    let started = Instant::now();
    let all: Vec<(i64, String, Option<String>)> = {
        let mut conn = db.get()?;
        let mut c = conn.conn();
        db_run!(&mut c, c => drives::table
            .filter(drives::present.eq(true))
            .order(drives::id)
            .select((drives::id, drives::ident, drives::dev_name))
            .load(c))
        .map_err(db::DbError::from)?
    };
    let present: Vec<_> = all
        .iter()
        .filter(|(id, _, _)| known.is_none_or(|k| !k.contains(id)))
        .collect();
    let next = AtomicUsize::new(0);
    let failed = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..concurrency.clamp(1, present.len().max(1)) {
            scope.spawn(|| {
                while let Some((id, ident, dev)) = present.get(next.fetch_add(1, Ordering::Relaxed))
                {
                    let smart = backend
                        .read_smart(ident, dev.as_deref(), &mut crate::storage::NoLog)
                        .unwrap_or_else(|e| {
                            failed.lock().expect("failed list").push((
                                *id,
                                ident.clone(),
                                e.to_string(),
                            ));
                            Smart::unavailable(e.to_string())
                        });
                    let kept = db.get().map_err(AppError::from).and_then(|mut conn| {
                        conn.write(|c| inventory::apply_smart(c, *id, &smart, db::now(), true))
                            .map_err(|e| AppError::from(db::DbError::from(e)))
                    });
                    if let Err(e) = kept {
                        failed.lock().expect("failed list").push((
                            *id,
                            ident.clone(),
                            e.to_string(),
                        ));
                    }
                }
            });
        }
    });
    let failed = failed.into_inner().expect("failed list");
    Ok(PollReport {
        drives: present.len(),
        present: all.iter().map(|(id, _, _)| *id).collect(),
        unread: failed.iter().map(|(id, _, _)| *id).collect(),
        failed: failed
            .into_iter()
            .map(|(_, ident, why)| (ident, why))
            .collect(),
        took: started.elapsed(),
    })
}
