//! `poolstorm advise`: one scenario, searched for the smallest pool that never locks; the
//! table on stdout, `advice.json` and the HTML page in the results folder.

use super::{Exit, Failure, Outcome, UsageError, load::cancel_on_signal, scenarios::load_all};
use crate::cli::AdviseArgs;
use crate::results::advice;
use crate::run::advise::{self, AdviseError, AdviseOptions};

/// Runs `poolstorm advise`.
pub async fn execute(args: &AdviseArgs) -> Outcome {
    let mut scenarios = load_all(&args.scenarios)?;
    if scenarios.len() != 1 {
        return Err(UsageError::new("FILE", "advise takes one scenario file").into());
    }
    let scenario = scenarios.remove(0);
    let duration = crate::base::human::parse_duration(&args.duration)
        .map_err(|m| UsageError::because("--duration", m))?;
    let options = AdviseOptions {
        out: args.output.out.clone(),
        repeat: args.repeat,
        duration,
        pool_param: args.pool_param.clone(),
        threads_param: args.threads_param.clone(),
        probe_only: args.probe,
        set: args.scenarios.set.clone(),
    };
    let stop = tokio_util::sync::CancellationToken::new();
    cancel_on_signal(&stop);
    let mut monitor = super::monitor(args.output.progress, args.output.no_tui);
    let result = advise::advise(&scenario, &options, &stop, monitor.as_mut()).await;
    monitor.finish();
    match result {
        Ok((found, dir)) => {
            print!("{}", advice::terminal(&found));
            println!(
                "{}",
                crate::run::experiment::results_lines(&dir, &[crate::export::ADVICE.name])
            );
            Ok(Exit::Done)
        }
        Err(AdviseError::Interrupted) => Ok(Exit::Interrupted),
        Err(AdviseError::Scenario(m)) => {
            Err(UsageError::new(&scenario.path.display().to_string(), m).into())
        }
        Err(e) => Err(Failure::not_run(
            anyhow::Error::new(e).context(scenario.path.display().to_string()),
        )),
    }
}
