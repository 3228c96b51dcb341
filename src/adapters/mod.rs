//! Adapters: one outside system each (Docker, PostgreSQL, HTTP, the compose file); they know
//! nothing of plans or steps.

pub mod fingerprint;
