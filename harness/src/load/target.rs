//! The target: a plain-HTTP base URL, resolved once to a socket address.

use std::net::SocketAddr;

/// Where requests go. Task paths are appended to `base_path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The URL as given.
    pub url: String,
    /// `host[:port]` for the Host header.
    pub authority: String,
    pub host: String,
    pub port: u16,
    /// Path prefix from the URL, without a trailing `/` (empty for `http://host:port/`).
    pub base_path: String,
    /// The path (and query) of the URL itself, used when no `--task` is given.
    pub path: String,
}

/// Why a URL is not a usable target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("`{0}` is not an http:// URL (https is not supported: poolstorm targets plain HTTP)")]
    Scheme(String),
    #[error("`{0}` has no host")]
    NoHost(String),
    #[error("`{url}` has a bad port `{port}`")]
    Port { url: String, port: String },
    #[error("cannot resolve `{host}`: {reason}")]
    Resolve { host: String, reason: String },
}

impl Target {
    /// Parses `http://host[:port][/path][?query]`.
    pub fn parse(url: &str) -> Result<Self, TargetError> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| TargetError::Scheme(url.to_owned()))?;
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !port.contains(']') => {
                let port = port.parse().map_err(|_| TargetError::Port {
                    url: url.to_owned(),
                    port: port.to_owned(),
                })?;
                (host, port)
            }
            _ => (authority, 80),
        };
        if host.is_empty() {
            return Err(TargetError::NoHost(url.to_owned()));
        }
        let path = if path.is_empty() || path.starts_with('?') {
            format!("/{path}")
        } else {
            path.to_owned()
        };
        let base_path = path
            .split('?')
            .next()
            .unwrap_or_default()
            .trim_end_matches('/')
            .to_owned();
        Ok(Self {
            url: url.to_owned(),
            authority: authority.to_owned(),
            host: host.trim_matches(['[', ']']).to_owned(),
            port,
            base_path,
            path,
        })
    }

    /// Resolves the host once (so no lookup happens while measuring).
    pub async fn resolve(&self) -> Result<SocketAddr, TargetError> {
        let mut addrs = tokio::net::lookup_host((self.host.as_str(), self.port))
            .await
            .map_err(|e| TargetError::Resolve {
                host: self.host.clone(),
                reason: e.to_string(),
            })?;
        addrs.next().ok_or_else(|| TargetError::Resolve {
            host: self.host.clone(),
            reason: "no address".to_owned(),
        })
    }

    /// The request target for a task path: the base path joined with it.
    pub fn join(&self, path: &str) -> String {
        format!("{}{path}", self.base_path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_authority_and_paths() {
        let t = Target::parse("http://127.0.0.1:8080/api?x=1").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.authority.as_str()),
            ("127.0.0.1", 8080, "127.0.0.1:8080")
        );
        assert_eq!(
            (t.path.as_str(), t.base_path.as_str()),
            ("/api?x=1", "/api")
        );
        assert_eq!(t.join("/health"), "/api/health");
        let t = Target::parse("http://localhost").unwrap();
        assert_eq!(
            (t.port, t.path.as_str(), t.join("/x")),
            (80, "/", "/x".to_owned())
        );
    }

    #[test]
    fn https_and_garbage_are_refused() {
        assert!(matches!(
            Target::parse("https://x"),
            Err(TargetError::Scheme(_))
        ));
        assert!(matches!(
            Target::parse("http://:80/"),
            Err(TargetError::NoHost(_))
        ));
        assert!(matches!(
            Target::parse("http://h:port/"),
            Err(TargetError::Port { .. })
        ));
    }
}
