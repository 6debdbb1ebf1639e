//! Baystack: a web console for a Linux storage appliance.
//!
//! `web` serves pages and the API and records intent in the database;
//! `agent` is the only part that touches the system, through a `storage`
//! backend (`linux` or `sim`); `db` is the one database layer for SQLite and
//! PostgreSQL.

pub mod agent;
pub mod auth;
pub mod bench;

pub mod commands;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod jobs;
pub mod lights;
pub mod naming;
pub mod smart;
pub mod storage;
pub mod web;

/// glibc's malloc gives each thread that allocates an arena of its own (up
/// to eight per core) and, after the first big block is freed, raises the
/// size from which blocks are mapped apart up to 32 MiB: a password hash's
/// 19 MiB is then carved from an arena and stays resident after it is
/// freed. An idle console held tens of MiB that way. Two arenas, and
/// blocks from 4 MiB mapped apart, give them back; smaller ones (a page of
/// HTML and its write buffer, 1 MiB for 1,000 bays) are reused from the
/// arenas rather than mapped, zeroed and unmapped per request, and
/// [`give_back_memory`] returns what stays free. Called first thing in
/// `main`.
pub fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes malloc's parameters; it is called before
    // any other thread exists.
    unsafe {
        use nix::libc::{M_ARENA_MAX, M_MMAP_THRESHOLD, M_TRIM_THRESHOLD, mallopt};
        mallopt(M_ARENA_MAX, 2);
        mallopt(M_MMAP_THRESHOLD, 4 << 20);
        mallopt(M_TRIM_THRESHOLD, 4 << 20);
    }
}

/// Gives the pages malloc holds free back to the system: after the
/// agent's look at 1,000 drives, or a burst of big pages, what was freed is
/// scattered among what stays, where trimming the top of the heap cannot
/// reach it. The agent calls it after each look, the console on its timer.
pub fn give_back_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes malloc's own locks; it only returns free
    // pages to the kernel.
    unsafe {
        nix::libc::malloc_trim(0);
    }
}
