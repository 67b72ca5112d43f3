//! The `target-app` binary: parse flags, build the runtime, serve.

use std::io::IsTerminal as _;
use std::process::ExitCode;
use std::time::Duration;

use target_app::Config;

/// Blocking threads tokio may start beyond the bounded pool: teardown jobs with
/// `--teardown separate`, and tokio's own file and DNS work.
const EXTRA_BLOCKING_THREADS: usize = 512;

fn main() -> ExitCode {
    let config = Config::parse_or_exit();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TARGET_APP_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("target_app=info,warn")),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(config.threads as usize + EXTRA_BLOCKING_THREADS)
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("target-app: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime
        .block_on(target_app::serve(config))
        .unwrap_or_else(|err| {
            eprintln!("target-app: {err:#}");
            ExitCode::FAILURE
        });
    if code != ExitCode::SUCCESS {
        // Jobs stuck in a deadlock never finish, and shutting the runtime down under them makes
        // their timers panic ("A Tokio 1.x context was found, but it is being shutdown"): leave
        // without stopping them. The log has already said why.
        std::process::exit(1);
    }
    runtime.shutdown_timeout(Duration::from_millis(200));
    code
}
