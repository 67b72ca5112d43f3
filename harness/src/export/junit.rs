//! `junit.xml` (written with `quick-junit`): one test case per cell (it ran, its data held)
//! and one per rule applied to a cell, for CI systems that show test results.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::results::scenario::ScenarioReport;

/// A test case, failed with `failure` when there is one.
fn case(classname: &str, name: String, seconds: f64, failure: Option<String>) -> TestCase {
    let status = match failure {
        Some(message) => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status.set_message(message);
            status
        }
        None => TestCaseStatus::success(),
    };
    let mut case = TestCase::new(name, status);
    case.set_classname(classname)
        .set_time(Duration::from_secs_f64(seconds.max(0.0)));
    case
}

/// Renders the report as JUnit XML.
pub fn render(report: &ScenarioReport) -> String {
    let name = &report.scenario.name;
    let classname = format!("poolstorm.{name}");
    let mut suite = TestSuite::new(name.as_str());
    for c in &report.cells {
        let seconds = c.load.as_ref().map_or(0.0, |l| l.elapsed_s);
        let verdict = c.verdict().map_or("error".to_owned(), |v| v.to_string());
        let failure = c.error.clone().or_else(|| {
            c.integrity
                .as_ref()
                .filter(|i| !i.passed)
                .map(|i| format!("integrity: {}", i.message))
        });
        suite.add_test_case(case(
            &classname,
            format!("cell {:02} {}: {verdict}", c.index, c.label),
            seconds,
            failure,
        ));
        for r in &c.rules {
            suite.add_test_case(case(
                &classname,
                format!("cell {:02} {}: {}", c.index, c.label, r.rule),
                0.0,
                (!r.passed).then(|| r.details.clone()),
            ));
        }
    }
    let mut junit = Report::new(format!("poolstorm {name}"));
    junit.add_test_suite(suite);
    junit
        .to_string()
        .expect("a report of plain strings serializes")
}
