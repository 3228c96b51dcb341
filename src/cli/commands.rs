//! Dispatch: each subcommand loads the configuration, builds the plan, takes the lock where it
//! changes anything, and hands over to the runner and a front end.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use tokio::sync::mpsc::unbounded_channel;

use super::{Cli, Cmd, RunArgs, parse_sign_off, runs};
use crate::config::{Config, Inputs};
use crate::engine::lock::StackLock;
use crate::engine::{Command, Journal, Plan, Policy, RunOutcome, Runner, StepKind};
use crate::exit::Exit;
use crate::report::Report;

/// A refusal before anything changed: printed, exit 2.
pub(super) struct Usage(pub(super) String);

impl<E: std::fmt::Display> From<E> for Usage {
    fn from(e: E) -> Self {
        Usage(format!("{e:#}"))
    }
}

pub fn main(mut cli: Cli) -> ExitCode {
    // Nothing points at a stack: the wizard starts the built-in demo (source checkouts only).
    if cli.command.is_none()
        && std::io::stdout().is_terminal()
        && super::demo::wanted(&cli)
        && let Err(msg) = super::demo::prepare(&mut cli)
    {
        eprintln!("cutover: {msg}");
        return Exit::Usage.into();
    }
    let result = match &cli.command {
        None if std::io::stdout().is_terminal() => {
            let args = RunArgs {
                yes: false,
                sign_off: Vec::new(),
                no_auto_rollback: false,
                break_stale_lock: false,
                run: None,
            };
            dispatch(&cli, &Cmd::Run(args))
        }
        None => Err(Usage(
            "the wizard needs a terminal, and stdout is not one: run headless with \
             `cutover run --yes --sign-off ITEM=NAME ...` (`cutover plan` lists the items)"
                .into(),
        )),
        Some(cmd) => dispatch(&cli, cmd),
    };
    match result {
        Ok(code) => code.into(),
        Err(Usage(msg)) => {
            eprintln!("cutover: {msg}");
            Exit::Usage.into()
        }
    }
}

fn dispatch(cli: &Cli, cmd: &Cmd) -> Result<Exit, Usage> {
    let no_auto_rollback = matches!(cmd, Cmd::Run(a) | Cmd::Resume(a) if a.no_auto_rollback);
    let config = load_config(cli, no_auto_rollback)?;
    match cmd {
        Cmd::Config(args) => {
            if !args.print {
                return Err(Usage("nothing to do: use `cutover config --print`".into()));
            }
            print!("{}", config.print());
            Ok(Exit::Done)
        }
        Cmd::Plan => {
            let plan = crate::plans::build(&config)?;
            print!("{}", render_plan(&plan, &config));
            Ok(Exit::Done)
        }
        Cmd::Status(sel) => {
            let dir = runs::select(&config.run_dir, sel.run.as_deref())?;
            let (state, _) = Journal::read(&dir)?;
            print!("{}", Report::from_state(&state, &dir).summary());
            Ok(Exit::Done)
        }
        Cmd::Report(args) => {
            let dir = runs::select(&config.run_dir, args.select.run.as_deref())?;
            let (state, _) = Journal::read(&dir)?;
            let report = Report::from_state(&state, &dir);
            if cli.global.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).expect("report serializes")
                );
            } else {
                print!("{}", report.markdown());
            }
            Ok(Exit::Done)
        }
        Cmd::Finalize(args) => {
            if !args.yes {
                return Err(Usage(
                    "`cutover finalize` removes the old database container for good: pass --yes to confirm".into(),
                ));
            }
            let dir = runs::select(&config.run_dir, args.select.run.as_deref())?;
            let lock = StackLock::acquire(&config.lock_path(), &dir, args.break_stale_lock)?;
            let rt = tokio::runtime::Runtime::new()?;
            let said = rt.block_on(crate::upgrade::finalize::finalize(&dir))?;
            drop(lock);
            println!("{said}");
            Ok(Exit::Done)
        }
        Cmd::Run(args) => run(cli, &config, args, false),
        Cmd::Resume(args) => run(cli, &config, args, true),
        Cmd::Rollback(args) => super::rollback::rollback(cli, &config, args),
        Cmd::Rehearse(args) => super::rehearse::rehearse(cli, &config, args),
    }
}

fn load_config(cli: &Cli, no_auto_rollback: bool) -> Result<Config, Usage> {
    let cwd = std::env::current_dir()?;
    let env: BTreeMap<String, String> = std::env::vars().collect();
    Ok(Config::load(Inputs {
        cwd: &cwd,
        config_file: cli.global.config.as_deref(),
        env: &env,
        flags: cli.global.partial(no_auto_rollback),
    })?)
}

/// `cutover plan`: every step, its kind, and the concrete things it will touch.
pub fn render_plan(plan: &Plan, config: &Config) -> String {
    let mut s = format!(
        "Plan {} for stack {} ({})\nNothing is changed by this command.\n\n",
        plan.name,
        config.project,
        config.compose_file.display()
    );
    for (i, step) in plan.steps.iter().enumerate() {
        let kind = match step.kind() {
            StepKind::Check => "check",
            StepKind::SignOff => "sign-off",
            StepKind::Action => "action",
        };
        let ponr = if step.past_point_of_no_return() {
            "  [point of no return]"
        } else {
            ""
        };
        s.push_str(&format!(
            "{:>2}. {kind:<8} {:<20} {}{ponr}\n",
            i + 1,
            step.id(),
            step.title()
        ));
        for t in step.touches() {
            s.push_str(&format!("               touches {t}\n"));
        }
    }
    let items: Vec<_> = plan
        .sign_offs()
        .map(|s| format!("--sign-off {}=NAME", s.id()))
        .collect();
    if !items.is_empty() {
        s.push_str(&format!(
            "\nHeadless: cutover run --yes {}\n",
            items.join(" ")
        ));
    }
    s
}

fn run(cli: &Cli, config: &Config, args: &RunArgs, resume: bool) -> Result<Exit, Usage> {
    // Without --yes on a terminal, the wizard asks for sign-offs and the start itself.
    let tui = !args.yes && std::io::stdout().is_terminal();
    if !args.yes && !tui {
        return Err(Usage(
            "a headless run needs --yes (and --sign-off ITEM=NAME for each checklist item)".into(),
        ));
    }
    if tui {
        wizard_fits()?;
    }
    let plan = crate::plans::build(config)?;
    let mut signed = Vec::new();
    for raw in &args.sign_off {
        let (item, name) = parse_sign_off(raw)?;
        if !plan.sign_offs().any(|s| s.id() == item) {
            let known: Vec<_> = plan.sign_offs().map(|s| s.id().to_string()).collect();
            return Err(Usage(format!(
                "--sign-off {item}: no such item (items: {})",
                known.join(", ")
            )));
        }
        signed.push((item, name));
    }
    let (dir, journal, lock) = if resume {
        let dir = runs::select(&config.run_dir, args.run.as_deref())?;
        let lock = StackLock::acquire(&config.lock_path(), &dir, args.break_stale_lock)?;
        (dir.clone(), open_journal(&dir)?, lock)
    } else {
        if args.run.is_some() {
            return Err(Usage(
                "--run selects a run to resume; `cutover run` always starts a new one".into(),
            ));
        }
        let dir = runs::new_run_dir(&config.run_dir);
        let lock = StackLock::acquire(&config.lock_path(), &dir, args.break_stale_lock)?;
        let journal = Journal::create(&dir).map_err(|e| unwritable_run_dir(config, e))?;
        (dir.clone(), journal, lock)
    };
    // Items signed in an earlier invocation of this run stay signed.
    let state = journal.state().clone();
    let missing: Vec<_> = plan
        .sign_offs()
        .map(|s| s.id().to_string())
        .filter(|id| !signed.iter().any(|(i, _)| i == id))
        .filter(|id| state.steps.get(id).is_none_or(|r| r.signed_by.is_none()))
        .collect();
    if !tui && !missing.is_empty() && !state.start_approved {
        if !resume {
            // Nothing was journaled yet: leave no empty run behind.
            let _ = std::fs::remove_dir_all(&dir);
        }
        let list: Vec<_> = missing
            .iter()
            .map(|m| format!("--sign-off {m}=NAME"))
            .collect();
        return Err(Usage(format!(
            "missing sign-offs, refusing to start: {}",
            list.join(" ")
        )));
    }
    let mut commands: Vec<Command> = signed
        .into_iter()
        .map(|(item, by)| Command::SignOff { item, by })
        .collect();
    if tui {
        if journal.state().is_final() {
            return Err(Usage(format!(
                "run {} has already ended; start a new one with `cutover`",
                dir.display()
            )));
        }
        let outcome = run_tui(config, plan, journal, commands);
        drop(lock);
        return Ok(finish(&dir, &outcome));
    }
    init_file_log(&dir);
    commands.push(Command::Start);
    let outcome = drive(cli, config, plan, journal, commands, Mode::Forward)?;
    drop(lock);
    Ok(finish(&dir, &outcome))
}

/// The wizard needs 80×24 to show the checklist and the Rollback button; starting smaller
/// would hide them, so it refuses before anything is created (a terminal shrunk mid-run gets
/// the wizard's own notice instead).
fn wizard_fits() -> Result<(), Usage> {
    use crate::tui::views::chrome::{MIN_HEIGHT, MIN_WIDTH, too_small};
    let (w, h) = crossterm::terminal::size()
        .map_err(|e| Usage(format!("cannot read the terminal's size ({e}); run headless with `cutover run --yes --sign-off ITEM=NAME ...`")))?;
    if too_small((w, h)) {
        return Err(Usage(format!(
            "terminal too small: {w}×{h}, the wizard needs at least {MIN_WIDTH}×{MIN_HEIGHT}. \
             Enlarge the window and start again, or run headless with \
             `cutover run --yes --sign-off ITEM=NAME ...` (`cutover plan` lists the items)"
        )));
    }
    Ok(())
}

/// A run directory that cannot be created or written: say which key moves it.
fn unwritable_run_dir(config: &Config, e: anyhow::Error) -> Usage {
    let from = config
        .sources
        .get("run_dir")
        .map_or("default", String::as_str);
    Usage(format!(
        "{e:#}. The run directory must be writable: choose another with run_dir in cutover.toml, \
         CUTOVER_RUN_DIR or --run-dir (now {} from {from})",
        config.run_dir.display()
    ))
}

pub(super) fn open_journal(dir: &Path) -> Result<Journal, Usage> {
    let journal = Journal::open(dir)?;
    if let Some(torn) = &journal.state().torn_tail {
        eprintln!(
            "cutover: the journal's last line was torn by a crash ({} bytes); it was set aside in journal.jsonl.torn",
            torn.len()
        );
    }
    Ok(journal)
}

/// The terminal wizard on this run; its summary is the same one headless prints (`finish`).
fn run_tui(config: &Config, plan: Plan, journal: Journal, initial: Vec<Command>) -> RunOutcome {
    let launch = crate::tui::Launch {
        plan,
        journal,
        stack: config.project.clone(),
        policy: Policy {
            auto_rollback: config.auto_rollback,
        },
        initial,
        guard: (config.plan == crate::upgrade::plan::PLAN_NAME).then(|| {
            std::sync::Arc::new(super::rollback::NewDataGuard(config.clone()))
                as std::sync::Arc<dyn crate::tui::new_data::RollbackGuard>
        }),
        rehearser: (config.plan == crate::upgrade::plan::PLAN_NAME).then(|| {
            std::sync::Arc::new(super::rehearse::WizardRehearser(config.clone()))
                as std::sync::Arc<dyn crate::tui::rehearse::Rehearser>
        }),
    };
    crate::tui::run(launch).unwrap_or_else(|e| {
        eprintln!("cutover: the wizard stopped on an error: {e:#}");
        RunOutcome::Interrupted {
            reason: format!("{e:#}"),
        }
    })
}

pub(super) enum Mode {
    Forward,
    Rollback { disaster: bool },
}

pub(super) fn drive(
    cli: &Cli,
    config: &Config,
    plan: Plan,
    journal: Journal,
    initial: Vec<Command>,
    mode: Mode,
) -> Result<RunOutcome, Usage> {
    let done = matches!(
        journal.state().phase,
        crate::engine::recovery::Phase::Finished {
            outcome: RunOutcome::Done
        }
    );
    let rollback_of_done = done && matches!(mode, Mode::Rollback { .. });
    if journal.state().is_final() && !rollback_of_done {
        return Err(Usage(format!(
            "run {} has already ended; start a new one with `cutover run`",
            journal.run_dir().display()
        )));
    }
    let rt = tokio::runtime::Runtime::new()?;
    let policy = Policy {
        auto_rollback: config.auto_rollback,
    };
    let stack = config.project.clone();
    let json = cli.global.json;
    let run_dir = journal.run_dir().to_path_buf();
    // The window started with the run (a later rollback keeps what happened in between).
    let since = journal.state().started_at.unwrap_or_else(chrono::Utc::now);
    let result = rt.block_on(async move {
        let (ev_tx, ev_rx) = unbounded_channel();
        let (cmd_tx, cmd_rx) = unbounded_channel();
        for c in initial {
            let _ = cmd_tx.send(c);
        }
        let signals = crate::headless::forward_signals(cmd_tx.clone())?;
        let printer = tokio::spawn(crate::headless::print_events(ev_rx, json));
        let runner = Runner::new(plan, journal, ev_tx, cmd_rx, policy);
        let outcome = match mode {
            Mode::Forward => runner.run(&stack).await,
            Mode::Rollback { disaster } => {
                runner
                    .rollback(&stack, "the operator asked for a rollback", disaster)
                    .await
            }
        };
        signals.abort();
        drop(cmd_tx);
        let _ = printer.await;
        super::window_logs::save(&stack, since, &run_dir).await;
        outcome
    });
    // A journal failure mid-run leaves the run in an unknown state: operator territory (exit 3).
    Ok(result.unwrap_or_else(|e| {
        eprintln!("cutover: the run stopped on an error: {e:#}");
        RunOutcome::Interrupted {
            reason: format!("{e:#}"),
        }
    }))
}

pub(super) fn finish(dir: &Path, outcome: &RunOutcome) -> Exit {
    match Journal::read(dir) {
        Ok((state, _)) => {
            let report = Report::from_state(&state, dir);
            let _ = report.write_files(dir);
            print!("{}", report.summary());
        }
        Err(e) => eprintln!("cutover: cannot read the journal back for the report: {e:#}"),
    }
    Exit::of(outcome)
}

/// Headless runs write cutover's own log into the run directory.
fn init_file_log(dir: &Path) {
    let path: PathBuf = dir.join("cutover.log");
    let Ok(file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
    else {
        return;
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("CUTOVER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .try_init();
}
