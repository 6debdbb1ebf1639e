//! The sim engine's md arrays and LVM volume groups.

use super::*;
use crate::storage::{Arrays, Volumes};

impl Arrays for SimBackend {}

impl Volumes for SimBackend {}
