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
