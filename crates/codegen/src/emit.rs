//! A tiny indenting text writer, so generated code reads like hand-written code.

use std::fmt::Write as _;

/// Source text under construction: lines at the current indent (four spaces a level).
#[derive(Debug, Default)]
pub(crate) struct Code {
    buf: String,
    indent: usize,
}

impl Code {
    pub(crate) fn new() -> Code {
        Code::default()
    }

    /// A writer whose lines start `levels` deep (for fragments placed inside a block).
    pub(crate) fn at(levels: usize) -> Code {
        Code { buf: String::new(), indent: levels }
    }

    /// One line at the current indent (an empty string gives an empty line).
    pub(crate) fn line(&mut self, text: impl AsRef<str>) -> &mut Code {
        let text = text.as_ref();
        for l in text.split('\n') {
            if l.is_empty() {
                self.buf.push('\n');
            } else {
                let _ = writeln!(self.buf, "{:width$}{l}", "", width = self.indent * 4);
            }
        }
        self
    }

    /// An empty line, never two in a row and never right after an opening brace.
    pub(crate) fn blank(&mut self) -> &mut Code {
        if !self.buf.is_empty() && !self.buf.ends_with("\n\n") && !self.buf.ends_with("{\n") {
            self.buf.push('\n');
        }
        self
    }

    /// A line that opens a block; what follows is indented one more level.
    pub(crate) fn open(&mut self, text: impl AsRef<str>) -> &mut Code {
        self.line(text);
        self.indent += 1;
        self
    }

    /// Indent what follows one more level (after a block opened by [`Code::list`]).
    pub(crate) fn push_indent(&mut self) -> &mut Code {
        self.indent += 1;
        self
    }

    /// Indent what follows one level less (ends a [`Code::push_indent`]).
    pub(crate) fn pop_indent(&mut self) -> &mut Code {
        self.indent = self.indent.saturating_sub(1);
        self
    }

    /// Dedent, then a line that closes a block.
    pub(crate) fn close(&mut self, text: impl AsRef<str>) -> &mut Code {
        self.indent = self.indent.saturating_sub(1);
        // No blank line right before a closing brace.
        while self.buf.ends_with("\n\n") {
            self.buf.pop();
        }
        self.line(text)
    }

    /// `///` doc lines at the current indent.
    pub(crate) fn doc(&mut self, text: &str) -> &mut Code {
        for l in text.lines() {
            if l.is_empty() {
                self.line("///");
            } else {
                self.line(format!("/// {l}"));
            }
        }
        self
    }

    /// A block of `use` lines (each a full line like `use a::b;`), sorted as rustfmt sorts
    /// them, followed by a blank line. Nothing when `lines` is empty.
    pub(crate) fn uses(&mut self, mut lines: Vec<String>) -> &mut Code {
        if lines.is_empty() {
            return self;
        }
        lines.sort_by_key(|l| use_key(l));
        lines.dedup();
        for l in lines {
            self.line(l);
        }
        self.blank()
    }

    /// `use` lines in three sorted blocks: `std`, other crates, then `crate` / `super`.
    pub(crate) fn use_groups(&mut self, lines: Vec<String>) -> &mut Code {
        let class = |l: &String| {
            let path = l.trim_start_matches("pub ").trim_start_matches("use ");
            if path.starts_with("std::") {
                0
            } else if path.starts_with("crate::") || path.starts_with("super::") {
                2
            } else {
                1
            }
        };
        for k in 0..3 {
            self.uses(lines.iter().filter(|l| class(l) == k).cloned().collect());
        }
        self
    }

    /// The current indent in columns.
    pub(crate) fn indent_width(&self) -> usize {
        self.indent * 4
    }

    /// `head` followed by `items` joined with `, ` and then `tail`, on one line when it fits
    /// in 100 columns, else one item a line (rustfmt's vertical layout).
    pub(crate) fn list(&mut self, head: &str, items: &[String], tail: &str) -> &mut Code {
        let one = format!("{head}{}{tail}", items.join(", "));
        if self.indent_width() + one.len() <= 100 || items.is_empty() {
            return self.line(one);
        }
        self.open(head.trim_end());
        for item in items {
            self.line(format!("{item},"));
        }
        self.close(tail.trim_start())
    }

    /// The finished text: exactly one trailing newline.
    pub(crate) fn finish(mut self) -> String {
        while self.buf.ends_with("\n\n") {
            self.buf.pop();
        }
        if !self.buf.ends_with('\n') {
            self.buf.push('\n');
        }
        self.buf
    }
}

/// rustfmt's order for `use` paths: segment by segment, `self`/`super`/`crate` first,
/// then lower-case names, then upper-case ones, then globs and groups.
fn use_key(line: &str) -> Vec<(u8, String)> {
    let path = line.trim_start_matches("pub ").trim_start_matches("use ").trim_end_matches(';');
    path.split("::")
        .map(|seg| {
            let class = match seg.chars().next() {
                _ if matches!(seg, "self" | "super" | "crate") => 0,
                Some(c) if c.is_ascii_lowercase() || c == '_' => 1,
                Some(c) if c.is_ascii_uppercase() => 2,
                _ => 3,
            };
            (class, seg.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indents_blocks_and_collapses_blank_lines() {
        let mut c = Code::new();
        c.line("//! x").blank().blank();
        c.open("fn f() {").blank().line("a();").blank().close("}");
        assert_eq!(c.finish(), "//! x\n\nfn f() {\n    a();\n}\n");
    }

    #[test]
    fn uses_sort_like_rustfmt() {
        let mut c = Code::new();
        c.uses(vec![
            "use svrkit::Value;".into(),
            "use svrkit::server::Router;".into(),
            "use super::protos::Point;".into(),
            "use svrkit::client::{Client, ClientError};".into(),
        ]);
        assert_eq!(
            c.finish(),
            "use super::protos::Point;\nuse svrkit::client::{Client, ClientError};\n\
             use svrkit::server::Router;\nuse svrkit::Value;\n"
        );
    }
}
