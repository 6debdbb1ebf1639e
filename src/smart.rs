//! The SMART poller: on its own schedule (never on a page load), reads
//! every present drive's SMART through the backend, a few drives at a time,
//! and keeps each reading with its verdict, so trends show and a count that
//! grew says so. Between rounds it follows the drives' self-tests: a drive
//! running one is read every tick, and once more when the test should have
//! ended, so its progress and result show without waiting for the round.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use diesel::prelude::*;

use crate::db::Conn;
use crate::db::inventory::DriveRow;
use crate::db::schema::drives;
use crate::db::smart as db_smart;
use crate::db::smart::Keep;
use crate::db::{self, Db, inventory};
use crate::db_run;
use crate::domain::health::Health;
use crate::domain::{SelfTestKind, Smart};
use crate::error::AppError;
use crate::storage::{Backend, NoLog};
use chrono::NaiveDateTime;

/// Enqueues the SMART self-tests that are due: a short test every
/// `short_days` days and a long one every `long_days` days per drive (0:
/// never), counted from the last one Baystack started or from when it
/// first saw the drive, so a new appliance does not test every drive at
/// once. At most one long test is started per round, so long tests, which
/// slow a drive for hours, spread out. Returns how many were enqueued.
pub fn schedule_self_tests(db: &Db, short_days: u32, long_days: u32) -> Result<usize, AppError> {
    use crate::jobs::{self, kinds};
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
            for d in self_tests_due(c, kind, due_before)?.iter().take(at_most) {
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
                db_smart::mark_self_test(c, d.id, kind, now)?;
                enqueued += 1;
            }
        }
        Ok(enqueued)
    })
}

/// Present drives whose SMART can be read (the verdict is known) and for
/// which Baystack last started a `kind` self-test, or first saw them,
/// before `due_before`.
fn self_tests_due(
    c: &mut Conn<'_>,
    kind: SelfTestKind,
    due_before: NaiveDateTime,
) -> QueryResult<Vec<DriveRow>> {
    let readable = drives::table
        .filter(drives::present.eq(true))
        .filter(drives::health.ne(Health::Unknown.as_str()));
    let rows: Vec<DriveRow> = match kind {
        SelfTestKind::Short => db_run!(c, c => readable
            .filter(drives::short_test_at.lt(due_before).or(
                drives::short_test_at.is_null().and(drives::first_seen_at.lt(due_before)),
            ))
            .order(drives::id)
            .select(DriveRow::as_select())
            .load(c)),
        SelfTestKind::Long => db_run!(c, c => readable
            .filter(drives::long_test_at.lt(due_before).or(
                drives::long_test_at.is_null().and(drives::first_seen_at.lt(due_before)),
            ))
            .order(drives::id)
            .select(DriveRow::as_select())
            .load(c)),
    }?;
    // Not while a job holds the drive, nor while its last reading shows a
    // test running (a drive runs one at a time; a long one takes hours).
    let mut due = Vec::new();
    for d in rows {
        let running = db_smart::last_smart(c, d.id)?.is_some_and(|s| s.self_test_running.is_some());
        if !running && !inventory::resource_busy(c, &crate::domain::resource::drive(&d.ident))? {
            due.push(d);
        }
    }
    Ok(due)
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
    let present = all.iter().map(|(id, _, _)| *id).collect();
    let wanted: Vec<_> = all
        .into_iter()
        .filter(|(id, _, _)| known.is_none_or(|k| !k.contains(id)))
        .map(|(id, ident, dev)| (id, ident, dev, Keep::Always))
        .collect();
    Ok(read_and_keep(db, backend, concurrency, wanted, present))
}

/// Reads each drive of `wanted` (id, ident, kernel name, which readings
/// to keep), `concurrency` at a time, and keeps the readings as asked; a
/// drive whose SMART cannot be read gets a reading that says why.
fn read_and_keep(
    db: &Db,
    backend: &dyn Backend,
    concurrency: usize,
    wanted: Vec<(i64, String, Option<String>, Keep)>,
    present: Vec<i64>,
) -> PollReport {
    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let failed = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..concurrency.clamp(1, wanted.len().max(1)) {
            scope.spawn(|| {
                while let Some((id, ident, dev, keep)) =
                    wanted.get(next.fetch_add(1, Ordering::Relaxed))
                {
                    let smart = backend
                        .read_smart(ident, dev.as_deref(), &mut NoLog)
                        .unwrap_or_else(|e| {
                            failed.lock().expect("failed list").push((
                                *id,
                                ident.clone(),
                                e.to_string(),
                            ));
                            Smart::unavailable(e.to_string())
                        });
                    let kept = db.get().map_err(AppError::from).and_then(|mut conn| {
                        conn.write(|c| db_smart::apply_smart(c, *id, &smart, db::now(), *keep))
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
    PollReport {
        drives: wanted.len(),
        present,
        unread: failed.iter().map(|(id, _, _)| *id).collect(),
        failed: failed
            .into_iter()
            .map(|(_, ident, why)| (ident, why))
            .collect(),
        took: started.elapsed(),
    }
}

/// Whether a drive is read again between rounds because of a self-test,
/// and which reading to keep: while its newest kept reading (read at
/// `read_at`) shows a test running, every tick, kept when it says
/// something new (a tenth further, the end); and once the test Baystack
/// last asked for (`asked`: when, which) should have ended by the time
/// the drive gives for it, one reading, kept whatever it says, so the
/// result shows without waiting for the round. `None`: not now.
pub fn follow_up(
    now: NaiveDateTime,
    newest: Option<(NaiveDateTime, &Smart)>,
    asked: Option<(NaiveDateTime, SelfTestKind)>,
) -> Option<Keep> {
    let read_at = newest.map(|(at, _)| at);
    let smart = newest.map(|(_, s)| s);
    if let Some((at, kind)) = asked {
        let minutes = smart.map_or(kind.default_minutes(), |s| s.test_minutes(kind));
        if let Some(m) = minutes {
            let end = at + chrono::Duration::minutes(i64::from(m));
            if now >= end && read_at.is_none_or(|r| r < end) {
                return Some(Keep::Always);
            }
        }
    }
    smart
        .is_some_and(|s| s.self_test_running.is_some())
        .then_some(Keep::IfNews)
}

/// Reads again, now, the drives [`follow_up`] names: those running a
/// self-test and those whose test should just have ended.
pub fn follow_self_tests(
    db: &Db,
    backend: &dyn Backend,
    concurrency: usize,
) -> Result<PollReport, AppError> {
    let rows = crate::db::inventory::present_with_readings(&mut db.get()?.conn())?;
    let now = db::now();
    let present = rows.iter().map(|(d, _)| d.id).collect();
    let wanted = rows
        .into_iter()
        .filter_map(|(d, newest)| {
            let keep = follow_up(
                now,
                newest.as_ref().map(|(at, s)| (*at, s)),
                d.last_test_asked(),
            )?;
            Some((d.id, d.ident, d.dev_name, keep))
        })
        .collect();
    Ok(read_and_keep(db, backend, concurrency, wanted, present))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minutes: i64) -> NaiveDateTime {
        chrono::DateTime::from_timestamp(1_800_000_000, 0)
            .unwrap()
            .naive_utc()
            + chrono::Duration::minutes(minutes)
    }

    fn reading(running: bool, long_minutes: Option<u32>) -> Smart {
        Smart {
            passed: Some(true),
            self_test_running: running.then(|| "self-test in progress, 90% remaining".into()),
            self_test_remaining_percent: running.then_some(90),
            short_test_minutes: Some(1),
            long_test_minutes: long_minutes,
            ..Smart::default()
        }
    }

    /// When a drive is read between rounds for its self-test, and which
    /// readings are kept.
    #[test]
    fn a_running_test_is_followed_and_read_once_more_when_it_should_end() {
        use SelfTestKind::{Long, Short};
        let idle = reading(false, Some(54));
        let busy = reading(true, Some(54));
        // Nothing asked, nothing running: not read.
        assert_eq!(follow_up(at(0), Some((at(-5), &idle)), None), None);
        // Running (started by hand, say): every tick, kept when news.
        assert_eq!(
            follow_up(at(0), Some((at(-1), &busy)), None),
            Some(Keep::IfNews)
        );
        // Baystack asked for a long test 54 minutes ago by the drive's
        // word: due to end now, and no reading since: read and kept.
        let asked = Some((at(-54), Long));
        assert_eq!(
            follow_up(at(0), Some((at(-53), &busy)), asked),
            Some(Keep::Always)
        );
        assert_eq!(
            follow_up(at(0), Some((at(-53), &idle)), asked),
            Some(Keep::Always),
            "whether or not the drive showed it running"
        );
        // Before its end: followed while running, else left be.
        assert_eq!(
            follow_up(at(-1), Some((at(-53), &busy)), asked),
            Some(Keep::IfNews)
        );
        assert_eq!(follow_up(at(-1), Some((at(-53), &idle)), asked), None);
        // Once a reading at or after the end is kept, the end is done.
        assert_eq!(follow_up(at(5), Some((at(0), &idle)), asked), None);
        assert_eq!(
            follow_up(at(5), Some((at(0), &busy)), asked),
            Some(Keep::IfNews),
            "a test that overruns is still followed"
        );
        // The drive's own short time (1 minute), and the two minutes any
        // short test takes where the drive gives none.
        let short = Some((at(-1), Short));
        assert_eq!(
            follow_up(at(0), Some((at(-1), &idle)), short),
            Some(Keep::Always)
        );
        assert_eq!(
            follow_up(at(0), None, short),
            None,
            "no reading: two minutes"
        );
        assert_eq!(
            follow_up(at(1), None, short),
            Some(Keep::Always),
            "no reading: two minutes"
        );
        // A long test on a drive that gives no time: no end is guessed;
        // only a reading that shows it running is followed.
        let silent = reading(false, None);
        assert_eq!(
            follow_up(at(600), Some((at(-1), &silent)), Some((at(-1), Long))),
            None
        );
    }
}
