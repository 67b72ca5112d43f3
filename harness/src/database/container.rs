//! The `container` backend: a MySQL 8.4 server in a container started through testcontainers
//! (its MySQL module), reachable on a mapped port of this machine, removed at the end of the
//! scenario (also after Ctrl-C, which ends runs through the same path). It needs a Docker
//! engine: without one that answers bollard's ping it fails at once and names the
//! alternatives.

use std::time::Duration;

use bollard::{API_DEFAULT_VERSION, Docker};
use sqlx::Connection as _;
use testcontainers::runners::AsyncRunner as _;
use testcontainers::{ContainerAsync, ImageExt as _};
use testcontainers_modules::mysql::Mysql;

use super::DatabaseError;

/// The MySQL version the container runs (the one docker-compose.yml and CI use).
pub const MYSQL_TAG: &str = "8.4";
/// How long the engine gets to answer `/_ping`.
const PING: Duration = Duration::from_secs(3);
/// How long the server gets to accept connections once the container runs.
const READY: Duration = Duration::from_secs(120);

/// Where the Docker engine listens: `$DOCKER_HOST` (`unix://PATH` or `tcp://HOST:PORT`), else
/// the default socket.
pub fn engine_address() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".to_owned())
}

/// Whether a Docker engine answers `GET /_ping` at `address` (through bollard, the Docker
/// client testcontainers itself uses).
pub async fn engine_answers(address: &str) -> bool {
    let secs = PING.as_secs();
    let docker = match address.strip_prefix("unix://") {
        Some(path) => Docker::connect_with_unix(path, secs, API_DEFAULT_VERSION),
        None => Docker::connect_with_http(address, secs, API_DEFAULT_VERSION),
    };
    let Ok(docker) = docker else { return false };
    matches!(tokio::time::timeout(PING, docker.ping()).await, Ok(Ok(_)))
}

/// A running MySQL container.
pub struct ContainerServer {
    container: ContainerAsync<Mysql>,
    /// `mysql://root@127.0.0.1:PORT`.
    pub url: String,
}

impl std::fmt::Debug for ContainerServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContainerServer")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl ContainerServer {
    /// Starts `mysql:8.4` and waits until it accepts connections.
    pub async fn start() -> Result<Self, DatabaseError> {
        let address = engine_address();
        if !engine_answers(&address).await {
            return Err(DatabaseError::Setup(format!(
                "the container backend needs a Docker engine and none answered at {address} (set DOCKER_HOST if it \
                 listens elsewhere); without one use --db sqlite, --db mariadb-local (a throwaway server from this \
                 machine's mariadb-server package) or --db mysql://USER:PASS@IP:PORT"
            )));
        }
        let container = Mysql::default()
            .with_tag(MYSQL_TAG)
            .with_startup_timeout(READY)
            .start()
            .await
            .map_err(|e| DatabaseError::Setup(format!("starting mysql:{MYSQL_TAG}: {e}")))?;
        let port = container.get_host_port_ipv4(3306).await.map_err(|e| {
            DatabaseError::Setup(format!("mysql:{MYSQL_TAG} has no mapped port: {e}"))
        })?;
        let host = match container.get_host().await.map(|h| h.to_string()) {
            Ok(host) if host != "localhost" => host,
            _ => "127.0.0.1".to_owned(),
        };
        let url = format!("mysql://root@{host}:{port}");
        let deadline = tokio::time::Instant::now() + READY;
        while sqlx::AnyConnection::connect(&format!("{url}/"))
            .await
            .is_err()
        {
            if tokio::time::Instant::now() >= deadline {
                return Err(DatabaseError::Setup(format!(
                    "mysql:{MYSQL_TAG} did not accept connections at {url}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        Ok(Self { container, url })
    }

    /// Removes the container.
    pub async fn stop(self) {
        let _ = self.container.rm().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    #[tokio::test]
    async fn a_socket_nobody_listens_on_is_no_engine() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("docker.sock");
        assert!(!engine_answers(&format!("unix://{}", path.display())).await);
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = closed.local_addr().unwrap();
        drop(closed);
        assert!(!engine_answers(&format!("tcp://{addr}")).await);
    }

    #[tokio::test]
    async fn an_engine_that_pings_back_answers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("docker.sock");
        let listener = tokio::net::UnixListener::bind(&path).unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 256];
            let _ = stream.read(&mut buf).await;
            stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK")
                .await
                .unwrap();
        });
        assert!(engine_answers(&format!("unix://{}", path.display())).await);
    }
}
