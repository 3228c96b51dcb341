//! The PostgreSQL adapter (tokio-postgres over TCP, no TLS: the database is reached on the
//! compose network or a loopback-published port). It connects, probes readiness with a real
//! connection, reads versions, manages extensions, lists and terminates client sessions, and
//! runs the few admin commands the upgrade needs.
//!
//! Invariants: identifiers are quoted with [`quote_ident`] and values are bound as parameters,
//! never pasted into SQL; the password never appears in a `Debug`, an error or a log line.
mod admin;
pub mod cluster;
mod connect;
mod continuity;
mod credentials;
mod error;
mod extensions;
mod quote;
mod sessions;
mod table_activity;
mod version;

pub use admin::{checkpoint, current_database, database_size};
pub use connect::{PgTarget, connect, connect_until};
pub use continuity::{Resumed, WalPosition, resumed_from, wal_position};
pub use credentials::{PgCredentials, value_from_file};
pub use error::PgError;
pub use extensions::{
    ExtensionChange, available_extension, create_extension, drop_extension, installed_extension,
};
pub use quote::{quote_ident, quote_literal};
pub use sessions::{Session, list_sessions, terminate_session};
pub use table_activity::{
    Activity, TableState, TableStates, activity_since, sessions_gone, table_states, writes_since,
};
pub use version::{PgMajor, ServerVersion, check_same_major, image_major, server_version};
