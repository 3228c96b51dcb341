//! The engine: plans, steps, the runner, its events and its journal.
//!
//! Invariant: nothing under `engine` touches a terminal or an outside system (no ratatui,
//! crossterm, bollard or tokio-postgres). Front ends talk to the runner only through
//! [`commands::Command`] in and [`events::Event`] out; steps reach the world through their own
//! fields, never through the engine.

pub mod commands;
pub mod events;
pub mod fault;
pub mod journal;
pub mod lock;
pub mod plan;
pub mod recovery;
pub mod redact;
pub mod runner;
pub mod step;

pub use commands::{CancelReason, Command};
pub use events::{Event, EventKind, RunOutcome};
pub use journal::{Entry, Journal, Record};
pub use plan::Plan;
pub use recovery::{RunState, StepState};
pub use runner::{Policy, Runner};
pub use step::{Finish, Step, StepContext, StepError, StepKind};
