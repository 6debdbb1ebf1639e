//! md RAID: the kernel's and mdadm's words for an array, read into `domain::pool`.

pub mod argv;
pub mod conf;
pub mod parse;
pub mod wipefs;

use super::LinuxBackend;
use crate::storage::Arrays;

impl Arrays for LinuxBackend {}
