//! The mode-2 data check: after a cell that inserted messages, the rows, their distinct ids
//! and the 201 responses the load counted must agree. An insert whose answer never arrived may
//! or may not have committed, so the rows must lie between the 201s and the 201s plus those.

use std::time::Duration;

use crate::engine::fetch;
use crate::engine::metrics::Kind;
use crate::results::LoadReport;
use crate::results::scenario::Integrity;
use crate::run::database::MessageCounts;

/// Whether a task inserts messages.
pub(super) fn inserts(method: &str, path: &str) -> bool {
    method == "POST" && path.split('?').next() == Some("/mode2/messages")
}

/// 201s and unanswered inserts over the tasks that insert.
pub(super) fn counted(report: &LoadReport) -> Option<(u64, u64)> {
    let tasks: Vec<_> = report
        .tasks
        .iter()
        .filter(|t| inserts(&t.method, &t.path))
        .collect();
    if tasks.is_empty() {
        return None;
    }
    let created = tasks
        .iter()
        .map(|t| t.status_codes.get(&201).copied().unwrap_or_default())
        .sum();
    let unanswered = tasks
        .iter()
        .flat_map(|t| {
            [Kind::Timeout, Kind::Connect, Kind::Other, Kind::Aborted].map(|k| t.outcomes.get(k))
        })
        .sum();
    Some((created, unanswered))
}

/// Asks the app (`/mode2/messages/stats`), which a stuck pool cannot answer.
pub(super) async fn from_endpoint(base_url: &str) -> Option<MessageCounts> {
    let stats: contract::MessageStats =
        fetch::get_json(base_url, "/mode2/messages/stats", Duration::from_secs(3))
            .await
            .ok()?;
    Some(MessageCounts {
        rows: stats.rows,
        distinct_ids: stats.distinct_ids,
    })
}

/// Judges the counts.
pub(super) fn judge(
    source: &str,
    counts: MessageCounts,
    created: u64,
    unanswered: u64,
) -> Integrity {
    let MessageCounts { rows, distinct_ids } = counts;
    let mut problems = Vec::new();
    if distinct_ids != rows {
        problems.push(format!(
            "{rows} rows but {distinct_ids} distinct ids: an id was reused"
        ));
    }
    if rows < created {
        problems.push(format!(
            "{created} inserts answered 201 but only {rows} rows: inserts were lost"
        ));
    }
    if rows > created + unanswered {
        problems.push(format!(
            "{rows} rows for {created} answered and {unanswered} unanswered inserts: phantom rows"
        ));
    }
    let passed = problems.is_empty();
    let message = if passed {
        format!(
            "{rows} rows, {distinct_ids} distinct ids, {created} answered 201 ({unanswered} unanswered)"
        )
    } else {
        problems.join("; ")
    };
    Integrity {
        source: source.to_owned(),
        rows,
        distinct_ids,
        created,
        unanswered,
        passed,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(rows: u64, distinct_ids: u64) -> MessageCounts {
        MessageCounts { rows, distinct_ids }
    }

    #[test]
    fn rows_must_cover_every_201_and_nothing_unexplained() {
        assert!(judge("endpoint", counts(100, 100), 100, 0).passed);
        assert!(
            judge("endpoint", counts(103, 103), 100, 5).passed,
            "up to 5 unanswered inserts may have landed"
        );
        assert!(
            judge("endpoint", counts(99, 99), 100, 5)
                .message
                .contains("inserts were lost")
        );
        assert!(
            judge("endpoint", counts(106, 106), 100, 5)
                .message
                .contains("phantom rows")
        );
        assert!(
            judge("database", counts(100, 98), 100, 0)
                .message
                .contains("an id was reused")
        );
    }

    #[test]
    fn only_posts_to_the_messages_route_insert() {
        assert!(inserts("POST", "/mode2/messages"));
        assert!(!inserts("GET", "/mode2/messages/stats"));
        assert!(!inserts("POST", "/mode1/async"));
    }
}
