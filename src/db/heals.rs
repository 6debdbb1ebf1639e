//! Unreadable sectors of pool members rewritten from redundancy: each
//! attempt, and whether the sector read back.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::Conn;
use super::schema::sector_heals;
use crate::db_run;

/// The most sectors a drive may have healed before it is offered for
/// replacement instead: a drive that keeps losing sectors is failing.
pub const HEAL_LIMIT: i64 = 8;

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = sector_heals)]
pub struct HealRow {
    pub id: i64,
    pub drive_id: i64,
    pub pool_id: i64,
    pub lba: i64,
    /// What named the sector: "self-test", "kernel".
    pub source: String,
    pub job_id: Option<i64>,
    #[serde(serialize_with = "super::utc")]
    pub started_at: NaiveDateTime,
    #[serde(serialize_with = "super::utc_opt")]
    pub finished_at: Option<NaiveDateTime>,
    pub healed: Option<bool>,
    pub result: Option<String>,
}

/// Every attempt on a drive, newest first.
pub fn of_drive(c: &mut Conn<'_>, drive_id: i64) -> QueryResult<Vec<HealRow>> {
    db_run!(c, c => sector_heals::table
        .filter(sector_heals::drive_id.eq(drive_id))
        .order(sector_heals::started_at.desc())
        .select(HealRow::as_select())
        .load(c))
}

/// Records a heal started by job `job_id`.
pub fn start(
    c: &mut Conn<'_>,
    drive_id: i64,
    pool_id: i64,
    lba: u64,
    source: &str,
    job_id: i64,
    now: NaiveDateTime,
) -> QueryResult<()> {
    db_run!(c, c => diesel::insert_into(sector_heals::table)
        .values((
            sector_heals::drive_id.eq(drive_id),
            sector_heals::pool_id.eq(pool_id),
            sector_heals::lba.eq(i64::try_from(lba).unwrap_or(i64::MAX)),
            sector_heals::source.eq(source),
            sector_heals::job_id.eq(job_id),
            sector_heals::started_at.eq(now),
        ))
        .execute(c))?;
    Ok(())
}

/// Records that a sector healed before was named unreadable again.
pub fn came_back(
    c: &mut Conn<'_>,
    drive_id: i64,
    pool_id: i64,
    lba: i64,
    source: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    db_run!(c, c => diesel::insert_into(sector_heals::table)
        .values((
            sector_heals::drive_id.eq(drive_id),
            sector_heals::pool_id.eq(pool_id),
            sector_heals::lba.eq(lba),
            sector_heals::source.eq(source),
            sector_heals::started_at.eq(now),
            sector_heals::finished_at.eq(now),
            sector_heals::healed.eq(false),
            sector_heals::result.eq("the sector came back after it was healed"),
        ))
        .execute(c))?;
    Ok(())
}

/// The sector a kernel line names ("... dev sdc, sector 123456 op ..."),
/// in 512-byte sectors.
pub fn sector_in(line: &str) -> Option<u64> {
    let at = line.find(", sector ")? + ", sector ".len();
    let digits: String = line[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// Records how the heal of job `job_id` ended.
pub fn finish(
    c: &mut Conn<'_>,
    job_id: i64,
    healed: bool,
    result: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    db_run!(c, c => diesel::update(sector_heals::table.filter(sector_heals::job_id.eq(job_id)))
        .set((
            sector_heals::finished_at.eq(now),
            sector_heals::healed.eq(healed),
            sector_heals::result.eq(result),
        ))
        .execute(c))
}

/// Why a drive should be replaced rather than healed again, if it should:
/// a sector healed before came back, a heal did not take, or more than
/// [`HEAL_LIMIT`] sectors were healed.
pub fn verdict(heals: &[HealRow]) -> Option<String> {
    if let Some(h) = heals.iter().find(|h| h.healed == Some(false)) {
        return Some(match h.job_id {
            Some(_) => format!(
                "sector {} stayed unreadable after a repair from redundancy",
                h.lba
            ),
            None => format!("sector {} came back after it was healed", h.lba),
        });
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(h) = heals
        .iter()
        .rev()
        .filter(|h| h.healed == Some(true))
        .find(|h| !seen.insert(h.lba))
    {
        return Some(format!("sector {} came back after it was healed", h.lba));
    }
    let healed = heals.iter().filter(|h| h.healed == Some(true)).count();
    (i64::try_from(healed).unwrap_or(i64::MAX) > HEAL_LIMIT)
        .then(|| format!("{healed} sectors healed, more than the {HEAL_LIMIT} a sound drive loses"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kernel_line_names_its_sector() {
        assert_eq!(
            sector_in("critical medium error, dev sdc, sector 123456 op 0x0:(READ) flags 0x0"),
            Some(123456)
        );
        assert_eq!(
            sector_in("I/O error, dev sdb, sector 2048 op 0x0:(READ) flags 0x80700 phys_seg 1"),
            Some(2048)
        );
        assert_eq!(
            sector_in("Buffer I/O error on dev sdc, logical block 5"),
            None
        );
        assert_eq!(sector_in("dev sdc, sector x"), None);
    }

    /// The kernel's line (as the lab's 6.1 kernel wrote it) spoiled every
    /// way: cut at every point, and its sector replaced by numbers that do
    /// not fit; the parse gives the sector written there, or nothing.
    #[test]
    fn a_spoiled_kernel_line_gives_its_sector_or_nothing() {
        let line = "critical medium error, dev sdi, sector 12345 op 0x0:(READ) flags 0x800 phys_seg 1 prio class 2";
        for cut in 0..=line.len() {
            let got = sector_in(&line[..cut]);
            let whole = cut >= line.find(" op").unwrap();
            match got {
                Some(n) => assert!("12345".starts_with(&n.to_string()), "cut at {cut}: {n}"),
                None => assert!(!whole, "cut at {cut}: the whole sector is there"),
            }
        }
        for (number, want) in [
            ("0", Some(0)),
            ("-1", None),
            ("18446744073709551616", None),
            ("9e9", Some(9)),
            ("", None),
            (&"9".repeat(400), None),
        ] {
            let spoiled = line.replace("12345", number);
            assert_eq!(sector_in(&spoiled), want, "{spoiled}");
        }
    }
}
