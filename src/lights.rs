//! The agent's own light changes, after each observation: an identify LED
//! lit too long goes dark, and a fault LED follows the drive in its bay.
//! Each change is a job like any other, enqueued and audited as
//! [`SYSTEM_ACTOR`], and never for a bay a job is already about to change.

use std::time::Duration;

use crate::db::{self, Conn, Db, inventory};
use crate::error::AppError;
use crate::jobs::{self, kinds};
use crate::storage::Led;

/// Who the agent's own jobs say asked for them.
pub const SYSTEM_ACTOR: &str = "baystack";

/// Enqueues every light change due; returns how many.
pub fn follow(db: &Db, locate_off_after: Duration) -> Result<usize, AppError> {
    Ok(darken_stale_locates(db, locate_off_after)? + follow_drive_health(db)?)
}

fn enqueue(
    c: &mut Conn<'_>,
    led: Led,
    bay: &inventory::LitBay,
    on: bool,
    why: &str,
) -> Result<(), AppError> {
    let spec = kinds::bay_led(led, &bay.enclosure, &bay.enclosure_label, bay.slot, on);
    jobs::enqueue_audited(c, &spec, SYSTEM_ACTOR, None, None, Some(why))?;
    Ok(())
}

/// Turns off each identify LED lit for longer than `after`, so lights are
/// not left on for weeks.
pub fn darken_stale_locates(db: &Db, after: Duration) -> Result<usize, AppError> {
    let lit_before = db::now() - chrono::Duration::from_std(after).unwrap_or(chrono::Duration::MAX);
    let why = format!("lit for more than {} min", after.as_secs() / 60);
    db.get()?.write(|c| -> Result<usize, AppError> {
        let stale = inventory::stale_locates(c, lit_before)?;
        for bay in &stale {
            enqueue(c, Led::Locate, bay, false, &why)?;
        }
        Ok(stale.len())
    })
}

/// Lights the fault LED of each bay whose drive is failing, and clears it
/// once the bay holds another drive, a healthy one.
pub fn follow_drive_health(db: &Db) -> Result<usize, AppError> {
    db.get()?.write(|c| -> Result<usize, AppError> {
        let (light, clear) = inventory::fault_changes(c)?;
        for bay in &light {
            enqueue(c, Led::Fault, bay, true, &bay.why)?;
        }
        for bay in &clear {
            enqueue(c, Led::Fault, bay, false, &bay.why)?;
        }
        Ok(light.len() + clear.len())
    })
}
