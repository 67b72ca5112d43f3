//! Start-up and shutdown: resolve the database, connect, bind, print the address, serve until
//! SIGTERM/SIGINT, then drain for a bounded grace period (a deadlocked app exits anyway).

use std::io::Write as _;
use std::net::IpAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;

use crate::config::{Config, DatabaseUrl, Engine};
use crate::db::{Database, PoolSettings};
use crate::routes::{self, router};
use crate::state::App;

/// Runs the service until a shutdown signal. Exit status 0 after a clean drain, 1 when the
/// grace period ran out with requests still stuck.
pub async fn serve(mut config: Config) -> anyhow::Result<ExitCode> {
    let mut _sqlite_dir = None;
    let url = match config.database_url.take() {
        Some(url) => pin_host_to_ip(url).await?,
        None => {
            let dir = tempfile::Builder::new()
                .prefix("target-app-")
                .tempdir()
                .context("creating a temp dir")?;
            let url = DatabaseUrl::sqlite_file(&dir.path().join("target-app.db"));
            _sqlite_dir = Some(dir);
            url
        }
    };
    config.database_url = Some(url.clone());
    if config.query_delay_ms > 0 && url.engine == Engine::Sqlite {
        anyhow::bail!(
            "--query-delay-ms needs a MySQL/MariaDB or PostgreSQL --database-url: SQLite has no server-side sleep"
        );
    }
    let settings = PoolSettings {
        max: config.pool_max,
        min: config.pool_min,
        acquire_timeout: config.acquire_timeout,
        checkout_delay: Duration::from_millis(config.query_delay_ms),
    };
    let db = Database::connect(&url, settings)
        .await
        .with_context(|| format!("cannot open database {} (--database-url)", url.redacted()))?;
    tracing::info!(database = %url.redacted(), threads = config.threads, pool_max = config.pool_max, "database ready");

    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {} (--listen)", config.listen))?;
    let addr = listener.local_addr()?;
    let grace = config.shutdown_grace.0;
    let app = App::new(config, Arc::clone(&db), &routes::paths());
    let state = Arc::clone(&app);

    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "listening on http://{addr}")?;
        stdout.flush()?;
    }

    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(
        axum::serve(listener, router(app))
            .with_graceful_shutdown(async move {
                let _ = stop_rx.wait_for(|stop| *stop).await;
            })
            .into_future(),
    );
    shutdown_signal().await;
    tracing::info!(grace_ms = grace.as_millis() as u64, "shutting down");
    let _ = stop_tx.send(true);
    let deadline = tokio::time::Instant::now() + grace;
    // Requests whose clients left still run (as in Starlette): wait for their jobs too.
    let drained = tokio::time::timeout_at(deadline, async {
        let _ = server.await;
        while !state.is_idle() {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .is_ok();
    if !drained {
        let stuck = db.snapshot();
        let blocking = state.workers.gauges();
        tracing::warn!(
            in_use = stuck.in_use,
            waiting = stuck.waiting,
            busy = blocking.busy,
            queued = blocking.queued,
            "grace period over with work stuck; exiting"
        );
        return Ok(ExitCode::FAILURE);
    }
    db.close(deadline.saturating_duration_since(tokio::time::Instant::now()))
        .await;
    Ok(ExitCode::SUCCESS)
}

/// Resolves once at start-up so that no name lookup ever runs on the blocking pool
/// (tokio resolves names with `spawn_blocking`, which would change the experiment).
async fn pin_host_to_ip(url: DatabaseUrl) -> anyhow::Result<DatabaseUrl> {
    if url.engine == Engine::Sqlite {
        return Ok(url);
    }
    let host = match url.url().host() {
        Some(url::Host::Domain(name)) => name.to_owned(),
        _ => return Ok(url),
    };
    let port = url
        .url()
        .port()
        .or(url.engine.default_port())
        .unwrap_or_default();
    let addrs: Vec<_> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .with_context(|| format!("cannot resolve database host `{host}` (--database-url)"))?
        .collect();
    let ip = addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .map(|a| a.ip())
        .with_context(|| format!("database host `{host}` has no address (--database-url)"))?;
    let ip_text = match ip {
        IpAddr::V6(v6) => format!("[{v6}]"),
        IpAddr::V4(v4) => v4.to_string(),
    };
    tracing::info!(%host, %ip, "database host name resolved once at start");
    url.with_host(&ip_text)
        .map_err(|e| anyhow::anyhow!("{e} (--database-url)"))
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mysql(url: &str) -> DatabaseUrl {
        DatabaseUrl::parse(url).unwrap()
    }

    #[tokio::test]
    async fn host_names_are_replaced_by_their_address() {
        let pinned = pin_host_to_ip(mysql("mysql://app:pw@localhost:3307/db?ssl-mode=disabled"))
            .await
            .unwrap();
        assert!(
            pinned.as_str() == "mysql://app:pw@127.0.0.1:3307/db?ssl-mode=disabled"
                || pinned.as_str() == "mysql://app:pw@[::1]:3307/db?ssl-mode=disabled",
            "{}",
            pinned.as_str()
        );
    }

    #[tokio::test]
    async fn ip_addresses_are_kept_as_they_are() {
        for url in [
            "mysql://root@127.0.0.1:3306/db",
            "mysql://root@[::1]:3306/db",
            "mysql://10.0.0.1/db",
        ] {
            assert_eq!(pin_host_to_ip(mysql(url)).await.unwrap().as_str(), url);
        }
    }
}
