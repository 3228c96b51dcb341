//! PostgreSQL versions: the running server's (`server_version_num`), the data directory's (the
//! `PG_VERSION` file, fetched by the caller), and a target image's (its `PG_MAJOR` environment
//! or its tag). The check that the data directory and the target image share a major version
//! runs before anything is stopped: a different major cannot start on the same data directory.
use std::fmt;

use tokio_postgres::Client;

use super::PgError;

/// A major version: 10 and later are one number; 9.x had two ("9.6").
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct PgMajor {
    pub major: u32,
    pub minor: Option<u32>,
}

impl fmt::Display for PgMajor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.minor {
            Some(m) => write!(f, "{}.{m}", self.major),
            None => write!(f, "{}", self.major),
        }
    }
}

impl PgMajor {
    /// Parses the `PG_VERSION` file's contents ("16\n", "9.6\n").
    pub fn parse_pg_version_file(contents: &str) -> Result<PgMajor, PgError> {
        Self::parse(contents.trim()).ok_or_else(|| PgError::BadVersion {
            what: "the data directory's PG_VERSION file",
            found: contents.chars().take(40).collect(),
        })
    }

    fn parse(s: &str) -> Option<PgMajor> {
        let (major, minor) = match s.split_once('.') {
            Some((a, b)) => (a.parse().ok()?, Some(b.parse().ok()?)),
            None => (s.parse().ok()?, None),
        };
        // Before 10 the major version had two parts; from 10 on the second part is the minor
        // release, which does not matter for the data directory.
        let minor = if major < 10 { minor } else { None };
        Some(PgMajor { major, minor })
    }
}

/// The PostgreSQL major an image runs: its `PG_MAJOR` environment variable when the image has
/// one (the official images and pgvector's do), else guessed from the tag
/// (`postgres:16-alpine`, `pgvector/pgvector:pg16`, `postgres:16.4`). None when neither says.
pub fn image_major<S: AsRef<str>>(image_ref: &str, image_env: &[S]) -> Option<PgMajor> {
    let from_env = image_env
        .iter()
        .filter_map(|kv| kv.as_ref().strip_prefix("PG_MAJOR="))
        .find_map(PgMajor::parse);
    from_env.or_else(|| {
        // The tag is after the last ':' that comes after the last '/' (a registry port is not a tag).
        let name_start = image_ref.rfind('/').map_or(0, |i| i + 1);
        let tag = image_ref[name_start..].split_once(':')?.1;
        let tag = tag.split('@').next().unwrap_or(tag);
        let tag = tag.strip_prefix("pg").unwrap_or(tag);
        let version: String = tag
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        PgMajor::parse(version.trim_end_matches('.'))
            .or_else(|| PgMajor::parse(version.split('.').next().unwrap_or("")))
    })
}

/// Refuses a target image whose major version differs from the data directory's.
pub fn check_same_major(
    data_dir: PgMajor,
    image: &str,
    image_major: PgMajor,
) -> Result<(), PgError> {
    if data_dir == image_major {
        Ok(())
    } else {
        Err(PgError::MajorMismatch {
            data_dir,
            image_major,
            image: image.to_string(),
        })
    }
}

/// The running server's version.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ServerVersion {
    /// `server_version_num`, e.g. 160004.
    pub num: i32,
    /// `server_version`, e.g. "16.4 (Debian 16.4-1.pgdg120+2)".
    pub text: String,
}

impl ServerVersion {
    pub fn major(&self) -> PgMajor {
        if self.num >= 100_000 {
            PgMajor {
                major: (self.num / 10_000) as u32,
                minor: None,
            }
        } else {
            PgMajor {
                major: (self.num / 10_000) as u32,
                minor: Some((self.num / 100 % 100) as u32),
            }
        }
    }
}

pub async fn server_version(client: &Client) -> Result<ServerVersion, PgError> {
    let row = client
        .query_one(
            "SELECT current_setting('server_version_num')::int4, current_setting('server_version')",
            &[],
        )
        .await
        .map_err(PgError::query("reading the server version"))?;
    Ok(ServerVersion {
        num: row.get(0),
        text: row.get(1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(major: u32) -> PgMajor {
        PgMajor { major, minor: None }
    }

    #[test]
    fn parses_pg_version_files() {
        assert_eq!(PgMajor::parse_pg_version_file("16\n").unwrap(), m(16));
        assert_eq!(
            PgMajor::parse_pg_version_file("9.6\n").unwrap().to_string(),
            "9.6"
        );
        assert!(PgMajor::parse_pg_version_file("garbage").is_err());
    }

    #[test]
    fn image_major_from_env_or_tag() {
        let none: [&str; 0] = [];
        assert_eq!(image_major("x", &["PATH=/bin", "PG_MAJOR=17"]), Some(m(17)));
        assert_eq!(image_major("postgres:16-alpine", &none), Some(m(16)));
        assert_eq!(image_major("pgvector/pgvector:pg16", &none), Some(m(16)));
        assert_eq!(image_major("postgres:16.4", &none), Some(m(16)));
        assert_eq!(image_major("registry:5000/postgres", &none), None);
        assert_eq!(image_major("postgres:latest", &none), None);
    }

    #[test]
    fn mismatch_names_both_versions_and_the_way_out() {
        let err = check_same_major(m(16), "pgvector/pgvector:pg17", m(17))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("PostgreSQL 16") && err.contains("PostgreSQL 17"),
            "{err}"
        );
        assert!(
            err.contains("pg_upgrade")
                && err.contains("dump and restore")
                && err.contains("before anything was stopped"),
            "{err}"
        );
        check_same_major(m(16), "pgvector/pgvector:pg16", m(16)).unwrap();
    }

    #[test]
    fn server_version_major() {
        assert_eq!(
            ServerVersion {
                num: 160004,
                text: String::new()
            }
            .major(),
            m(16)
        );
        assert_eq!(
            ServerVersion {
                num: 90624,
                text: String::new()
            }
            .major()
            .to_string(),
            "9.6"
        );
    }
}
