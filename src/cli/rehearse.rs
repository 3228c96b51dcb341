//! `cutover rehearse`: runs a rehearsal (`crate::upgrade::rehearse`) under the stack's lock
//! (no run may start on the live stack meanwhile), prints its progress and its result, and
//! exits 0 when it passed, 1 when it failed (the live stack was not touched), 2 when it was
//! refused before anything was created, 3 when the teardown left something (named).

use super::commands::Usage;
use super::{Cli, RehearseArgs};
use crate::config::Config;
use crate::engine::lock::StackLock;
use crate::exit::Exit;
use crate::upgrade::rehearse::{self, Rehearsal};

pub(super) fn rehearse(cli: &Cli, config: &Config, args: &RehearseArgs) -> Result<Exit, Usage> {
    let dir = rehearse::rehearsals_dir(config);
    let lock = StackLock::acquire(&config.lock_path(), &dir, args.break_stale_lock)?;
    let rt = tokio::runtime::Runtime::new()?;
    let json = cli.global.json;
    let say = move |line: String| {
        if !json {
            println!("{}", crate::secrets::hide(&line));
        }
    };
    // Ctrl-C (SIGINT) stops the rehearsal; its teardown still runs before we exit.
    let cancel = tokio_util::sync::CancellationToken::new();
    let on_signal = cancel.clone();
    let result = rt.block_on(async {
        let watch = tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                on_signal.cancel();
            }
        });
        let r = rehearse::rehearse(config, &say, &cancel).await;
        watch.abort();
        r
    })?;
    drop(lock);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&result).expect("a rehearsal serializes")
        );
    } else {
        print!("{}", summary(&result));
    }
    if !result.left_behind.is_empty() {
        eprintln!(
            "cutover: the rehearsal's teardown left {}: remove them by hand",
            result.left_behind.join(", ")
        );
        return Ok(Exit::OperatorAction);
    }
    if !result.passed {
        eprintln!(
            "cutover: the rehearsal failed: {} (the live stack was not touched; details in {})",
            crate::secrets::hide(&result.outcome),
            result.dir.display()
        );
        return Ok(Exit::RolledBack);
    }
    Ok(Exit::Done)
}

fn summary(r: &Rehearsal) -> String {
    let mut s = format!(
        "\nRehearsal {} on a copy of {:.2} GB ({}; copied in {:.1} s)\n",
        if r.passed { "PASSED" } else { "FAILED" },
        r.live_bytes as f64 / 1e9,
        r.copy_kind,
        r.copy_ms as f64 / 1000.0
    );
    match &r.app_rehearsed {
        Some(app) => {
            s.push_str(&format!(
                "  application: rehearsed (copies of {} on the side stack)\n",
                app.join(", ")
            ));
            for d in &r.app_dropped {
                s.push_str(&format!("  application copy ran without: {d}\n"));
            }
        }
        None => s.push_str("  application: not rehearsed (rehearse_app = false)\n"),
    }
    if let Some(f) = &r.forecast {
        s.push_str(&format!("  {}\n", f.line()));
        for n in &f.not_rehearsed {
            s.push_str(&format!("  not rehearsed: {n}\n"));
        }
        for c in &f.caveats {
            s.push_str(&format!("  caveat: {c}\n"));
        }
    } else if !r.passed {
        s.push_str("  no forecast: the upgrade did not get past its checks on the copy\n");
    }
    s.push_str(&format!(
        "  wall time {:.1} s; the side stack was torn down{}\n  details: {}\n",
        r.wall_ms as f64 / 1000.0,
        if r.left_behind.is_empty() {
            ", nothing left"
        } else {
            " INCOMPLETELY"
        },
        r.dir.join("rehearsal.json").display()
    ));
    s
}

/// The wizard's `h` (`tui::rehearse`): the same rehearsal, under the lock the wizard's run
/// already holds, on a runtime of its own (the wizard gives it a thread).
pub(super) struct WizardRehearser(pub Config);

impl crate::tui::rehearse::Rehearser for WizardRehearser {
    fn rehearse(
        &self,
        say: Box<dyn Fn(String) + Send + Sync>,
        cancel: tokio_util::sync::CancellationToken,
    ) -> Result<crate::tui::rehearse::Ended, String> {
        let rt = tokio::runtime::Runtime::new().map_err(|e| format!("{e}"))?;
        let r = rt
            .block_on(rehearse::rehearse(&self.0, &*say, &cancel))
            .map_err(|e| crate::secrets::hide(&format!("{e:#}")))?;
        let line = match (&r.forecast, r.passed) {
            (Some(f), true) => format!(
                "Rehearsal passed on a copy of {:.2} GB: {}",
                r.live_bytes as f64 / 1e9,
                f.line()
            ),
            _ => format!(
                "Rehearsal FAILED: {} (the live stack was not touched)",
                crate::secrets::hide(&r.outcome)
            ),
        };
        Ok(crate::tui::rehearse::Ended {
            passed: r.passed,
            line,
            left_behind: r.left_behind,
        })
    }
}
