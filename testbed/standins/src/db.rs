//! Database settings the way privexbot takes them: `DATABASE_URL`, or the `POSTGRES_*`
//! variables (HOST, PORT, USER, PASSWORD, DB). The password is held only in the
//! `tokio_postgres::Config` and never printed: `describe()` leaves it out.

use std::time::Duration;

use anyhow::Context;
use tokio_postgres::{Client, NoTls};

pub struct Settings {
    config: tokio_postgres::Config,
}

impl Settings {
    pub fn from_env() -> anyhow::Result<Self> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let mut config = if let Some(url) = env("DATABASE_URL") {
            // SQLAlchemy spells it postgresql+psycopg2://; tokio-postgres wants postgresql://.
            let url = match url.split_once("://") {
                Some((scheme, rest)) if scheme.starts_with("postgresql+") => {
                    format!("postgresql://{rest}")
                }
                _ => url,
            };
            url.parse::<tokio_postgres::Config>()
                .context("DATABASE_URL is not a PostgreSQL URL")?
        } else {
            let mut c = tokio_postgres::Config::new();
            c.host(env("POSTGRES_HOST").as_deref().unwrap_or("postgres"));
            let port = env("POSTGRES_PORT").unwrap_or_else(|| "5432".into());
            c.port(port.parse().context("POSTGRES_PORT is not a port number")?);
            c.user(env("POSTGRES_USER").as_deref().unwrap_or("privexbot"));
            c.dbname(env("POSTGRES_DB").as_deref().unwrap_or("privexbot"));
            if let Some(p) = env("POSTGRES_PASSWORD") {
                c.password(p);
            }
            c
        };
        config.connect_timeout(Duration::from_secs(3));
        config.application_name("standin");
        Ok(Self { config })
    }

    /// user@host:port/db, without the password.
    pub fn describe(&self) -> String {
        let host = match self.config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
            None => "?".into(),
        };
        let port = self.config.get_ports().first().copied().unwrap_or(5432);
        format!(
            "{}@{host}:{port}/{}",
            self.config.get_user().unwrap_or("?"),
            self.config.get_dbname().unwrap_or("?")
        )
    }

    /// Connects and drives the connection on its own task; the client reports errors once the
    /// connection is gone (`is_closed()`).
    pub async fn connect(&self) -> anyhow::Result<Client> {
        let (client, connection) = self.config.connect(NoTls).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                println!("standin: database connection ended: {e}");
            }
        });
        Ok(client)
    }
}
