//! md RAID: the kernel's and mdadm's words for an array, read into `domain::pool`.

pub mod parse;
