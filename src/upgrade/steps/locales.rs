//! Check `locales`: every locale the cluster uses — each database's `datcollate` and
//! `datctype`, and the `lc_*` settings of postgresql.conf, postgresql.auto.conf and the
//! compose command — exists in the target image. A missing `lc_messages` locale stops the new
//! server at start (FATAL), after a root entrypoint has already chowned the data directory; a
//! missing database locale refuses every connection to that database. So it refuses here.
//!
//! Names compare as glibc looks them up: `en_US.utf8` and `en_US.UTF-8` are one locale.

use std::sync::Arc;

use async_trait::async_trait;

use super::{earlier, meta};
use crate::adapters::pg_image::LocaleAnswer;
use crate::engine::{Finish, Step, StepContext, StepError};
use crate::upgrade::env::UpgradeEnv;
use crate::upgrade::outputs::{ClusterFacts, ProbeOutput};

pub struct Locales {
    pub env: Arc<UpgradeEnv>,
}

/// Every locale the cluster uses, each with where it is used (in first-seen order).
pub fn used_locales(c: &ClusterFacts) -> Vec<(String, String)> {
    let mut locales: Vec<String> = Vec::new();
    let mut push = |l: &str| {
        if !l.is_empty() && !locales.iter().any(|x| x == l) {
            locales.push(l.to_string());
        }
    };
    for d in &c.databases {
        push(&d.collate);
        push(&d.ctype);
    }
    for s in c.settings.iter().filter(|s| s.name.starts_with("lc_")) {
        push(&s.value);
    }
    locales
        .into_iter()
        .map(|loc| {
            let mut uses = Vec::new();
            for (what, dbs) in [
                (
                    "datcollate",
                    c.databases
                        .iter()
                        .filter(|d| d.collate == loc)
                        .map(|d| d.name.as_str())
                        .collect::<Vec<_>>(),
                ),
                (
                    "datctype",
                    c.databases
                        .iter()
                        .filter(|d| d.ctype == loc)
                        .map(|d| d.name.as_str())
                        .collect(),
                ),
            ] {
                if !dbs.is_empty() {
                    uses.push(format!("{what} of database(s) {}", dbs.join(", ")));
                }
            }
            for s in c
                .settings
                .iter()
                .filter(|s| s.name.starts_with("lc_") && s.value == loc)
            {
                uses.push(format!("{} in {}", s.name, s.source));
            }
            (loc, uses.join("; "))
        })
        .collect()
}

/// The Debian command that compiles `locale` (`en_US.utf8` → `localedef -i en_US -c -f UTF-8
/// en_US.UTF-8`).
fn localedef(locale: &str) -> String {
    let base = locale.split('@').next().unwrap_or(locale);
    let (lang, codeset) = base.split_once('.').unwrap_or((base, "UTF-8"));
    let charmap = match codeset.to_ascii_lowercase().replace('-', "").as_str() {
        "utf8" => "UTF-8".to_string(),
        other => other.to_ascii_uppercase(),
    };
    format!("localedef -i {lang} -c -f {charmap} {lang}.{charmap}")
}

#[async_trait]
impl Step for Locales {
    meta!(
        "locales",
        "Target image has every locale the cluster uses",
        Check
    );

    fn touches(&self) -> Vec<String> {
        vec![format!(
            "`locale -a` in {} vs pg_database and the lc_* settings",
            self.env.target_image
        )]
    }

    async fn run(&self, cx: &StepContext) -> Result<Finish, StepError> {
        let c: ClusterFacts = earlier(cx, "cluster-facts")?;
        let p: ProbeOutput = earlier(cx, "target-probe")?;
        let image = &self.env.target_image;
        let (mut missing, mut unknown) = (Vec::new(), Vec::new());
        let mut seen = Vec::new();
        for (loc, what) in used_locales(&c) {
            match p.target.has_locale(&loc) {
                LocaleAnswer::Yes => {}
                LocaleAnswer::AnyName => {}
                LocaleAnswer::No => missing.push((loc.clone(), what)),
                LocaleAnswer::Unknown => unknown.push(format!("{loc} ({what})")),
            }
            if !seen.contains(&loc) {
                seen.push(loc);
            }
        }
        cx.log(format!(
            "cluster uses {}; {image} offers {}",
            seen.join(", "),
            match (&p.target.locales, p.target.libc) {
                (_, Some(crate::adapters::docker::Libc::Musl)) =>
                    "any name (musl accepts every locale name)".to_string(),
                (Some(l), _) => l.join(", "),
                (None, _) => format!(
                    "no `locale` tool; /usr/lib/locale has {}",
                    p.target.locale_dirs.join(", ")
                ),
            }
        ));
        if !missing.is_empty() {
            let list: Vec<String> = missing.iter().map(|(l, w)| format!("{l} ({w})")).collect();
            let fix: Vec<String> = missing.iter().map(|(l, _)| localedef(l)).collect();
            return Err(StepError::new(format!(
                "{image} lacks locale(s) the cluster uses: {}. The new server would refuse to \
                 start (or to open those databases) after its entrypoint had already chowned the \
                 data directory. Refused before anything was stopped. Fix: build the target with \
                 the locale (Debian-based: `RUN {}` in a Dockerfile FROM {image}; glibc finds \
                 `en_US.utf8` under `en_US.UTF-8` too), or pick an image that has it",
                list.join(", "),
                fix.join(" && ")
            )));
        }
        if !unknown.is_empty() {
            return Ok(Finish::Warning(format!(
                "could not tell whether {image} has {} (no `locale` tool in it): check by hand",
                unknown.join(", ")
            )));
        }
        Ok(Finish::Ok)
    }
}
