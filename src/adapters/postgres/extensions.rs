//! Extensions: whether one is available to the server (`pg_available_extensions`, i.e. its
//! files are in the image) and installed in the current database (`pg_extension`); creating
//! one while remembering whether we did (so undo drops only what the upgrade created).
use tokio_postgres::Client;

use super::{PgError, quote_ident};

/// The outcome of [`create_extension`]: journal it; undo drops the extension only if `created`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExtensionChange {
    pub name: String,
    /// True when this call created it; false when it was already installed.
    pub created: bool,
    /// The installed version afterwards.
    pub version: String,
}

/// The default version the server could install, or None when the extension is not available.
pub async fn available_extension(client: &Client, name: &str) -> Result<Option<String>, PgError> {
    let row = client
        .query_opt(
            "SELECT default_version FROM pg_available_extensions WHERE name = $1",
            &[&name],
        )
        .await
        .map_err(PgError::query(format!(
            "looking up extension {name} in pg_available_extensions"
        )))?;
    Ok(row.and_then(|r| r.get(0)))
}

/// The installed version in the current database, or None.
pub async fn installed_extension(client: &Client, name: &str) -> Result<Option<String>, PgError> {
    let row = client
        .query_opt(
            "SELECT extversion FROM pg_extension WHERE extname = $1",
            &[&name],
        )
        .await
        .map_err(PgError::query(format!(
            "looking up extension {name} in pg_extension"
        )))?;
    Ok(row.map(|r| r.get(0)))
}

/// Creates the extension unless it is installed. Fails with [`PgError::ExtensionUnavailable`]
/// when the server does not have it (e.g. `vector` on a plain postgres image).
pub async fn create_extension(client: &Client, name: &str) -> Result<ExtensionChange, PgError> {
    if let Some(version) = installed_extension(client, name).await? {
        return Ok(ExtensionChange {
            name: name.into(),
            created: false,
            version,
        });
    }
    if available_extension(client, name).await?.is_none() {
        return Err(PgError::ExtensionUnavailable { name: name.into() });
    }
    // IF NOT EXISTS covers a concurrent creator; `created` then tells a small lie (true), which
    // is only possible if someone else ran CREATE EXTENSION inside our maintenance window.
    client
        .batch_execute(&format!(
            "CREATE EXTENSION IF NOT EXISTS {}",
            quote_ident(name)
        ))
        .await
        .map_err(PgError::query(format!("CREATE EXTENSION {name}")))?;
    let version = installed_extension(client, name).await?.unwrap_or_default();
    Ok(ExtensionChange {
        name: name.into(),
        created: true,
        version,
    })
}

/// Drops the extension if installed. Without `cascade`, objects that use it (a `vector`
/// column) make this fail, which is the point: drop those first (down-migrations).
/// Returns whether it was installed.
pub async fn drop_extension(client: &Client, name: &str, cascade: bool) -> Result<bool, PgError> {
    let was = installed_extension(client, name).await?.is_some();
    let sql = format!(
        "DROP EXTENSION IF EXISTS {}{}",
        quote_ident(name),
        if cascade { " CASCADE" } else { " RESTRICT" }
    );
    client
        .batch_execute(&sql)
        .await
        .map_err(PgError::query(format!("DROP EXTENSION {name}")))?;
    Ok(was)
}
