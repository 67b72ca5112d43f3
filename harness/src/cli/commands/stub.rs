//! `poolstorm stub`: serve the programmable stub until SIGINT/SIGTERM.

use std::io::Write as _;

use super::{Exit, Failure, Outcome, UsageError};
use crate::cli::StubArgs;
use crate::engine::stub::{Options, Stub, tls_config};

/// Runs `poolstorm stub`.
pub async fn execute(args: &StubArgs) -> Outcome {
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(
            tls_config(cert, key, args.client_ca.as_deref())
                .map_err(|e| UsageError::with(e.setting, e.detail(), e))?,
        ),
        _ => None,
    };
    let options = Options { tls, h2c: args.h2c };
    let stub = Stub::start_with(args.listen, options).await.map_err(|e| {
        Failure::not_run(anyhow::Error::new(e).context(format!("--listen {}", args.listen)))
    })?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {}", stub.url())
            .and_then(|()| out.flush())
            .map_err(Failure::not_run)?;
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(Failure::not_run)?;
    let die = async {
        match args.die_after {
            Some(n) => {
                stub.requests_reached(n).await;
                let _ = nix::sys::signal::kill(nix::unistd::getpid(), nix::sys::signal::SIGKILL);
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
        () = die => {}
    }
    Ok(Exit::Done)
}
