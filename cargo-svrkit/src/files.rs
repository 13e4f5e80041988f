//! The write policy: generated files are always rewritten, user files only when absent.
//!
//! Re-running `gen` on an unchanged IDL writes nothing (every generated file compares equal)
//! and reports each file as unchanged or kept.

use anyhow::{Context, Result};
use std::path::Path;
use svrkit_codegen::{File, FileKind, Stub};

/// What happened to one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// It did not exist and was written.
    Created,
    /// A generated file whose contents changed.
    Updated,
    /// A generated file already up to date.
    Unchanged,
    /// A user file that exists and was left alone.
    Kept,
}

/// What `apply` did, file by file, in the order given.
#[derive(Debug, Default)]
pub(crate) struct Report {
    pub(crate) entries: Vec<(String, Outcome)>,
}

impl Report {
    /// Print one line per created / updated / kept file and a count of unchanged ones.
    pub(crate) fn print(&self, dir: &Path) {
        let mut unchanged = 0;
        for (path, outcome) in &self.entries {
            let shown =
                if dir == Path::new(".") { Path::new(path).to_path_buf() } else { dir.join(path) };
            match outcome {
                Outcome::Created => println!("     created {}", shown.display()),
                Outcome::Updated => println!("     updated {}", shown.display()),
                Outcome::Kept => println!("        kept {} (yours)", shown.display()),
                Outcome::Unchanged => unchanged += 1,
            }
        }
        if unchanged > 0 {
            println!("   unchanged {unchanged} generated file(s)");
        }
    }

    /// True when nothing was written.
    #[cfg(test)]
    pub(crate) fn wrote_nothing(&self) -> bool {
        self.entries.iter().all(|(_, o)| matches!(o, Outcome::Unchanged | Outcome::Kept))
    }
}

/// Write `files` under `dir` following the policy.
pub(crate) fn apply(dir: &Path, files: &[File]) -> Result<Report> {
    let mut report = Report::default();
    for file in files {
        let path = dir.join(&file.path);
        let existing = match std::fs::read(&path) {
            Ok(bytes) => Some(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let outcome = match (&existing, file.kind) {
            (None, _) => Outcome::Created,
            (Some(_), FileKind::User) => Outcome::Kept,
            (Some(old), FileKind::Generated) if old == file.contents.as_bytes() => {
                Outcome::Unchanged
            }
            (Some(_), FileKind::Generated) => Outcome::Updated,
            (Some(_), _) => Outcome::Kept,
        };
        if matches!(outcome, Outcome::Created | Outcome::Updated) {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            std::fs::write(&path, &file.contents)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        report.entries.push((file.path.clone(), outcome));
    }
    Ok(report)
}

/// For each handler the user's file does not define yet, print the exact code to add.
pub(crate) fn print_missing(dir: &Path, stubs: &[Stub]) {
    let mut printed_any = false;
    for stub in stubs {
        let path = dir.join(&stub.file);
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        if defines_fn(&text, &stub.name) {
            continue;
        }
        if !printed_any {
            println!();
            printed_any = true;
        }
        println!(
            "note: the IDL has `{}` but {} does not implement it yet; add inside `{}`:\n",
            stub.name, stub.file, stub.within
        );
        for line in stub.code.lines() {
            println!("    {line}");
        }
        println!();
    }
}

/// Whether `text` defines a function named `name` (`fn name(` or `fn name<`).
fn defines_fn(text: &str, name: &str) -> bool {
    let pattern = format!("fn {name}");
    text.match_indices(&pattern).any(|(i, _)| {
        let rest = &text[i + pattern.len()..];
        rest.trim_start().starts_with(['(', '<'])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, contents: &str, kind: FileKind) -> File {
        File { path: path.to_string(), contents: contents.to_string(), kind }
    }

    #[test]
    fn generated_rewritten_user_kept_and_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let v1 = [
            file("src/gen.rs", "//! Generated v1\n", FileKind::Generated),
            file("src/user.rs", "// user v1\n", FileKind::User),
        ];
        let r = apply(dir.path(), &v1).unwrap();
        assert_eq!(r.entries[0].1, Outcome::Created);
        assert_eq!(r.entries[1].1, Outcome::Created);

        std::fs::write(dir.path().join("src/user.rs"), "// edited by the user\n").unwrap();
        let v2 = [
            file("src/gen.rs", "//! Generated v2\n", FileKind::Generated),
            file("src/user.rs", "// user v2\n", FileKind::User),
        ];
        let r = apply(dir.path(), &v2).unwrap();
        assert_eq!(r.entries[0].1, Outcome::Updated);
        assert_eq!(r.entries[1].1, Outcome::Kept);
        let gen = std::fs::read_to_string(dir.path().join("src/gen.rs")).unwrap();
        assert_eq!(gen, "//! Generated v2\n");
        let user = std::fs::read_to_string(dir.path().join("src/user.rs")).unwrap();
        assert_eq!(user, "// edited by the user\n");

        let r = apply(dir.path(), &v2).unwrap();
        assert!(r.wrote_nothing(), "{r:?}");
    }

    #[test]
    fn finds_defined_functions() {
        let text = "impl X for H {\n    async fn echo1(&self) {}\n    fn echo2 <T>() {}\n}";
        assert!(defines_fn(text, "echo1"));
        assert!(defines_fn(text, "echo2"));
        assert!(!defines_fn(text, "echo"));
        assert!(!defines_fn(text, "echo3"));
    }
}
