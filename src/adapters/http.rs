//! HTTP probes: a reqwest client with short timeouts, a plain GET returning status and body,
//! and typed probes for Qdrant (`/healthz`, `/readyz`, `GET /collections`) and the backend's
//! `/health`. Base URLs come from endpoint resolution (docker::endpoint), never a guessed
//! localhost. Plain HTTP only: the probes target containers on this machine.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Errors from HTTP probes; each names the URL.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("GET {url}: {detail}")]
    Request { url: String, detail: String },
    #[error("GET {url}: status {status}, expected success; body: {body}")]
    Status {
        url: String,
        status: u16,
        body: String,
    },
    #[error("GET {url}: unexpected response shape ({detail}); body: {body}")]
    Shape {
        url: String,
        detail: String,
        body: String,
    },
}

/// A response, body read fully (probe responses are small).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub body: String,
}

impl HttpResponse {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(&self.body)
    }
}

/// Qdrant's `GET /collections` answer.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct QdrantCollections {
    pub names: Vec<String>,
    pub time: Option<f64>,
}

/// The backend's `/health` answer (`{"status":"healthy",...}`); other fields are kept.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BackendHealth {
    pub status: String,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// A short-timeout HTTP client for probes.
#[derive(Clone, Debug)]
pub struct HttpClient {
    client: reqwest::Client,
}

impl HttpClient {
    /// `timeout` bounds the whole request; connecting is bounded by the smaller of it and 2 s.
    pub fn new(timeout: Duration) -> Self {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(2)))
            // Probes target local containers: a proxy from the environment would misroute them.
            .no_proxy()
            .build()
            .expect("a reqwest client without TLS or custom roots always builds");
        HttpClient { client }
    }

    /// GET `url`, returning any status with the body.
    pub async fn get(&self, url: &str) -> Result<HttpResponse, HttpError> {
        let err = |e: reqwest::Error| HttpError::Request {
            url: url.to_string(),
            detail: describe(&e),
        };
        let resp = self.client.get(url).send().await.map_err(err)?;
        let status = resp.status().as_u16();
        let body = resp.text().await.map_err(err)?;
        Ok(HttpResponse { status, body })
    }

    /// GET `url` and require a 2xx status.
    pub async fn get_ok(&self, url: &str) -> Result<HttpResponse, HttpError> {
        let r = self.get(url).await?;
        if r.is_success() {
            Ok(r)
        } else {
            Err(HttpError::Status {
                url: url.to_string(),
                status: r.status,
                body: truncate(&r.body),
            })
        }
    }

    /// Qdrant liveness: `GET {base}/healthz` answers 2xx.
    pub async fn qdrant_healthz(&self, base: &str) -> Result<(), HttpError> {
        self.get_ok(&join(base, "/healthz")).await.map(|_| ())
    }

    /// Qdrant readiness: `GET {base}/readyz` answers 2xx.
    pub async fn qdrant_readyz(&self, base: &str) -> Result<(), HttpError> {
        self.get_ok(&join(base, "/readyz")).await.map(|_| ())
    }

    /// Qdrant's collection names, checking the `{"result":{"collections":[{"name":..}]},
    /// "status":"ok","time":..}` shape.
    pub async fn qdrant_collections(&self, base: &str) -> Result<QdrantCollections, HttpError> {
        let url = join(base, "/collections");
        let r = self.get_ok(&url).await?;
        parse_collections(&r.body).map_err(|detail| HttpError::Shape {
            url,
            detail,
            body: truncate(&r.body),
        })
    }

    /// The backend's `GET {base}{path}`: a 2xx answer, and when `status` is given a JSON body
    /// whose `status` is that value (privexbot: `{"status":"healthy",...}`).
    pub async fn backend_health(
        &self,
        base: &str,
        path: &str,
        status: Option<&str>,
    ) -> Result<Option<BackendHealth>, HttpError> {
        let url = join(base, path);
        let r = self.get_ok(&url).await?;
        let Some(want) = status else {
            return Ok(None);
        };
        let shape = |detail: String| HttpError::Shape {
            url: url.clone(),
            detail,
            body: truncate(&r.body),
        };
        let h: BackendHealth = r.json().map_err(|e| shape(e.to_string()))?;
        if h.status != want {
            return Err(shape(format!(
                "status is {:?}, expected {want:?}",
                h.status
            )));
        }
        Ok(Some(h))
    }
}

/// Parses Qdrant's collections answer.
pub fn parse_collections(body: &str) -> Result<QdrantCollections, String> {
    let v: serde_json::Value = serde_json::from_str(body).map_err(|e| e.to_string())?;
    if v.get("status").and_then(|s| s.as_str()) != Some("ok") {
        return Err("\"status\" is not \"ok\"".into());
    }
    let list = v
        .pointer("/result/collections")
        .and_then(|c| c.as_array())
        .ok_or("no result.collections array")?;
    let names = list
        .iter()
        .map(|c| {
            c.get("name")
                .and_then(|n| n.as_str())
                .map(str::to_string)
                .ok_or_else(|| "a collection without a name".to_string())
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(QdrantCollections {
        names,
        time: v.get("time").and_then(|t| t.as_f64()),
    })
}

fn join(base: &str, path: &str) -> String {
    format!("{}{path}", base.trim_end_matches('/'))
}

fn truncate(body: &str) -> String {
    const MAX: usize = 300;
    match body.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &body[..i]),
        None => body.to_string(),
    }
}

/// reqwest's Display hides the cause ("error sending request"); include the chain.
fn describe(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(cause) = src {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        src = cause.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collections_shape_is_checked() {
        let ok = r#"{"result":{"collections":[{"name":"kb_1"},{"name":"kb_2"}]},"status":"ok","time":0.0001}"#;
        let c = parse_collections(ok).unwrap();
        assert_eq!(c.names, ["kb_1", "kb_2"]);
        assert!(parse_collections(r#"{"result":{"collections":[]},"status":"ok"}"#).is_ok());
        assert!(parse_collections(r#"{"status":"error"}"#).is_err());
        assert!(parse_collections(r#"{"result":{},"status":"ok"}"#).is_err());
    }

    #[test]
    fn backend_health_keeps_extra_fields() {
        let h: BackendHealth = serde_json::from_str(r#"{"status":"healthy","db":"ok"}"#).unwrap();
        assert_eq!(h.status, "healthy");
        assert_eq!(h.extra["db"], "ok");
    }
}
