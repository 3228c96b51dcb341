//! Database credentials the way the official postgres image reads them: `POSTGRES_USER`
//! (default `postgres`), `POSTGRES_PASSWORD`, `POSTGRES_DB` (default: the user). Sources are a
//! container's environment (`KEY=VALUE` strings as Docker reports them) or a map (the compose
//! `.env` or a service's interpolated environment).
//!
//! `POSTGRES_PASSWORD_FILE` is a path inside the container: it is reported so the caller can
//! read it through Docker, and [`value_from_file`] turns the file's bytes into the value as
//! the entrypoint does. `Debug` redacts the password.
use std::collections::BTreeMap;
use std::fmt;

#[derive(Clone, PartialEq, Eq, Default)]
pub struct PgCredentials {
    pub user: String,
    pub password: Option<String>,
    pub database: String,
    /// Set when the password is given as `POSTGRES_PASSWORD_FILE` instead.
    pub password_file: Option<String>,
}

impl fmt::Debug for PgCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgCredentials")
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("database", &self.database)
            .field("password_file", &self.password_file)
            .finish()
    }
}

impl PgCredentials {
    /// From Docker's `Config.Env` (`["POSTGRES_USER=x", ...]`).
    pub fn from_env_list<I, S>(env: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let map = env
            .into_iter()
            .filter_map(|kv| {
                kv.as_ref()
                    .split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
            })
            .collect::<BTreeMap<_, _>>();
        Self::from_map(&map)
    }

    /// From a map of variables (a `.env` file or a compose service's environment).
    pub fn from_map(env: &BTreeMap<String, String>) -> Self {
        let non_empty = |k: &str| env.get(k).filter(|v| !v.is_empty()).cloned();
        let user = non_empty("POSTGRES_USER").unwrap_or_else(|| "postgres".into());
        PgCredentials {
            database: non_empty("POSTGRES_DB").unwrap_or_else(|| user.clone()),
            password: env.get("POSTGRES_PASSWORD").cloned(),
            password_file: non_empty("POSTGRES_PASSWORD_FILE"),
            user,
        }
    }

    /// From a `.env` file's text (see `compose::parse_dotenv` for the syntax).
    pub fn from_dotenv(text: &str) -> Result<Self, crate::adapters::compose::ComposeError> {
        Ok(Self::from_map(&crate::adapters::compose::parse_dotenv(
            text,
        )?))
    }
}

/// The value in a `*_FILE` setting's bytes (`POSTGRES_PASSWORD_FILE`, say), as the official
/// entrypoint reads it: `$(< file)`, which drops every trailing newline and nothing else. Err
/// says why the file cannot be a setting (never what it holds).
pub fn value_from_file(bytes: Vec<u8>) -> Result<String, &'static str> {
    let mut text = String::from_utf8(bytes).map_err(|_| "the file is not UTF-8 text")?;
    let kept = text.trim_end_matches('\n').len();
    text.truncate(kept);
    if text.is_empty() {
        return Err("the file is empty");
    }
    if text.contains('\0') {
        return Err("the file holds a NUL byte, which the entrypoint's shell drops");
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_setting_file_loses_its_trailing_newlines_only() {
        let pw = |b: &[u8]| value_from_file(b.to_vec());
        assert_eq!(pw(b"s3cret\n\n"), Ok("s3cret".into()));
        assert_eq!(pw(b" s3 cret \r"), Ok(" s3 cret \r".into()));
        assert_eq!(pw(b"a\nb\n"), Ok("a\nb".into()));
        assert_eq!(pw(b"\n\n"), Err("the file is empty"));
        assert!(pw(&[0xff, 0xfe]).is_err());
    }

    #[test]
    fn defaults_follow_the_official_image() {
        let c = PgCredentials::from_env_list(["POSTGRES_PASSWORD=pw", "PATH=/usr/bin"]);
        assert_eq!(c.user, "postgres");
        assert_eq!(c.database, "postgres");
        assert_eq!(c.password.as_deref(), Some("pw"));
        let c = PgCredentials::from_env_list(["POSTGRES_USER=privexbot", "POSTGRES_PASSWORD=a=b"]);
        assert_eq!(c.database, "privexbot");
        assert_eq!(c.password.as_deref(), Some("a=b"));
        assert!(!format!("{c:?}").contains("a=b"));
    }

    #[test]
    fn from_dotenv_text() {
        let c =
            PgCredentials::from_dotenv("POSTGRES_USER=u\nPOSTGRES_PASSWORD='p w'\nPOSTGRES_DB=d\n")
                .unwrap();
        assert_eq!(
            (c.user.as_str(), c.password.as_deref(), c.database.as_str()),
            ("u", Some("p w"), "d")
        );
    }
}
