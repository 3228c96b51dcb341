//! The command line: argument definitions (clap) and dispatch to the front ends.
//!
//! Flags are the last configuration layer (see `crate::config`). Headless output is chosen
//! automatically when stdout is not a terminal.

mod commands;
mod demo;
mod rehearse;
mod rollback;
mod runs;
mod window_logs;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub use commands::main;

use crate::config::Partial;
use crate::exit::EXIT_CODES_HELP;

#[derive(Debug, Parser)]
#[command(
    name = "cutover",
    version,
    about = "Take a Docker Compose stack through a maintenance-window upgrade, with sign-off, verification and a real rollback.",
    after_help = EXIT_CODES_HELP,
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Option<Cmd>,
}

#[derive(Debug, Args)]
pub struct Global {
    /// Configuration file (default: ./cutover.toml if present).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Compose file of the stack (default: found in the working directory, or COMPOSE_FILE).
    #[arg(long, global = true, value_name = "FILE")]
    pub compose_file: Option<PathBuf>,
    /// Compose project name (default: COMPOSE_PROJECT_NAME or the directory name).
    #[arg(long, global = true)]
    pub project: Option<String>,
    /// Directory that holds run directories (default: <compose dir>/.cutover/runs).
    #[arg(long, global = true, value_name = "DIR")]
    pub run_dir: Option<PathBuf>,
    /// Which plan to run.
    #[arg(long, global = true, hide = true)]
    pub plan: Option<String>,
    /// One JSON object per event instead of lines (headless).
    #[arg(long, global = true)]
    pub json: bool,
    /// The PostgreSQL image to move to (default pgvector/pgvector:pg16).
    #[arg(long, global = true, value_name = "IMAGE")]
    pub target_image: Option<String>,
    /// The Qdrant image for the new qdrant service (default qdrant/qdrant:latest).
    #[arg(long, global = true, value_name = "IMAGE")]
    pub qdrant_image: Option<String>,
    /// When to contact a registry: always, missing (default) or never.
    #[arg(long = "pull", global = true, value_name = "POLICY")]
    pub pull_policy: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Print every step with the concrete things it will touch; changes nothing.
    Plan,
    /// Run the upgrade (headless with --yes).
    Run(RunArgs),
    /// Continue a stopped or crashed run (default: the latest).
    Resume(RunArgs),
    /// Undo every completed step of a run, newest first (default: the latest run); also a
    /// completed upgrade that was not finalized. `--disaster` restores the backup instead.
    Rollback(RollbackArgs),
    /// Show where a run stands and what to do next.
    Status(RunSelect),
    /// Print a run's report (who signed what and when, each step's outcome and duration).
    Report(ReportArgs),
    /// Show the effective configuration.
    Config(ConfigArgs),
    /// After a successful upgrade: remove the old database container kept for a fast rollback.
    /// Refuses unless the run ended done. After this, rollback needs the backup.
    Finalize(FinalizeArgs),
    /// Rehearse the upgrade and its fast rollback on a copy of the live database (a physical
    /// copy on an isolated side stack, torn down at the end; the live stack is not touched),
    /// and forecast the real window. Exit 0 passed, 1 the rehearsal failed, 3 something of
    /// the side stack could not be removed.
    Rehearse(RehearseArgs),
}

#[derive(Debug, Args)]
pub struct RehearseArgs {
    #[arg(long)]
    pub break_stale_lock: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Run without asking: required for headless runs.
    #[arg(long)]
    pub yes: bool,
    /// Sign off a checklist item by its id, with your name (repeat for each item).
    #[arg(long = "sign-off", value_name = "ITEM=NAME")]
    pub sign_off: Vec<String>,
    /// Do not undo completed steps when a step fails (exit 3 instead of 1).
    #[arg(long)]
    pub no_auto_rollback: bool,
    /// Break a lock left by a cutover that is no longer running on this host.
    #[arg(long)]
    pub break_stale_lock: bool,
    /// The run to resume (a run directory; default: the latest).
    #[arg(long = "run", value_name = "RUN_DIR")]
    pub run: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// Roll back without asking: required for headless use.
    #[arg(long)]
    pub yes: bool,
    #[arg(long)]
    pub break_stale_lock: bool,
    /// Do not trust the database. With a physical backup whose volume exists (the default
    /// `disaster_restore = volume`): postgres is put back on the old image and the backup's
    /// files are copied into its data directory: the WHOLE CLUSTER (every database) goes back
    /// to the stop; the files it replaces are kept aside in the data directory, never removed
    /// (the report prints how). Otherwise (a logical backup, the volume gone, or
    /// `disaster_restore = dump`): the run's verified dump is restored into a new database
    /// (pg_restore --exit-on-error), checked, then the names are swapped; only the
    /// application's database is replaced, the one the upgrade left renamed aside, never
    /// dropped. Rows written since the backup are lost either way (they stay in what is aside).
    #[arg(long)]
    pub disaster: bool,
    /// Let the fast rollback drop the rows the new version received in the tables its down
    /// migrations drop (e.g. chunks). Without it, such rows make the rollback refuse. They are
    /// dumped into the run directory first either way.
    #[arg(long)]
    pub discard_new_data: bool,
    #[command(flatten)]
    pub select: RunSelect,
}

#[derive(Debug, Args)]
pub struct FinalizeArgs {
    /// Finalize without asking: required for headless use.
    #[arg(long)]
    pub yes: bool,
    #[arg(long)]
    pub break_stale_lock: bool,
    #[command(flatten)]
    pub select: RunSelect,
}

#[derive(Debug, Args)]
pub struct RunSelect {
    /// A run directory (default: the latest run).
    #[arg(long = "run", value_name = "RUN_DIR")]
    pub run: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub select: RunSelect,
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Print the effective configuration, secrets redacted, with where each value came from.
    #[arg(long)]
    pub print: bool,
}

impl Global {
    pub fn partial(&self, no_auto_rollback: bool) -> Partial {
        Partial {
            compose_file: self.compose_file.clone(),
            project: self.project.clone(),
            run_dir: self.run_dir.clone(),
            plan: self.plan.clone(),
            target_image: self.target_image.clone(),
            qdrant_image: self.qdrant_image.clone(),
            pull_policy: self.pull_policy.clone(),
            auto_rollback: no_auto_rollback.then_some(false),
            ..Partial::default()
        }
    }
}

/// Parses `ITEM=NAME`.
pub fn parse_sign_off(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((item, name)) if !item.trim().is_empty() && !name.trim().is_empty() => {
            Ok((item.trim().to_string(), name.trim().to_string()))
        }
        _ => Err(format!("--sign-off {s:?}: expected ITEM=NAME")),
    }
}
