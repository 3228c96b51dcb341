//! The Docker adapter: everything cutover does to the engine, through bollard, one job per
//! file. `DockerClient` is the single entry point; each file adds methods to it.
//!
//! Invariants: every mutating call is idempotent (a resumed run may repeat it); nothing here
//! knows about plans, steps or the journal; secret env values never reach logs or errors.

pub mod archive;
pub mod by_label;
pub mod connect;
pub mod container_file;
pub mod create_service;
pub mod discover;
pub mod disk;
pub mod endpoint;
pub mod error;
pub mod exec;
pub mod image;
pub mod inspect;
pub mod labels;
pub mod lifecycle;
pub mod lines;
pub mod logs;
pub mod oneoff;
pub mod pipe;
pub mod probe;
pub mod pull;
pub mod readiness;
pub mod recreate;
pub mod sweep;

pub use connect::DockerClient;
pub use create_service::{ServicePort, ServiceSpec, ServiceVolume};
pub use discover::ServiceContainer;
pub use disk::{DiskSpace, free_space};
pub use endpoint::{Endpoint, EndpointVia};
pub use error::{DockerError, Result};
pub use exec::{ExecChunk, ExecOutput, ExecSession, ExecSpec};
pub use image::{ImageFacts, Libc};
pub use inspect::{ContainerStatus, Health};
pub use lines::{LineSplitter, LogLine, StreamKind};
pub use logs::{LogFollower, LogQuery};
pub use oneoff::OneOffSpec;
pub use pipe::ExecPiped;
pub use pull::{EnsuredImage, PullPolicy, PullProgress};
pub use readiness::{Readiness, ReadyReport};
pub use recreate::{RecreatePlan, RecreateState};
