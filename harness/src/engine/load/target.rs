//! The target: an `http://` or `https://` base URL (parsed with `url`), its host name resolved
//! once, before the run, to a socket address.

use std::net::SocketAddr;

use url::{Host, Url};

/// Where requests go. Task paths are appended to `base_path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The URL as given.
    pub url: String,
    /// `host[:port]` for the Host header.
    pub authority: String,
    pub host: Host<String>,
    pub port: u16,
    /// `https://`: TLS, with the host name for SNI and certificate checks.
    pub tls: bool,
    /// Path prefix from the URL, without a trailing `/` (empty for `http://host:port/`).
    pub base_path: String,
    /// The path (and query) of the URL itself, used when no `--task` is given.
    pub path: String,
}

/// Why a URL is not a usable target.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("`{0}` is not an http:// or https:// URL")]
    Scheme(String),
    #[error("`{0}` has no host")]
    NoHost(String),
    #[error("`{url}` has a bad port")]
    Port { url: String },
    #[error("`{url}` is not a URL: {source}")]
    Syntax {
        url: String,
        #[source]
        source: url::ParseError,
    },
    #[error("cannot resolve `{host}`: {source}")]
    Resolve {
        host: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot resolve `{host}`: no address")]
    NoAddress { host: String },
}

impl Target {
    /// Parses `http[s]://host[:port][/path][?query]`.
    pub fn parse(text: &str) -> Result<Self, TargetError> {
        let url = Url::parse(text).map_err(|e| match e {
            url::ParseError::EmptyHost => TargetError::NoHost(text.to_owned()),
            url::ParseError::InvalidPort => TargetError::Port {
                url: text.to_owned(),
            },
            source => TargetError::Syntax {
                url: text.to_owned(),
                source,
            },
        })?;
        let tls = match url.scheme() {
            "http" => false,
            "https" => true,
            _ => return Err(TargetError::Scheme(text.to_owned())),
        };
        let host = url
            .host()
            .map(|h| h.to_owned())
            .ok_or_else(|| TargetError::NoHost(text.to_owned()))?;
        let port = url
            .port_or_known_default()
            .unwrap_or(if tls { 443 } else { 80 });
        let authority = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        };
        let path = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        };
        Ok(Self {
            url: text.to_owned(),
            authority,
            host,
            port,
            tls,
            base_path: url.path().trim_end_matches('/').to_owned(),
            path,
        })
    }

    /// Resolves the host once (so no lookup happens while measuring).
    pub async fn resolve(&self) -> Result<SocketAddr, TargetError> {
        let name = match &self.host {
            Host::Ipv4(ip) => return Ok(SocketAddr::from((*ip, self.port))),
            Host::Ipv6(ip) => return Ok(SocketAddr::from((*ip, self.port))),
            Host::Domain(name) => name,
        };
        let mut addrs = tokio::net::lookup_host((name.as_str(), self.port))
            .await
            .map_err(|source| TargetError::Resolve {
                host: name.clone(),
                source,
            })?;
        addrs
            .next()
            .ok_or_else(|| TargetError::NoAddress { host: name.clone() })
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
            (t.host.to_string(), t.port, t.authority.as_str()),
            ("127.0.0.1".to_owned(), 8080, "127.0.0.1:8080")
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
        let t = Target::parse("http://[::1]:9/").unwrap();
        assert_eq!((t.authority.as_str(), t.port), ("[::1]:9", 9));
    }

    #[test]
    fn https_takes_port_443_and_other_schemes_and_garbage_are_refused() {
        let t = Target::parse("https://example.test/api").unwrap();
        assert!(t.tls);
        assert_eq!((t.port, t.authority.as_str()), (443, "example.test"));
        assert!(matches!(
            Target::parse("ftp://x"),
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
        assert!(matches!(
            Target::parse("nothing"),
            Err(TargetError::Syntax { .. })
        ));
    }

    #[tokio::test]
    async fn ip_literals_need_no_lookup() {
        let t = Target::parse("http://[::1]:8080/").unwrap();
        assert_eq!(t.resolve().await.unwrap(), "[::1]:8080".parse().unwrap());
    }
}
