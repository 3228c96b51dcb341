//! cutover: a terminal wizard (and a headless runner on the same engine) that takes a Docker
//! Compose deployment through a maintenance-window upgrade.
//!
//! Layout (see DESIGN.md): `engine` knows plans, steps, the runner and the journal and nothing of
//! terminals or Docker; `adapters` wrap one outside system each and know nothing of plans;
//! `upgrade` is the built-in pgvector plan that joins the two; `tui` and `headless` are views
//! over the engine's events plus a command channel.

pub mod adapters;
pub mod cli;
pub mod config;
pub mod engine;
pub mod exit;
pub mod headless;
pub mod plans;
pub mod report;
pub mod secrets;
pub mod tui;
pub mod upgrade;
