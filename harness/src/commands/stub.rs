//! `poolstorm stub`: serve the programmable stub until SIGINT/SIGTERM.

use std::io::Write as _;

use super::Exit;
use crate::cli::StubArgs;
use crate::stub::Stub;

/// Runs `poolstorm stub`.
pub async fn execute(args: &StubArgs) -> anyhow::Result<Exit> {
    let stub = Stub::start(args.listen).await?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {}", stub.url())?;
        out.flush()?;
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
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
