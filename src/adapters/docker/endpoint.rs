//! Resolving where a container's port can be reached from this machine, from what the engine
//! reports: a published host port if there is one (a wildcard bind becomes loopback), else the
//! container's address on its network (a user-defined network first, as compose creates one per
//! project). Never a hard-coded localhost guess: production stacks often publish nothing.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bollard::models::ContainerInspectResponse;
use serde::{Deserialize, Serialize};

use super::connect::DockerClient;
use super::error::{DockerError, Result};

/// How an endpoint was found.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum EndpointVia {
    Published,
    ContainerNetwork { network: String },
}

/// For an operator's eyes: "published port" or "network NAME" (never Rust debug text).
impl std::fmt::Display for EndpointVia {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EndpointVia::Published => write!(f, "published port"),
            EndpointVia::ContainerNetwork { network } => write!(f, "network {network}"),
        }
    }
}

/// A reachable address for one container port.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Endpoint {
    pub addr: SocketAddr,
    pub via: EndpointVia,
}

impl Endpoint {
    /// `http://addr` style base URL (IPv6 bracketed), without a trailing slash.
    pub fn http_base(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl DockerClient {
    /// Where `container`'s TCP `port` can be reached now.
    pub async fn resolve_endpoint(&self, container: &str, port: u16) -> Result<Endpoint> {
        let c = self.inspect(container).await?;
        endpoint_from_inspect(&c, port).ok_or_else(|| {
            DockerError::Invalid(format!(
                "container {container} has no published port for {port}/tcp and no network \
                 address (is it running, and is it attached to a network?)"
            ))
        })
    }
}

/// The endpoint resolution rule applied to an inspect response.
pub fn endpoint_from_inspect(c: &ContainerInspectResponse, port: u16) -> Option<Endpoint> {
    let ns = c.network_settings.as_ref()?;
    let key = format!("{port}/tcp");
    let bindings = ns
        .ports
        .as_ref()
        .and_then(|p| p.get(&key).cloned().flatten())
        .unwrap_or_default();
    let mut published: Vec<SocketAddr> = bindings
        .iter()
        .filter_map(|b| {
            let host_port: u16 = b.host_port.as_deref()?.parse().ok()?;
            let ip = match b.host_ip.as_deref().unwrap_or("") {
                "" | "0.0.0.0" => IpAddr::V4(Ipv4Addr::LOCALHOST),
                "::" => IpAddr::V6(Ipv6Addr::LOCALHOST),
                other => other.parse().ok()?,
            };
            Some(SocketAddr::new(ip, host_port))
        })
        .collect();
    published.sort_by_key(|a| !a.is_ipv4());
    if let Some(addr) = published.first() {
        return Some(Endpoint {
            addr: *addr,
            via: EndpointVia::Published,
        });
    }
    let mut nets: Vec<(&String, IpAddr)> = ns
        .networks
        .as_ref()?
        .iter()
        .filter_map(|(name, ep)| {
            let ip: IpAddr = ep
                .ip_address
                .as_deref()
                .filter(|s| !s.is_empty())?
                .parse()
                .ok()?;
            Some((name, ip))
        })
        .collect();
    // User-defined networks first (the default bridge last), then by name for determinism.
    nets.sort_by_key(|(name, _)| (name.as_str() == "bridge", (*name).clone()));
    let (name, ip) = nets.first()?;
    Some(Endpoint {
        addr: SocketAddr::new(*ip, port),
        via: EndpointVia::ContainerNetwork {
            network: (*name).clone(),
        },
    })
}
