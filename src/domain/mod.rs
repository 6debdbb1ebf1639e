//! Nouns shared by every layer: what the storage parsers produce, the agent records and the pages show.

pub mod pool;
