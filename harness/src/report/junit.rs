//! `junit.xml`: one test case per cell (it ran, its data held) and one per rule applied to a
//! cell, for CI systems that show test results.

use std::fmt::Write as _;

use super::markup::escape;
use super::scenario::ScenarioReport;

/// Renders the report as JUnit XML.
pub fn render(report: &ScenarioReport) -> String {
    let suite = escape(&report.scenario.name);
    let mut cases = String::new();
    let (mut tests, mut failures) = (0, 0);
    let mut case = |name: String, seconds: f64, failure: Option<String>| {
        tests += 1;
        let _ = write!(
            cases,
            "    <testcase classname=\"poolstorm.{suite}\" name=\"{}\" time=\"{seconds:.3}\"",
            escape(&name)
        );
        match failure {
            Some(message) => {
                failures += 1;
                let _ = writeln!(
                    cases,
                    ">\n      <failure message=\"{}\"/>\n    </testcase>",
                    escape(&message)
                );
            }
            None => cases.push_str("/>\n"),
        }
    };
    for c in &report.cells {
        let seconds = c.load.as_ref().map_or(0.0, |l| l.elapsed_s);
        let verdict = c.verdict().map_or("error".to_owned(), |v| v.to_string());
        let failure = c.error.clone().or_else(|| {
            c.integrity
                .as_ref()
                .filter(|i| !i.passed)
                .map(|i| format!("integrity: {}", i.message))
        });
        case(
            format!("cell {:02} {}: {verdict}", c.index, c.label),
            seconds,
            failure,
        );
        for r in &c.rules {
            case(
                format!("cell {:02} {}: {}", c.index, c.label, r.rule),
                0.0,
                (!r.passed).then(|| r.details.clone()),
            );
        }
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n  <testsuite name=\"{suite}\" tests=\"{tests}\" failures=\"{failures}\">\n{cases}  </testsuite>\n</testsuites>\n"
    )
}
