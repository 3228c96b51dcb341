//! Adapters: each wraps one outside system and knows nothing of plans, steps or the journal.
//! They return plain data and typed errors that name the problem and the fix; the engine's
//! steps decide what to do with them.
pub mod collation;
pub mod compose;
pub mod migrations;
pub mod postgres;
