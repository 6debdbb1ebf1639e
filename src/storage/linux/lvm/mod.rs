//! LVM: physical volumes, volume groups and logical volumes from its JSON reports.

pub mod parse;
