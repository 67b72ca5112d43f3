//! Every file poolstorm writes from a finished document, one way, after hyperfine's
//! `src/export/`. An [`Export`] is a file, named by the flag that asks for it or by its name in
//! a results folder, and how a document renders into it. An [`ExportManager`] creates every
//! target when it is added, before any load is sent (so a bad path fails first), and rewrites
//! them all atomically (a temp file renamed over each) whenever the document changes: after
//! each cell of a scenario, at the end of a load. The interval log streams through the driver
//! instead (`hlog.rs`): it is written while the run goes, not from a document.
//!
//! The tables: [`LOAD`] for `poolstorm load` and `merge`, [`RUN`] for a scenario's results
//! folder (`run`, `advise`), [`ADVICE`] for `advise`'s own file.

pub mod cells_csv;
pub mod charts;
pub mod comparison;
pub mod csv;
pub mod hlog;
pub mod html;
pub mod junit;
pub mod markup;
pub mod svg;
pub mod text;

use std::io;
use std::path::{Path, PathBuf};

use crate::results::LoadReport;
use crate::results::advice::Advice;
use crate::results::scenario::ScenarioReport;

/// One kind of file: its name (a flag, `--json`, or a file name, `report.html`) and how a
/// document of type `D` renders into it.
#[derive(Debug)]
pub struct Export<D: 'static> {
    pub name: &'static str,
    pub render: fn(&D) -> io::Result<Vec<u8>>,
}

fn json<D: serde::Serialize>(doc: &D) -> io::Result<Vec<u8>> {
    let mut out = serde_json::to_vec_pretty(doc).map_err(io::Error::other)?;
    out.push(b'\n');
    Ok(out)
}

fn text(s: String) -> io::Result<Vec<u8>> {
    Ok(s.into_bytes())
}

/// `poolstorm load` and `poolstorm merge`: the files the flags ask for.
pub static LOAD: [Export<LoadReport>; 3] = [
    Export {
        name: "--json",
        render: json,
    },
    Export {
        name: "--csv",
        render: csv::render,
    },
    Export {
        name: "--html",
        render: |r| text(html::render_load(r)),
    },
];

/// A scenario's results folder beside `cells/`, in the order the terminal names them: the page
/// to open first.
pub static RUN: [Export<ScenarioReport>; 5] = [
    Export {
        name: "report.html",
        render: |r| text(html::render(r)),
    },
    Export {
        name: "report.md",
        render: |r| text(comparison::markdown(r)),
    },
    Export {
        name: "report.json",
        render: json,
    },
    Export {
        name: "report.csv",
        render: |r| text(cells_csv::render(r)),
    },
    Export {
        name: "junit.xml",
        render: |r| text(junit::render(r)),
    },
];

/// `poolstorm advise`'s findings, beside the results folder's files.
pub static ADVICE: Export<Advice> = Export {
    name: "advice.json",
    render: json,
};

/// A file that could not be created or written, named by its flag or file name.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{name}: cannot create {}: {source}", path.display())]
    Create {
        name: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("writing {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
}

/// The files of one document, created when added, rewritten together.
#[derive(Debug)]
pub struct ExportManager<D: 'static> {
    targets: Vec<(&'static Export<D>, PathBuf)>,
}

impl<D> Default for ExportManager<D> {
    fn default() -> Self {
        Self {
            targets: Vec::new(),
        }
    }
}

impl<D> ExportManager<D> {
    /// Adds `export` at `path` and creates (or truncates) the file now.
    pub fn add(&mut self, export: &'static Export<D>, path: PathBuf) -> Result<(), ExportError> {
        std::fs::File::create(&path).map_err(|source| ExportError::Create {
            name: export.name,
            path: path.clone(),
            source,
        })?;
        self.targets.push((export, path));
        Ok(())
    }

    /// Adds every one of `exports` in `dir`, under its name.
    pub fn add_all_in(
        &mut self,
        exports: &'static [Export<D>],
        dir: &Path,
    ) -> Result<(), ExportError> {
        for export in exports {
            self.add(export, dir.join(export.name))?;
        }
        Ok(())
    }

    /// Renders `doc` into every file, each written to a temp file beside it and renamed over
    /// it, so a reader never sees half a file.
    pub fn write(&self, doc: &D) -> Result<(), ExportError> {
        for (export, path) in &self.targets {
            let failed = |source| ExportError::Write {
                path: path.clone(),
                source,
            };
            let bytes = (export.render)(doc).map_err(failed)?;
            let name = path
                .file_name()
                .map_or_else(|| "export".into(), |n| n.to_string_lossy().into_owned());
            let tmp = path.with_file_name(format!(".{name}.tmp"));
            std::fs::write(&tmp, bytes)
                .and_then(|()| std::fs::rename(&tmp, path))
                .map_err(failed)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static DOUBLED: Export<u32> = Export {
        name: "--doubled",
        render: |n| Ok((n * 2).to_string().into_bytes()),
    };

    #[test]
    fn every_target_is_created_when_added_and_rewritten_whole_on_each_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n.txt");
        let mut files = ExportManager::default();
        files.add(&DOUBLED, path.clone()).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "",
            "created at once"
        );
        files.write(&21).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "42");
        files.write(&5).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "10");
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temp file is left behind");
    }

    #[test]
    fn a_target_that_cannot_be_created_is_named_by_its_flag() {
        let mut files = ExportManager::default();
        let err = files
            .add(&DOUBLED, PathBuf::from("/no/such/dir/n.txt"))
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("--doubled: cannot create /no/such/dir/n.txt:"),
            "{err}"
        );
    }
}
