//! Opening the database: several processes (here, threads with their own
//! connections) opening a new database at once all succeed, and exactly one
//! of them applies the migrations.

use baystack::config::DatabaseUrl;
use baystack::db::Db;

use crate::support::PgDatabase;

fn open_many_at_once(url: &DatabaseUrl) {
    let handles: Vec<_> = (0..6)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || Db::open(&url).map(|db| db.applied_at_open.len()))
        })
        .collect();
    let applied: Vec<usize> = handles
        .into_iter()
        .map(|h| {
            h.join()
                .unwrap()
                .unwrap_or_else(|e| panic!("open failed: {e}"))
        })
        .collect();
    assert_eq!(applied.iter().filter(|n| **n > 0).count(), 1, "{applied:?}");
}

#[test]
fn concurrent_opens_migrate_once_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    open_many_at_once(&DatabaseUrl::Sqlite(dir.path().join("baystack.db")));
}

#[test]
fn concurrent_opens_migrate_once_postgres() {
    let pg = PgDatabase::create();
    open_many_at_once(&DatabaseUrl::Postgres(pg.url.clone()));
}
