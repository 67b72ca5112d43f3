//! `poolstorm merge`: shards' reports read and checked, merged exactly, then the same ending as
//! `poolstorm load` (files, summary, `--fail-if`, exit status) on the merged report.

use super::outputs::{self, Outputs, Paths};
use super::{Exit, UsageError};
use crate::cli::MergeArgs;
use crate::merge::{self, MergeError};

fn usage(e: MergeError) -> UsageError {
    match e {
        MergeError::Input { file, message } => UsageError::new(&file, message),
        MergeError::Shards(message) => UsageError::new("FILES", message),
    }
}

/// Runs `poolstorm merge`.
pub fn execute(args: &MergeArgs) -> anyhow::Result<Exit> {
    let conditions = outputs::conditions(&args.fail_if)?;
    let files = merge::files(&args.inputs).map_err(usage)?;
    let inputs = merge::read(&files).map_err(usage)?;
    let mut report = merge::merge(inputs).map_err(usage)?;
    let outputs = Outputs::open(&Paths {
        json: args.json.as_ref(),
        csv: args.csv.as_ref(),
        hlog: None,
        html: args.html.as_ref(),
        hlog_note: None,
    })?;
    let interrupted = report.interrupted;
    if interrupted {
        eprintln!("poolstorm: a shard was interrupted: the merged result covers less than the run");
    }
    // An interrupted shard is reported, not a reason to exit 130: this process was not.
    outputs.finish(&mut report, &conditions, false)
}
