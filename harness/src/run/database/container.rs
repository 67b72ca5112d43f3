//! The `container` backend: a MySQL 8.4 (`container`) or PostgreSQL 16 (`container:postgres`)
//! server in a container started through testcontainers, reachable on a mapped port of this
//! machine's loopback, removed at the end of the scenario (also after Ctrl-C, which ends runs
//! through the same path). `POOLSTORM_MYSQL_IMAGE` and `POOLSTORM_POSTGRES_IMAGE` name other
//! images that take the official images' environment (the stand-ins scripts/local-images.sh
//! builds from Debian's packages where no registry is reachable). It needs a Docker engine:
//! without one that answers bollard's ping it fails at once and names the alternatives.

use std::time::Duration;

use bollard::{API_DEFAULT_VERSION, Docker};
use contract::Engine;
use sqlx::Connection as _;
use testcontainers::core::{IntoContainerPort as _, WaitFor};
use testcontainers::runners::AsyncRunner as _;
use testcontainers::{ContainerAsync, GenericImage, ImageExt as _};

use super::{DatabaseError, admin_url};
use crate::base::poll;

/// The MySQL version the container runs (the one docker-compose.yml and CI use).
pub const MYSQL_TAG: &str = "8.4";
/// The PostgreSQL version the container runs.
pub const POSTGRES_TAG: &str = "16";
/// The variable that names another MySQL image (`NAME:TAG`).
pub const IMAGE_VARIABLE: &str = "POOLSTORM_MYSQL_IMAGE";
/// The variable that names another PostgreSQL image.
pub const POSTGRES_IMAGE_VARIABLE: &str = "POOLSTORM_POSTGRES_IMAGE";

/// How a server of each engine runs in its official image.
struct Official {
    variable: &'static str,
    name: &'static str,
    tag: &'static str,
    port: u16,
    /// The variable that lets its superuser in without a password.
    trust: (&'static str, &'static str),
    user: &'static str,
    /// What `scripts/local-images.sh` builds in its place.
    stand_in: &'static str,
}

fn official(engine: Engine) -> Official {
    match engine {
        Engine::Postgres => Official {
            variable: POSTGRES_IMAGE_VARIABLE,
            name: "postgres",
            tag: POSTGRES_TAG,
            port: 5432,
            trust: ("POSTGRES_HOST_AUTH_METHOD", "trust"),
            user: "postgres",
            stand_in: "poolstorm-local/postgres:15",
        },
        _ => Official {
            variable: IMAGE_VARIABLE,
            name: "mysql",
            tag: MYSQL_TAG,
            port: 3306,
            trust: ("MYSQL_ALLOW_EMPTY_PASSWORD", "yes"),
            user: "root",
            stand_in: "poolstorm-local/mariadb:10.11",
        },
    }
}

/// The image to run for `engine`: its variable (`POOLSTORM_MYSQL_IMAGE`,
/// `POOLSTORM_POSTGRES_IMAGE`), else `mysql:8.4` or `postgres:16`, as (name, tag).
pub fn image(engine: Engine) -> (String, String) {
    let o = official(engine);
    match std::env::var(o.variable) {
        Ok(given) if !given.is_empty() => split_image(&given),
        _ => (o.name.to_owned(), o.tag.to_owned()),
    }
}

/// `NAME[:TAG]` split at the tag, not at a registry's port; no tag is `latest`.
fn split_image(text: &str) -> (String, String) {
    let after_registry = text.rfind('/').map_or(0, |i| i + 1);
    match text[after_registry..].rfind(':') {
        Some(i) => (
            text[..after_registry + i].to_owned(),
            text[after_registry + i + 1..].to_owned(),
        ),
        None => (text.to_owned(), "latest".to_owned()),
    }
}

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

/// A running database container.
pub struct ContainerServer {
    container: ContainerAsync<GenericImage>,
    /// `NAME:TAG`.
    pub image: String,
    /// `mysql://root@IP:PORT` or `postgres://postgres@IP:PORT`: the engine's address for the
    /// host as an IP literal (127.0.0.1, or the bridge's gateway when this runs inside a
    /// container itself, as testcontainers picks).
    pub url: String,
}

impl std::fmt::Debug for ContainerServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContainerServer")
            .field("image", &self.image)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl ContainerServer {
    /// Starts `engine`'s image (see [`image`]) and waits until the server accepts
    /// connections.
    pub async fn start(engine: Engine) -> Result<Self, DatabaseError> {
        let address = engine_address();
        if !engine_answers(&address).await {
            return Err(DatabaseError::Setup(format!(
                "the container backend needs a Docker engine and none answered at {address} (set DOCKER_HOST if it \
                 listens elsewhere); without one use --db sqlite, --db mariadb-local or --db postgres-local (throwaway \
                 servers from this machine's packages) or --db mysql://USER:PASS@IP:PORT or postgres://USER:PASS@IP:PORT"
            )));
        }
        let o = official(engine);
        let (name, tag) = image(engine);
        let shown = format!("{name}:{tag}");
        // No log line to wait for that every image prints: the connect loop below is the
        // readiness check.
        let container = GenericImage::new(name, tag)
            .with_exposed_port(o.port.tcp())
            .with_wait_for(WaitFor::Nothing)
            .with_env_var(o.trust.0, o.trust.1)
            .with_startup_timeout(READY)
            .start()
            .await
            .map_err(|e| {
                DatabaseError::caused(
                    format!(
                        "starting {shown} (without an image registry: scripts/local-images.sh, then {}={})",
                        o.variable, o.stand_in
                    ),
                    e,
                )
            })?;
        let port = container
            .get_host_port_ipv4(o.port.tcp())
            .await
            .map_err(|e| DatabaseError::caused(format!("{shown} has no mapped port"), e))?;
        let host = match container.get_host().await.map(|h| h.to_string()) {
            Ok(host) if host != "localhost" => host,
            _ => "127.0.0.1".to_owned(),
        };
        let url = format!("{}://{}@{host}:{port}", engine.name(), o.user);
        let admin = admin_url(engine, &url);
        let accepts = poll::until(READY, Duration::from_millis(250), async || {
            let conn = sqlx::AnyConnection::connect(&admin).await;
            Ok::<_, DatabaseError>(conn.is_ok().then_some(()))
        })
        .await?;
        if accepts.is_none() {
            return Err(DatabaseError::Setup(format!(
                "{shown} did not accept connections at {url}"
            )));
        }
        Ok(Self {
            container,
            image: shown,
            url,
        })
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

    #[test]
    fn an_image_name_splits_at_its_tag_not_at_a_registry_port() {
        let split = split_image;
        assert_eq!(
            split("poolstorm-local/mariadb:10.11"),
            ("poolstorm-local/mariadb".to_owned(), "10.11".to_owned())
        );
        assert_eq!(
            split("registry:5000/mysql:8.4"),
            ("registry:5000/mysql".to_owned(), "8.4".to_owned())
        );
        assert_eq!(
            split("registry:5000/mysql"),
            ("registry:5000/mysql".to_owned(), "latest".to_owned())
        );
    }

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
