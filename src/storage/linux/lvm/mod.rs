//! LVM: physical volumes, volume groups and logical volumes from its JSON reports.

pub mod parse;

use super::LinuxBackend;
use crate::storage::Volumes;

impl Volumes for LinuxBackend {}
