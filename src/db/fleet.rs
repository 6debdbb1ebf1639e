//! The fleet's registry of appliances, which each agent writes at every
//! look and each wall reads: the appliance's own database, or with
//! `[fleet] database` a PostgreSQL of the fleet's own, so appliances that
//! keep their own SQLite still show on one wall.
//!
//! A registry of its own is a server elsewhere, which may be down when the
//! console starts or go away later: the appliance runs on without it. It
//! is opened when first needed and, while it cannot be, tried again at
//! most every [`RETRY`], each try bounded by a connect timeout; in between
//! callers get the reason in words at once. A connection whose server
//! vanishes gives up after [`UNANSWERED_MS`] (`tcp_user_timeout`), not
//! the kernel's quarter of an hour.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::wall::{self, ApplianceRow};
use super::{Db, FLEET_POOL, one_line};
use crate::config::DatabaseUrl;

/// How long a registry that could not be opened is left before trying
/// again.
pub const RETRY: Duration = Duration::from_secs(10);

/// How long connecting to the registry's server may take (libpq's
/// `connect_timeout`), and how long what was sent to it may go unanswered
/// (`tcp_user_timeout`); each added unless the URL sets it.
const CONNECT_SECONDS: u32 = 3;
const UNANSWERED_MS: u32 = 10_000;

/// The registry: cheap to clone, shared by the web and the agent.
#[derive(Clone)]
pub struct Fleet(Arc<Inner>);

struct Inner {
    own: Db,
    /// `[fleet] database`, with its timeouts.
    apart: Option<DatabaseUrl>,
    /// It as configured, without its password.
    shown: String,
    opened: Mutex<Opened>,
}

enum Opened {
    Never,
    Failed { at: Instant, why: String },
    Open(Db),
}

impl Fleet {
    /// The registry in `apart` when set, else in `own`.
    pub fn new(own: &Db, apart: Option<DatabaseUrl>) -> Fleet {
        Fleet(Arc::new(Inner {
            own: own.clone(),
            shown: apart
                .as_ref()
                .map_or_else(String::new, DatabaseUrl::redacted),
            apart: apart.map(with_connect_timeout),
            opened: Mutex::new(Opened::Never),
        }))
    }

    /// Whether the registry is a database of its own.
    pub fn apart(&self) -> bool {
        self.0.apart.is_some()
    }

    /// The registry's database, opening it (and applying the schema) if it
    /// is not open yet; blocking. Why not, in words, while it cannot be.
    pub fn db(&self) -> Result<Db, String> {
        let Some(url) = &self.0.apart else {
            return Ok(self.0.own.clone());
        };
        // Under the lock: a second caller waits for this attempt (at most
        // the connect timeout) rather than making its own.
        let mut opened = self.0.opened.lock().unwrap_or_else(|e| e.into_inner());
        match &*opened {
            Opened::Open(db) => return Ok(db.clone()),
            Opened::Failed { at, why } if at.elapsed() < RETRY => return Err(why.clone()),
            Opened::Never | Opened::Failed { .. } => {}
        }
        match Db::open_shaped(url, &FLEET_POOL) {
            Ok(db) => {
                tracing::info!("fleet registry {} opened", db.description());
                *opened = Opened::Open(db.clone());
                Ok(db)
            }
            Err(e) => {
                let why = format!(
                    "The fleet registry cannot be reached: {}",
                    one_line(&e.to_string())
                );
                tracing::warn!("{why}");
                *opened = Opened::Failed {
                    at: Instant::now(),
                    why: why.clone(),
                };
                Err(why)
            }
        }
    }

    /// Every appliance in the registry, by host name; blocking.
    pub fn appliances(&self) -> Result<Vec<ApplianceRow>, String> {
        let db = self.db()?;
        let mut conn = db.get().map_err(|e| self.trouble(e))?;
        wall::appliances(&mut conn.conn()).map_err(|e| self.trouble(e))
    }

    /// Records `row` in the registry; blocking.
    pub fn register(&self, row: &ApplianceRow) -> Result<(), String> {
        let db = self.db()?;
        let mut conn = db.get().map_err(|e| self.trouble(e))?;
        conn.write(|c| wall::register(c, row))
            .map_err(|e| self.trouble(e))
    }

    fn trouble(&self, e: impl std::fmt::Display) -> String {
        let e = one_line(&e.to_string());
        match &self.0.apart {
            Some(_) => format!("The fleet registry {} failed: {e}", self.0.shown),
            None => format!("The registry of appliances failed: {e}"),
        }
    }
}

/// `url` with libpq's `connect_timeout` and `tcp_user_timeout` unless it
/// sets them, so a server that does not answer is given up on in seconds.
fn with_connect_timeout(url: DatabaseUrl) -> DatabaseUrl {
    let DatabaseUrl::Postgres(mut text) = url else {
        return url;
    };
    for (key, value) in [
        ("connect_timeout", CONNECT_SECONDS),
        ("tcp_user_timeout", UNANSWERED_MS),
    ] {
        if !text.contains(&format!("{key}=")) {
            let joint = if text.contains('?') { '&' } else { '?' };
            text = format!("{text}{joint}{key}={value}");
        }
    }
    DatabaseUrl::Postgres(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_are_added_unless_set() {
        let pg = |t: &str| match with_connect_timeout(DatabaseUrl::Postgres(t.into())) {
            DatabaseUrl::Postgres(u) => u,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            pg("postgres://b@fleet/fleet"),
            "postgres://b@fleet/fleet?connect_timeout=3&tcp_user_timeout=10000"
        );
        assert_eq!(
            pg("postgres://b@fleet/fleet?sslmode=require&tcp_user_timeout=9"),
            "postgres://b@fleet/fleet?sslmode=require&tcp_user_timeout=9&connect_timeout=3"
        );
        let sqlite = DatabaseUrl::Sqlite("f.db".into());
        assert_eq!(with_connect_timeout(sqlite.clone()), sqlite);
    }
}
