//! What a PostgreSQL image offers, asked of the image itself in a throwaway container (see
//! [`crate::adapters::docker::probe`]): the server's version (`postgres --version`, or the
//! image's `PG_MAJOR`), its C library, its locales, the libraries in its `$libdir`, the
//! extension scripts in its `share/extension`, its `postgres` user's uid, and — on request —
//! the order its C library sorts a word list in under a locale, and how fast it can `chown`.
//!
//! Never guessed from a tag: tags such as `postgres-after:487fda13df613da6` or `0.8.0-pg16`
//! say nothing reliable about what runs inside.
//!
//! The facts are plain data (serializable, journaled as a pre-flight step's output); the
//! questions the checks ask of them (`has_locale`, `has_library`, `extension_versions`,
//! `major`) are pure functions, unit-tested below.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::adapters::docker::probe::{Probe, SCRATCH};
use crate::adapters::docker::{DockerClient, Libc, Result};
use crate::adapters::postgres::PgMajor;

/// Words whose order differs between code-point order (musl, glibc `C.utf8`) and a real
/// linguistic collation (glibc `en_US.UTF-8`): case, accents, punctuation, spaces.
pub const COLLATION_WORDS: [&str; 14] = [
    "a", "A", "Á", "b", "B", "c", "e", "é", "Eb", "_x", "Z", "ab", "a b", "a-c",
];

/// What to ask beyond the fixed facts.
#[derive(Debug, Clone, Default)]
pub struct ProbeRequest {
    /// Sort [`COLLATION_WORDS`] with `LC_ALL=<this>` (the cluster's collation).
    pub sort_locale: Option<String>,
    /// Resolve this `user:` spec (`name`, `name:group`, `uid[:gid]`) to numbers.
    pub resolve_user: Option<String>,
    /// Absolute paths to test for existence (preload entries given as paths).
    pub paths: Vec<String>,
    /// Create this many files and time a `chown -R` of them.
    pub chown_files: Option<u32>,
    /// Time `sort` of this many generated lines under `sort_locale` (the C library's
    /// collation cost, to compare two images).
    pub sort_sample: Option<u32>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PgImageFacts {
    /// The reference probed, and what it resolved to: the pin.
    pub image: String,
    pub image_id: String,
    pub repo_digests: Vec<String>,
    /// `postgres --version` output, e.g. `postgres (PostgreSQL) 17.12 (Debian 17.12-0+deb13u1)`.
    pub postgres_version: Option<String>,
    pub pg_major_env: Option<String>,
    pub pgdata_env: Option<String>,
    pub volumes: Vec<String>,
    /// The image's `USER`, if set.
    pub user: Option<String>,
    pub libc: Option<Libc>,
    /// First line of `ldd --version` (glibc), or musl's `Version` line.
    pub libc_version: Option<String>,
    /// `locale -a`; None when the image has no `locale` tool.
    pub locales: Option<Vec<String>>,
    /// Entries of /usr/lib/locale (compiled locales outside an archive).
    pub locale_dirs: Vec<String>,
    pub pkglibdir: Option<String>,
    /// File names in `pkglibdir`.
    pub libraries: Vec<String>,
    pub extension_dir: Option<String>,
    /// File names in the extension directory (`*.control`, `*--*.sql`).
    pub extension_files: Vec<String>,
    /// `default_version` of each extension's control file.
    pub extension_defaults: BTreeMap<String, String>,
    pub postgres_uid: Option<u32>,
    pub postgres_gid: Option<u32>,
    pub resolved_user: Option<ResolvedUser>,
    /// Those of the requested paths that exist.
    pub existing_paths: Vec<String>,
    pub sorted: Option<SortedWords>,
    pub chown: Option<ChownTiming>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ResolvedUser {
    pub spec: String,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SortedWords {
    pub locale: String,
    pub words: Vec<String>,
    /// Milliseconds to sort `sample_lines` generated lines under the locale.
    pub sample_lines: Option<u32>,
    pub sample_ms: Option<u64>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct ChownTiming {
    pub files: u32,
    pub ms: u64,
}

/// Whether an image can use a locale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocaleAnswer {
    Yes,
    No,
    /// musl accepts any locale name (and sorts by code point whatever it is called).
    AnyName,
    /// The image has no `locale` tool and no matching directory: cannot tell.
    Unknown,
}

/// The probe script: one section per fact, each opened by a marker line. Every command may
/// be missing in some image; a missing one leaves its section empty.
const SCRIPT: &str = r#"
sec() { printf '\n==cutover== %s\n' "$1"; }
sec version; postgres --version 2>/dev/null
sec pg_major; printf '%s\n' "${PG_MAJOR:-}"
sec pgdata; printf '%s\n' "${PGDATA:-}"
sec musl; ls /lib/ld-musl-*.so.1 2>/dev/null
sec ldd; ldd --version 2>&1 | head -n 2
sec locale_tool; command -v locale >/dev/null 2>&1 && echo yes
sec locales; locale -a 2>/dev/null
sec locale_dirs; ls -1 /usr/lib/locale 2>/dev/null
lib=$(pg_config --pkglibdir 2>/dev/null)
if [ ! -f "$lib/plpgsql.so" ]; then
  f=$(find / -xdev -name plpgsql.so 2>/dev/null | head -n 1); lib=${f%/plpgsql.so}
fi
sec pkglibdir; printf '%s\n' "$lib"
sec libs; [ -n "$lib" ] && ls -1 "$lib"
ext=$(pg_config --sharedir 2>/dev/null)/extension
if [ ! -f "$ext/plpgsql.control" ]; then
  f=$(find / -xdev -name plpgsql.control 2>/dev/null | head -n 1); ext=${f%/plpgsql.control}
fi
sec extdir; printf '%s\n' "$ext"
sec extfiles; [ -n "$ext" ] && ls -1 "$ext"
sec extdefaults; [ -n "$ext" ] && grep -H '^[[:space:]]*default_version' "$ext"/*.control 2>/dev/null
sec postgres_uid; id -u postgres 2>/dev/null
sec postgres_gid; id -g postgres 2>/dev/null
true
"#;

/// Asks `image` (local) everything above, in one throwaway container.
pub async fn probe(docker: &DockerClient, image: &str, req: &ProbeRequest) -> Result<PgImageFacts> {
    let inspected = docker.inspect_image(image).await?;
    let mut facts = docker
        .with_probe(image, async |p: &Probe<'_>| {
            let out = p.sh_ok("the image probe script", SCRIPT).await?;
            let mut f = parse(&out);
            ask_more(p, req, &mut f).await?;
            Ok(f)
        })
        .await?;
    facts.image = image.to_string();
    facts.image_id = inspected.id.clone();
    facts.repo_digests = inspected.repo_digests.clone();
    facts.volumes = inspected.volumes.clone();
    facts.user = inspected.user.clone();
    Ok(facts)
}

async fn ask_more(p: &Probe<'_>, req: &ProbeRequest, f: &mut PgImageFacts) -> Result<()> {
    if let Some(spec) = &req.resolve_user {
        let (user, group) = spec.split_once(':').unwrap_or((spec, ""));
        let q = shell_quote;
        let uid = p
            .sh(&format!("id -u {}", q(user)))
            .await?
            .stdout_str()
            .trim()
            .parse()
            .ok();
        let gid = if group.is_empty() {
            p.sh(&format!("id -g {}", q(user))).await?.stdout_str()
        } else {
            p.sh(&format!(
                "getent group {g} 2>/dev/null | cut -d: -f3 || echo {g}",
                g = q(group)
            ))
            .await?
            .stdout_str()
        };
        let gid = gid.trim().parse().ok().or_else(|| group.parse().ok());
        f.resolved_user = Some(ResolvedUser {
            spec: spec.clone(),
            uid: uid.or_else(|| user.parse().ok()),
            gid,
        });
    }
    for path in &req.paths {
        if p.sh(&format!("test -e {}", shell_quote(path)))
            .await?
            .exit_code
            == 0
        {
            f.existing_paths.push(path.clone());
        }
    }
    if let Some(locale) = &req.sort_locale {
        let input = COLLATION_WORDS.join("\n") + "\n";
        let out = p
            .sh_with_stdin(
                &format!("LC_ALL={} sort", shell_quote(locale)),
                input.into_bytes(),
            )
            .await?;
        if out.exit_code == 0 {
            let mut sorted = SortedWords {
                locale: locale.clone(),
                words: out.stdout_str().lines().map(String::from).collect(),
                sample_lines: None,
                sample_ms: None,
            };
            if let Some(n) = req.sort_sample {
                let t = Instant::now();
                p.sh("true").await?;
                let baseline = t.elapsed();
                let t = Instant::now();
                let out = p
                    .sh_with_stdin(
                        &format!("LC_ALL={} sort >/dev/null", shell_quote(locale)),
                        sample_lines(n).into_bytes(),
                    )
                    .await?;
                if out.exit_code == 0 {
                    sorted.sample_lines = Some(n);
                    sorted.sample_ms =
                        Some(t.elapsed().saturating_sub(baseline).as_millis() as u64);
                }
            }
            f.sorted = Some(sorted);
        }
    }
    if let Some(n) = req.chown_files {
        f.chown = time_chown(p, n).await?;
    }
    Ok(())
}

/// Creates `n` empty files on the probe's tmpfs and times `chown -R` of them, less the cost
/// of an empty command (the exec round trip): the per-file work of the entrypoint's chown in
/// this image, without the storage (the caller adds a walk of the real data directory).
async fn time_chown(p: &Probe<'_>, n: u32) -> Result<Option<ChownTiming>> {
    let made = p
        .sh(&format!(
            "mkdir -p {SCRATCH}/chown && cd {SCRATCH}/chown && seq 1 {n} | xargs touch"
        ))
        .await?;
    if made.exit_code != 0 {
        return Ok(None);
    }
    let t = Instant::now();
    p.sh("true").await?;
    let baseline = t.elapsed();
    let t = Instant::now();
    let out = p
        .sh(&format!("chown -R 54321:54321 {SCRATCH}/chown"))
        .await?;
    let took = t.elapsed().saturating_sub(baseline);
    Ok((out.exit_code == 0).then(|| ChownTiming {
        files: n,
        ms: took.as_millis().max(1) as u64,
    }))
}

/// `n` deterministic lines mixing case, accents and punctuation (a cheap pseudo-random walk,
/// so both images sort exactly the same input).
fn sample_lines(n: u32) -> String {
    const PARTS: [&str; 8] = ["a", "B", "é", "Á", "_", "z", " ", "-"];
    let mut x: u32 = 0x9e37_79b9;
    let mut s = String::with_capacity(n as usize * 12);
    for _ in 0..n {
        for _ in 0..8 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            s.push_str(PARTS[(x % 8) as usize]);
        }
        s.push('\n');
    }
    s
}

/// `'...'` for sh, with embedded single quotes closed and escaped.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Parses the script's sections into facts (image id and the like are filled in by `probe`).
pub fn parse(out: &str) -> PgImageFacts {
    let mut sections: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut current = None;
    for line in out.lines() {
        if let Some(name) = line.strip_prefix("==cutover== ") {
            current = Some(name.trim());
            sections.entry(name.trim()).or_default();
        } else if let Some(c) = current
            && !line.trim().is_empty()
        {
            sections.entry(c).or_default().push(line.trim_end());
        }
    }
    let lines = |k: &str| -> Vec<String> {
        sections
            .get(k)
            .map(|v| v.iter().map(|s| s.to_string()).collect())
            .unwrap_or_default()
    };
    let first = |k: &str| lines(k).into_iter().next().filter(|s| !s.is_empty());
    let ldd = lines("ldd");
    let musl = !lines("musl").is_empty() || ldd.iter().any(|l| l.contains("musl"));
    let glibc = ldd
        .iter()
        .any(|l| l.contains("GLIBC") || l.contains("GNU libc"));
    let (libc, libc_version) = if musl {
        (
            Some(Libc::Musl),
            ldd.iter()
                .find(|l| l.starts_with("Version"))
                .map(|v| format!("musl {}", v.trim_start_matches("Version").trim())),
        )
    } else if glibc {
        (Some(Libc::Glibc), ldd.first().cloned())
    } else {
        (Some(Libc::Unknown), None)
    };
    let extension_defaults = lines("extdefaults")
        .iter()
        .filter_map(|l| {
            let (path, rest) = l.split_once(".control:")?;
            let name = path.rsplit('/').next()?;
            let v = rest.split_once('=')?.1.trim().trim_matches('\'').trim();
            Some((name.to_string(), v.to_string()))
        })
        .collect();
    PgImageFacts {
        postgres_version: first("version"),
        pg_major_env: first("pg_major"),
        pgdata_env: first("pgdata"),
        libc,
        libc_version,
        locales: (first("locale_tool").is_some()).then(|| lines("locales")),
        locale_dirs: lines("locale_dirs"),
        pkglibdir: first("pkglibdir"),
        libraries: lines("libs"),
        extension_dir: first("extdir"),
        extension_files: lines("extfiles"),
        extension_defaults,
        postgres_uid: first("postgres_uid").and_then(|s| s.parse().ok()),
        postgres_gid: first("postgres_gid").and_then(|s| s.parse().ok()),
        ..Default::default()
    }
}

/// The major of a version string: `17.12` → 17, `9.6.24` → 9.6.
fn major_of_version(v: &str) -> Option<PgMajor> {
    let mut parts = v.split('.');
    let major: u32 = parts.next()?.parse().ok()?;
    let minor = if major < 10 {
        Some(parts.next()?.parse().ok()?)
    } else {
        None
    };
    Some(PgMajor { major, minor })
}

impl PgImageFacts {
    /// The PostgreSQL major the image runs: `postgres --version` (what really runs), else
    /// `PG_MAJOR`. Never the tag.
    pub fn major(&self) -> Option<PgMajor> {
        let from_binary = self.postgres_version.as_deref().and_then(|v| {
            let rest = v.split_once("(PostgreSQL)")?.1.trim();
            let token: String = rest
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            major_of_version(token.trim_end_matches('.'))
        });
        from_binary.or_else(|| self.pg_major_env.as_deref().and_then(major_of_version))
    }

    /// Where the major was read from, for messages.
    pub fn major_source(&self) -> &'static str {
        match &self.postgres_version {
            Some(_) => "`postgres --version` in the image",
            None => "the image's PG_MAJOR",
        }
    }

    /// Whether PostgreSQL in this image can use `locale` (as glibc would look it up).
    pub fn has_locale(&self, locale: &str) -> LocaleAnswer {
        if matches!(locale, "" | "C" | "POSIX") {
            return LocaleAnswer::Yes;
        }
        if self.libc == Some(Libc::Musl) {
            return LocaleAnswer::AnyName;
        }
        let want = normalize_locale(locale);
        let listed = self.locales.iter().flatten().chain(self.locale_dirs.iter());
        if listed.map(|l| normalize_locale(l)).any(|l| l == want) {
            return LocaleAnswer::Yes;
        }
        if self.locales.is_some() {
            LocaleAnswer::No
        } else {
            LocaleAnswer::Unknown
        }
    }

    /// Whether a `shared_preload_libraries` entry resolves in this image: `name`, `name.so`
    /// or `$libdir/name` in `pkglibdir`, or an absolute path that exists.
    pub fn has_library(&self, entry: &str) -> bool {
        let entry = entry.trim().trim_matches('"').trim();
        if entry.starts_with('/') {
            return self.existing_paths.iter().any(|p| p == entry);
        }
        let name = entry.strip_prefix("$libdir/").unwrap_or(entry);
        let name = name.strip_prefix("plugins/").unwrap_or(name);
        self.libraries
            .iter()
            .any(|f| f == name || *f == format!("{name}.so"))
    }

    /// Versions of extension `name` this image can install or update from (None: no control
    /// file at all). `name--1.2.sql` offers 1.2; `name--1.1--1.2.sql` offers both ends.
    pub fn extension_versions(&self, name: &str) -> Option<BTreeSet<String>> {
        let control = format!("{name}.control");
        if !self.extension_files.contains(&control) {
            return None;
        }
        let prefix = format!("{name}--");
        let mut v = BTreeSet::new();
        for f in &self.extension_files {
            let Some(rest) = f.strip_prefix(&prefix).and_then(|r| r.strip_suffix(".sql")) else {
                continue;
            };
            for part in rest.split("--") {
                v.insert(part.to_string());
            }
        }
        if let Some(d) = self.extension_defaults.get(name) {
            v.insert(d.clone());
        }
        Some(v)
    }
}

/// A locale name as glibc compares them: the codeset lower-cased with everything but letters
/// and digits dropped (`en_US.UTF-8` and `en_US.utf8` are one locale), language, territory
/// and modifier kept as written.
pub fn normalize_locale(name: &str) -> String {
    let (base, modifier) = match name.split_once('@') {
        Some((b, m)) => (b, Some(m)),
        None => (name, None),
    };
    let mut out = match base.split_once('.') {
        Some((lang, codeset)) => {
            let cs: String = codeset
                .chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .map(|c| c.to_ascii_lowercase())
                .collect();
            let cs = if cs.chars().all(|c| c.is_ascii_digit()) {
                format!("iso{cs}")
            } else {
                cs
            };
            format!("{lang}.{cs}")
        }
        None => base.to_string(),
    };
    if let Some(m) = modifier {
        out.push('@');
        out.push_str(m);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEBIAN: &str = "\n==cutover== version\npostgres (PostgreSQL) 17.12 (Debian 17.12-0+deb13u1)\n\
==cutover== pg_major\n\n==cutover== pgdata\n/var/lib/postgresql/data\n==cutover== musl\n\
==cutover== ldd\nldd (Debian GLIBC 2.41-12+deb13u5) 2.41\nCopyright (C) 2024\n\
==cutover== locale_tool\nyes\n==cutover== locales\nC\nC.utf8\nPOSIX\n\
==cutover== locale_dirs\nC.utf8\n==cutover== pkglibdir\n/usr/lib/postgresql/17/lib\n\
==cutover== libs\nplpgsql.so\npg_stat_statements.so\nvector.so\n\
==cutover== extdir\n/usr/share/postgresql/17/extension\n\
==cutover== extfiles\nvector.control\nvector--0.8.0.sql\nvector--0.7.4--0.8.0.sql\nplpgsql.control\nplpgsql--1.0.sql\n\
==cutover== extdefaults\n/usr/share/postgresql/17/extension/vector.control:default_version = '0.8.0'\n\
==cutover== postgres_uid\n999\n==cutover== postgres_gid\n999\n";

    #[test]
    fn parses_a_debian_image() {
        let f = parse(DEBIAN);
        assert_eq!(f.major().unwrap().to_string(), "17");
        assert_eq!(f.libc, Some(Libc::Glibc));
        assert_eq!(f.postgres_uid, Some(999));
        assert_eq!(f.pgdata_env.as_deref(), Some("/var/lib/postgresql/data"));
        assert_eq!(f.extension_defaults["vector"], "0.8.0");
        assert!(f.has_library("pg_stat_statements"));
        assert!(f.has_library("$libdir/vector"));
        assert!(!f.has_library("timescaledb"));
        let v = f.extension_versions("vector").unwrap();
        assert!(v.contains("0.7.4") && v.contains("0.8.0"), "{v:?}");
        assert_eq!(f.extension_versions("postgis"), None);
    }

    #[test]
    fn the_major_comes_from_the_binary_or_pg_major_never_a_tag() {
        let mut f = PgImageFacts {
            pg_major_env: Some("16".into()),
            ..Default::default()
        };
        assert_eq!(f.major().unwrap().major, 16);
        f.postgres_version = Some("postgres (PostgreSQL) 9.6.24".into());
        assert_eq!(f.major().unwrap().to_string(), "9.6");
        f.postgres_version = Some("postgres (PostgreSQL) 16.4".into());
        assert_eq!(f.major().unwrap().major, 16);
        assert_eq!(PgImageFacts::default().major(), None);
    }

    #[test]
    fn locales_compare_as_glibc_normalises_them() {
        assert_eq!(normalize_locale("en_US.UTF-8"), "en_US.utf8");
        assert_eq!(
            normalize_locale("de_DE.ISO-8859-15@euro"),
            "de_DE.iso885915@euro"
        );
        let mut f = parse(DEBIAN);
        assert_eq!(f.has_locale("C.UTF-8"), LocaleAnswer::Yes);
        assert_eq!(f.has_locale("en_US.utf8"), LocaleAnswer::No);
        assert_eq!(f.has_locale("POSIX"), LocaleAnswer::Yes);
        f.locales.as_mut().unwrap().push("en_US.utf8".into());
        assert_eq!(f.has_locale("en_US.UTF-8"), LocaleAnswer::Yes);
        f.locales = None;
        f.locale_dirs.clear();
        assert_eq!(f.has_locale("en_US.UTF-8"), LocaleAnswer::Unknown);
        f.libc = Some(Libc::Musl);
        assert_eq!(f.has_locale("en_US.UTF-8"), LocaleAnswer::AnyName);
    }

    #[test]
    fn musl_is_recognised() {
        let f = parse(
            "==cutover== musl\n/lib/ld-musl-x86_64.so.1\n==cutover== ldd\nmusl libc (x86_64)\nVersion 1.2.5\n",
        );
        assert_eq!(f.libc, Some(Libc::Musl));
        assert_eq!(f.libc_version.as_deref(), Some("musl 1.2.5"));
    }
}
