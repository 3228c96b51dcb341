//! Errors of the compose adapter. Each names the file or service involved and, where there is
//! one, the fix.
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the compose file is not valid YAML at line {line}, column {column}: {message}; fix the file and run again"
    )]
    Yaml {
        line: usize,
        column: usize,
        message: String,
    },
    #[error(
        "the compose file's {what}; cutover expects a Compose file with a top-level `services:` mapping"
    )]
    Shape { what: String },
    #[error(
        "the compose file has no service named `{name}` (services: {known}); pass the right service name"
    )]
    MissingService { name: String, known: String },
    #[error(".env line {line}: {problem}")]
    DotEnv { line: usize, problem: String },
    #[error("the edited compose file failed validation: {0}; the original was left untouched")]
    Validation(String),
    #[error("the backup copy {} does not match the checksum recorded when it was taken (expected {expected}, found {actual}); refusing to restore from it", path.display())]
    BackupChecksum {
        path: PathBuf,
        expected: String,
        actual: String,
    },
}
