//! The argument vectors of the `dmsetup` commands that keep each volume's
//! front device: pure, from values already validated. A table is one
//! argument (`--table '0 2048 linear 252:5 0'`), never read from a file.
//! dmsetup's default udev synchronisation is kept: `create`, `resume` and
//! `remove` return once udev has made or removed `/dev/mapper/<name>`.

use std::ffi::OsString;

/// What `dmsetup info -c` is asked for, in the order `parse::info` reads:
/// the name last, so a `:` in another device's name cannot shift a field.
pub const INFO_FIELDS: &str = "attr,open,name";

/// Every device, one line each: `L--w:1:baystack-db01`.
pub fn info() -> Vec<OsString> {
    [
        "info",
        "-c",
        "--noheadings",
        "--separator",
        ":",
        "-o",
        INFO_FIELDS,
    ]
    .map(OsString::from)
    .to_vec()
}

/// Every device's table, each line after its device's name.
pub fn table() -> Vec<OsString> {
    vec!["table".into()]
}

/// One linear segment over all of device `backing` (`major:minor`).
pub fn linear(sectors: u64, backing: &str) -> String {
    format!("0 {sectors} linear {backing} 0")
}

/// Makes device `name` with `uuid`, live with `table`.
pub fn create(name: &str, uuid: &str, table: &str) -> Vec<OsString> {
    ["create", name, "--uuid", uuid, "--table", table]
        .map(OsString::from)
        .to_vec()
}

/// Loads `table` into device `name`'s inactive slot; nothing changes
/// until it is resumed.
pub fn reload(name: &str, table: &str) -> Vec<OsString> {
    ["reload", name, "--table", table]
        .map(OsString::from)
        .to_vec()
}

/// Swaps a loaded table in (suspending the device for the moment: I/O is
/// held, not failed), or resumes a suspended device.
pub fn resume(name: &str) -> Vec<OsString> {
    vec!["resume".into(), name.into()]
}

/// Removes device `name` (refused by the kernel while it is open).
pub fn remove(name: &str) -> Vec<OsString> {
    vec!["remove".into(), name.into()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::linux::md::argv::line;

    #[test]
    fn the_commands() {
        let table = linear(2_097_152, "252:5");
        let lines = [
            line("dmsetup", &info()),
            line("dmsetup", &super::table()),
            line("dmsetup", &create("baystack-db01", "BAYSTACK-db01", &table)),
            line("dmsetup", &reload("baystack-db01", &table)),
            line("dmsetup", &resume("baystack-db01")),
            line("dmsetup", &remove("baystack-db01")),
        ];
        insta::assert_snapshot!(lines.join("\n"));
        // The table is one argument.
        assert_eq!(create("a", "A", &table).len(), 6);
        assert_eq!(reload("a", &table)[3], "0 2097152 linear 252:5 0");
    }
}
