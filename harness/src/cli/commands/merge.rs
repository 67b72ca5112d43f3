//! `poolstorm merge`: shards' reports read and checked, merged exactly, then the same ending as
//! `poolstorm load` (files, summary, `--fail-if`, exit status) on the merged report.

use super::outputs::{self, Outputs, Paths};
use super::{Failure, Outcome, UsageError};
use crate::cli::MergeArgs;
use crate::results::merge::{self, MergeError};

fn usage(e: MergeError) -> Failure {
    match e {
        MergeError::Input { file, message } => UsageError::new(&file, message).into(),
        MergeError::NotReport { file, source } => {
            let message = format!("not a poolstorm load report ({source})");
            UsageError::with(&file, message, source).into()
        }
        MergeError::Histogram { file, what, source } => {
            UsageError::with(&file, format!("{what}: {source}"), source).into()
        }
        MergeError::Shards(message) => UsageError::new("FILES", message).into(),
        MergeError::Intervals(_) => Failure::not_run(e),
    }
}

/// Runs `poolstorm merge`.
pub fn execute(args: &MergeArgs) -> Outcome {
    let conditions = outputs::conditions(&args.fail_if)?;
    let files = merge::files(&args.inputs).map_err(usage)?;
    let inputs = merge::read(&files).map_err(usage)?;
    // Refused shards leave no empty output file behind.
    let shards = merge::check(inputs).map_err(usage)?;
    let note = format!(
        "Merged from {} shards of run {} by poolstorm merge; untagged lines only",
        shards.count(),
        shards.run()
    );
    let mut outputs = Outputs::open(&Paths {
        json: args.json.as_ref(),
        csv: args.csv.as_ref(),
        hlog: args.hlog.as_ref(),
        html: args.html.as_ref(),
        hlog_note: Some(note),
    })?;
    let mut hlog = outputs.hlog.take();
    let mut report = merge::merge(shards, hlog.as_deref_mut()).map_err(usage)?;
    if report.interrupted {
        eprintln!("poolstorm: a shard was interrupted: the merged result covers less than the run");
    }
    // An interrupted shard is reported, not a reason to exit 130: this process was not.
    outputs.finish(&mut report, &conditions, false)
}
