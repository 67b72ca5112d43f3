//! Golden files for every format poolstorm writes from a document: a load report and a
//! scenario report (real ones, from runs, kept in `tests/fixtures/`) rendered by each entry of
//! the export tables and by the terminal summaries, compared by insta with the snapshots in
//! `tests/it/snapshots/`. The JSON formats' golden files are the fixtures themselves: written
//! again, they must come out byte for byte. A change to a format shows as a diff; accept it
//! with `INSTA_UPDATE=always cargo test golden` (or `cargo insta review`) once it is meant.

use harness::export::{self, Export};
use harness::export::{comparison, text};
use harness::results::LoadReport;
use harness::results::scenario::ScenarioReport;

/// A fixture's text and the document it holds.
fn fixture<D: serde::de::DeserializeOwned>(name: &str) -> (String, D) {
    let path = crate::support::repo()
        .join("harness/tests/fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let doc = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (text, doc)
}

/// Each export of `exports` against its golden file: the fixture for JSON, else a snapshot.
fn check<D>(prefix: &str, exports: &[Export<D>], fixture_text: &str, doc: &D) {
    for export in exports {
        let out = rendered(export, doc);
        if export.name.ends_with("json") {
            assert_eq!(
                out, fixture_text,
                "{} is not the fixture byte for byte",
                export.name
            );
        } else {
            insta::assert_snapshot!(snapshot(prefix, export), out);
        }
    }
}

fn rendered<D>(export: &Export<D>, doc: &D) -> String {
    String::from_utf8((export.render)(doc).unwrap()).expect("every format is text")
}

/// `load--json`, `run-report.html`: the snapshot's name for a format.
fn snapshot(prefix: &str, export: &Export<impl Sized>) -> String {
    format!("{prefix}-{}", export.name.trim_start_matches('-'))
}

#[test]
fn every_load_report_format_matches_its_golden_file() {
    let (json, report): (_, LoadReport) = fixture("load-report.json");
    check("load", &export::LOAD, &json, &report);
    insta::assert_snapshot!("load-terminal", text::render(&report));
}

#[test]
fn every_scenario_report_format_matches_its_golden_file() {
    let (json, report): (_, ScenarioReport) = fixture("run-report.json");
    check("run", &export::RUN, &json, &report);
    insta::assert_snapshot!("run-terminal", comparison::terminal(&report));
}

#[test]
fn the_json_formats_read_back_as_the_documents_they_were_written_from() {
    let (_, load): (_, LoadReport) = fixture("load-report.json");
    let again: LoadReport = serde_json::from_str(&rendered(&export::LOAD[0], &load)).unwrap();
    assert_eq!(again, load);
    let (_, run): (_, ScenarioReport) = fixture("run-report.json");
    let json = export::RUN
        .iter()
        .find(|e| e.name == "report.json")
        .unwrap();
    let again: ScenarioReport = serde_json::from_str(&rendered(json, &run)).unwrap();
    assert_eq!(again, run);
}
