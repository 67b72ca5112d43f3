//! The docs say what the code does: the load-settings tables in README.md and
//! scenarios/README.md, the target-app settings table, and `poolstorm load --help` all come
//! from the same tables in the code. `POOLSTORM_UPDATE_DOCS=1 cargo test --test it docs`
//! rewrites the marked sections after a change to a table.

use std::path::{Path, PathBuf};

use harness::engine::load::SETTINGS;

use crate::support::binary;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// The text between `<!-- NAME:begin ... -->` and `<!-- NAME:end -->` in `file` must be
/// `expected`; with POOLSTORM_UPDATE_DOCS set it is rewritten instead.
fn section_is(file: &str, name: &str, expected: &str) {
    let path = repo().join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let begin = text
        .find(&format!("<!-- {name}:begin"))
        .unwrap_or_else(|| panic!("{file} has no `<!-- {name}:begin` marker"));
    let body = begin + text[begin..].find("-->\n").unwrap() + 4;
    let end = text
        .find(&format!("<!-- {name}:end -->"))
        .unwrap_or_else(|| panic!("{file} has no `<!-- {name}:end -->` marker"));
    if std::env::var_os("POOLSTORM_UPDATE_DOCS").is_some() {
        let updated = format!("{}{expected}{}", &text[..body], &text[end..]);
        std::fs::write(&path, updated).unwrap();
        return;
    }
    assert_eq!(
        &text[body..end],
        expected,
        "{file}'s `{name}` table differs from the code's; run \
         `POOLSTORM_UPDATE_DOCS=1 cargo test --test it docs` to rewrite it"
    );
}

#[test]
fn both_readmes_show_the_load_settings_table_of_the_code() {
    let table = harness::engine::load::settings::markdown_table();
    section_is("README.md", "load-settings", &table);
    section_is("scenarios/README.md", "load-settings", &table);
}

#[test]
fn the_scenarios_readme_shows_target_apps_settings_of_the_code() {
    section_is(
        "scenarios/README.md",
        "app-settings",
        &harness::run::scenario::params::app_markdown_table(),
    );
}

#[test]
fn load_help_lists_every_setting_with_its_help_and_default() {
    let out = std::process::Command::new(binary())
        .args(["load", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let words = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
    let help = words(&String::from_utf8_lossy(&out.stdout));
    for s in SETTINGS {
        if s.kind == harness::base::param::Kind::Bool {
            // A switch: no value, no default shown.
            let usage = format!("{} {}", s.flag, words(s.help));
            assert!(help.contains(&usage), "--help lacks `{usage}`:\n{help}");
            continue;
        }
        let usage = format!("{} <{}>", s.flag, s.value_name);
        assert!(help.contains(&usage), "--help lacks `{usage}`:\n{help}");
        let described = match s.default {
            Some(default) => format!("{} [default: {default}]", words(s.help)),
            None => format!("{} [default: {}]", words(s.help), s.unset),
        };
        assert!(
            help.contains(&described),
            "--help lacks `{described}`:\n{help}"
        );
    }
}
