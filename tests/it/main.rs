//! Baystack's one integration test binary (every file in tests/ would link
//! the whole application again). Scenarios that touch the database run on
//! SQLite and on a real PostgreSQL server.

mod alerts;
mod cli;
mod database;
mod drives;
mod first_use;
mod hardening;
mod health;
mod jobs_api;
mod linux_bays;
mod metrics;
mod notify;
mod peers;
mod pool_flow;
mod pools;
mod queue;
mod replication;
mod roles;
mod self_tests;
mod session;
mod setup;
mod support;
mod tokens;
mod torture;
mod volume_flow;
mod wall;
