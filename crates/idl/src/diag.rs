//! Located diagnostics: byte spans, line:column, and rustc-like terminal rendering.

use std::fmt;

/// A byte range `start..end` in the IDL source text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    pub(crate) fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }
}

/// What kind of mistake a [`Diagnostic`] reports (for tools; people read the message).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The text is not valid JSON (or a JSON feature the IDL does not accept).
    Syntax,
    /// An object has a key the IDL does not know (often a typo).
    UnknownKey,
    /// A required key is missing.
    MissingKey,
    /// A value has the wrong JSON type (say a string where a number belongs).
    WrongType,
    /// A value has the right JSON type but is not allowed (unknown worker type, port 0, a
    /// bad IP address...).
    InvalidValue,
    /// A type or proto name that is not defined, or a malformed `subtype`.
    UnknownType,
    /// Two things share a name that must be unique.
    Duplicate,
    /// A name that cannot become a Rust identifier.
    InvalidName,
    /// Protos that contain themselves without a list or dict in between.
    Recursion,
    /// A key that is valid elsewhere but does not apply here (`coroutine_sum` for thread
    /// workers, `groups` with `simple` dispatch, `req_proto` together with `args`...).
    NotApplicable,
}

/// One problem in an IDL file: where it is, what is wrong, and how to fix it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Diagnostic {
    /// What kind of mistake this is.
    pub kind: ErrorKind,
    /// The JSON path of the offending value, as `rpc_server.apis[2].req_proto`
    /// (`(top level)` for the document itself).
    pub path: String,
    /// The offending bytes in the source.
    pub span: Span,
    /// 1-based line of `span.start`.
    pub line: usize,
    /// 1-based column of `span.start`, counted in characters (a tab is one column).
    pub column: usize,
    /// What is wrong, in one line.
    pub message: String,
    /// How to fix it (a did-you-mean or the allowed values), if known.
    pub help: Option<String>,
}

impl fmt::Display for Diagnostic {
    /// One line: `rpc_server.apis[2].req_proto (line 38:19): unknown proto "echomsgg"; did you
    /// mean "echomsg"?`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (line {}:{}): {}", self.path, self.line, self.column, self.message)?;
        if let Some(help) = &self.help {
            write!(f, "; {help}")?;
        }
        Ok(())
    }
}

/// Every problem found in one IDL source, in source order, with the text needed to show
/// them. `Display` renders them for a terminal, like rustc:
///
/// ```text
/// echo.json:38:19: error: rpc_server.apis[2].req_proto: unknown proto "echomsgg"
///    |
/// 38 |             "req_proto": "echomsgg",
///    |                          ^^^^^^^^^^
///    = help: did you mean "echomsg"?
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostics {
    file: Option<String>,
    source: String,
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub(crate) fn new(source: &str, mut items: Vec<Diagnostic>) -> Diagnostics {
        let index = LineIndex::new(source);
        for d in &mut items {
            let (line, column) = index.locate(source, d.span.start);
            d.line = line;
            d.column = column;
        }
        items.sort_by_key(|d| d.span.start);
        Diagnostics { file: None, source: source.to_owned(), items }
    }

    pub(crate) fn with_file(mut self, file: String) -> Diagnostics {
        self.file = Some(file);
        self
    }

    /// The problems, in source order. Never empty.
    pub fn items(&self) -> &[Diagnostic] {
        &self.items
    }

    /// How many problems there are.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Always false: a `Diagnostics` exists only when something is wrong. (Here for clippy's
    /// `len_without_is_empty`.)
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The file name given to [`crate::parse_file`], if any.
    pub fn file(&self) -> Option<&str> {
        self.file.as_deref()
    }

    fn render_one(&self, f: &mut fmt::Formatter<'_>, d: &Diagnostic) -> fmt::Result {
        let file = self.file.as_deref().unwrap_or("<idl>");
        writeln!(f, "{file}:{}:{}: error: {}: {}", d.line, d.column, d.path, d.message)?;
        let line_start =
            self.source[..d.span.start.min(self.source.len())].rfind('\n').map_or(0, |i| i + 1);
        let line_end =
            self.source[line_start..].find('\n').map_or(self.source.len(), |i| line_start + i);
        let text = self.source[line_start..line_end].trim_end_matches('\r');
        let start = d.span.start.clamp(line_start, line_start + text.len());
        let end = d.span.end.clamp(start, line_start + text.len());
        let before = expand_tabs(&self.source[line_start..start]).chars().count();
        let under = expand_tabs(&self.source[start..end]).chars().count().max(1);
        let (shown, caret_at, carets) = window(&expand_tabs(text), before, under);
        let width = d.line.to_string().len();
        let pad = " ".repeat(width);
        writeln!(f, "{pad} |")?;
        writeln!(f, "{} | {}", d.line, shown.trim_end())?;
        writeln!(f, "{pad} | {}{}", " ".repeat(caret_at), "^".repeat(carets))?;
        if let Some(help) = &d.help {
            writeln!(f, "{pad} = help: {help}")?;
        }
        Ok(())
    }
}

/// Lines longer than this are shown as a window around the caret.
const MAX_SHOWN: usize = 160;
/// Characters shown before the caret when a long line is cut.
const CONTEXT: usize = 60;

/// The part of `line` to show, where the caret starts in it, and how many carets, for a
/// span at character `at` of `len` characters. Long lines (minified JSON) are cut to a window
/// around the span, marked with `...`.
fn window(line: &str, at: usize, len: usize) -> (String, usize, usize) {
    let chars: Vec<char> = line.chars().collect();
    if chars.len() <= MAX_SHOWN {
        return (line.to_owned(), at, len);
    }
    let from = if at > MAX_SHOWN - CONTEXT { at - CONTEXT } else { 0 };
    let to = (from + MAX_SHOWN).min(chars.len());
    let mut shown = String::new();
    if from > 0 {
        shown.push_str("...");
    }
    shown.extend(&chars[from..to]);
    if to < chars.len() {
        shown.push_str("...");
    }
    let caret_at = at - from + if from > 0 { 3 } else { 0 };
    let carets = len.min(to.saturating_sub(at)).max(1);
    (shown, caret_at, carets)
}

fn expand_tabs(s: &str) -> String {
    s.replace('\t', "    ")
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.items.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            self.render_one(f, d)?;
        }
        let n = self.items.len();
        let file = self.file.as_deref().unwrap_or("the IDL");
        write!(f, "\n{n} error{} in {file}", if n == 1 { "" } else { "s" })
    }
}

impl std::error::Error for Diagnostics {}

/// Byte offsets of line starts, to turn a byte offset into line:column.
struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(source: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(source.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { starts }
    }

    fn locate(&self, source: &str, offset: usize) -> (usize, usize) {
        let offset = offset.min(source.len());
        let line = self.starts.partition_point(|&s| s <= offset) - 1;
        let start = self.starts[line];
        let column = source.get(start..offset).map_or(offset - start, |s| s.chars().count());
        (line + 1, column + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_show_a_window_around_the_caret() {
        let line = format!("{}\"target\"{}", "a".repeat(300), "b".repeat(300));
        let (shown, at, n) = window(&line, 300, 8);
        assert_eq!(&shown[..3], "...");
        assert!(shown.ends_with("..."));
        assert_eq!(shown.chars().count(), MAX_SHOWN + 6);
        assert_eq!(shown.chars().skip(at).take(n).collect::<String>(), "\"target\"");
        assert_eq!(window("short", 1, 2), ("short".to_owned(), 1, 2));
        let (shown, at, _) = window(&line, 10, 1);
        assert!(!shown.starts_with("...") && at == 10);
    }

    #[test]
    fn line_and_column_count_characters() {
        let src = "{\n\t\"é\": x\n}";
        let idx = LineIndex::new(src);
        assert_eq!(idx.locate(src, 0), (1, 1));
        assert_eq!(idx.locate(src, 2), (2, 1));
        let x = src.find('x').unwrap();
        assert_eq!(idx.locate(src, x), (2, 7));
        assert_eq!(idx.locate(src, src.len()), (3, 2));
    }
}
