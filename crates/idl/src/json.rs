//! A small strict JSON (RFC 8259) parser that keeps the byte span of every key and value,
//! reports the JSON path of syntax errors, and recovers from the common slips (trailing
//! commas, missing commas, comments, duplicate keys) so that later problems are reported too.

use crate::diag::{Diagnostic, ErrorKind, Span};

/// Deeper nesting than this is refused (no IDL needs it; it bounds recursion).
const MAX_DEPTH: usize = 64;

/// A JSON value and where it is.
#[derive(Debug)]
pub(crate) struct Value {
    pub(crate) kind: Kind,
    pub(crate) span: Span,
}

#[derive(Debug)]
pub(crate) enum Kind {
    Null,
    Bool(bool),
    /// The number's text, checked against the JSON grammar.
    Number(String),
    String(String),
    Array(Vec<Value>),
    Object(Vec<Member>),
}

/// `"key": value` in an object.
#[derive(Debug)]
pub(crate) struct Member {
    pub(crate) key: String,
    pub(crate) key_span: Span,
    pub(crate) value: Value,
}

impl Value {
    /// "a string", "an object"... for "expected X, found Y" messages.
    pub(crate) fn describe(&self) -> String {
        match &self.kind {
            Kind::Null => "null".to_owned(),
            Kind::Bool(b) => format!("the boolean {b}"),
            Kind::Number(n) => format!("the number {n}"),
            Kind::String(s) if s.chars().count() <= 40 => format!("the string {s:?}"),
            Kind::String(_) => "a string".to_owned(),
            Kind::Array(_) => "an array".to_owned(),
            Kind::Object(_) => "an object".to_owned(),
        }
    }
}

/// One step of a JSON path.
enum Seg {
    Key(String),
    Index(usize),
}

/// Renders a path: `rpc_server.apis[2].name`; keys that are not plain words are quoted.
pub(crate) fn push_key(path: &mut String, key: &str) {
    let plain = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key);
    } else {
        path.push_str(&format!("[{key:?}]"));
    }
}

/// Marker: a syntax error was recorded and parsing cannot go on.
struct Fatal;

struct Parser<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
    path: Vec<Seg>,
    diags: &'a mut Vec<Diagnostic>,
}

/// Parses `src` as one JSON document. Syntax errors are pushed to `diags`; `None` means the
/// document could not be parsed at all (a recoverable slip still gives `Some`).
pub(crate) fn parse(src: &str, diags: &mut Vec<Diagnostic>) -> Option<Value> {
    let mut p = Parser { src, bytes: src.as_bytes(), pos: 0, path: Vec::new(), diags };
    if p.src.starts_with('\u{feff}') {
        p.pos = 3;
    }
    let value = p.document().ok()?;
    Some(value)
}

impl Parser<'_> {
    fn path_string(&self) -> String {
        let mut out = String::new();
        for seg in &self.path {
            match seg {
                Seg::Key(k) => push_key(&mut out, k),
                Seg::Index(i) => out.push_str(&format!("[{i}]")),
            }
        }
        if out.is_empty() {
            out.push_str("(top level)");
        }
        out
    }

    fn error(&mut self, span: Span, message: impl Into<String>, help: Option<String>) {
        let path = self.path_string();
        self.diags.push(Diagnostic {
            kind: ErrorKind::Syntax,
            path,
            span,
            line: 0,
            column: 0,
            message: message.into(),
            help,
        });
    }

    fn fatal(&mut self, span: Span, message: impl Into<String>, help: Option<String>) -> Fatal {
        self.error(span, message, help);
        Fatal
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// The span of the character at `pos` (or an empty span at the end).
    /// What follows an array item or object member: a `,` (true: more to come; a trailing
    /// comma before `close` is reported and ends the container) or `close` (false). `None`
    /// leaves anything else, unconsumed, to the caller.
    fn separator(&mut self, close: u8) -> Option<bool> {
        match self.peek() {
            Some(b',') => {
                let comma = self.pos;
                self.pos += 1;
                self.skip_ws();
                if self.peek() != Some(close) {
                    return Some(true);
                }
                self.error(
                    Span::new(comma, comma + 1),
                    "trailing comma is not allowed in JSON",
                    Some("remove this comma".to_owned()),
                );
                self.pos += 1;
                Some(false)
            }
            Some(b) if b == close => {
                self.pos += 1;
                Some(false)
            }
            _ => None,
        }
    }

    fn char_span(&self) -> Span {
        let len = self.src[self.pos..].chars().next().map_or(0, char::len_utf8);
        Span::new(self.pos, self.pos + len)
    }

    fn found(&self) -> String {
        match self.src[self.pos..].chars().next() {
            None => "the end of the file".to_owned(),
            Some(c) => format!("{c:?}"),
        }
    }

    /// Skips whitespace; comments are reported and skipped.
    fn skip_ws(&mut self) {
        loop {
            match self.peek() {
                Some(b' ' | b'\t' | b'\n' | b'\r') => self.pos += 1,
                Some(b'/') if matches!(self.bytes.get(self.pos + 1), Some(b'/' | b'*')) => {
                    let start = self.pos;
                    let end = if self.bytes[self.pos + 1] == b'/' {
                        self.src[start..].find('\n').map_or(self.src.len(), |i| start + i)
                    } else {
                        self.src[start + 2..]
                            .find("*/")
                            .map_or(self.src.len(), |i| start + 2 + i + 2)
                    };
                    let first_line_end = self.src[start..end].find('\n').map_or(end, |i| start + i);
                    self.error(
                        Span::new(start, first_line_end),
                        "comments are not allowed in JSON",
                        Some("remove the comment".to_owned()),
                    );
                    self.pos = end;
                }
                _ => return,
            }
        }
    }

    fn document(&mut self) -> Result<Value, Fatal> {
        self.skip_ws();
        if self.pos == self.bytes.len() && self.diags.is_empty() {
            let span = Span::new(self.pos, self.pos);
            return Err(self.fatal(
                span,
                "the file is empty",
                Some(
                    "an IDL is a JSON object: {\"app\": \"echo\", \"rpc_server\": {...}}"
                        .to_owned(),
                ),
            ));
        }
        let value = self.value(0)?;
        self.skip_ws();
        if self.pos < self.bytes.len() {
            let span = Span::new(self.pos, self.src.len());
            let span = Span::new(span.start, self.char_span().end.max(span.start));
            return Err(self.fatal(
                span,
                format!("unexpected {} after the end of the JSON document", self.found()),
                Some("an IDL file holds exactly one JSON object".to_owned()),
            ));
        }
        Ok(value)
    }

    fn value(&mut self, depth: usize) -> Result<Value, Fatal> {
        if depth > MAX_DEPTH {
            let span = self.char_span();
            return Err(self.fatal(
                span,
                format!("nested more than {MAX_DEPTH} levels deep"),
                None,
            ));
        }
        let start = self.pos;
        match self.peek() {
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => {
                let s = self.string()?;
                Ok(Value { kind: Kind::String(s), span: Span::new(start, self.pos) })
            }
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b'\'') => {
                let span = self.char_span();
                Err(self.fatal(
                    span,
                    "JSON strings use double quotes, not single quotes",
                    Some("write \"...\" instead of '...'".to_owned()),
                ))
            }
            Some(c) if c.is_ascii_alphabetic() || c == b'+' || c == b'.' => {
                let len = self.bytes[start..]
                    .iter()
                    .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'.'))
                    .count();
                let word = &self.src[start..start + len];
                self.pos = start + len;
                let span = Span::new(start, self.pos);
                match word {
                    "true" => Ok(Value { kind: Kind::Bool(true), span }),
                    "false" => Ok(Value { kind: Kind::Bool(false), span }),
                    "null" => Ok(Value { kind: Kind::Null, span }),
                    _ => {
                        let help = match word {
                            "True" | "TRUE" => Some("JSON spells it true".to_owned()),
                            "False" | "FALSE" => Some("JSON spells it false".to_owned()),
                            "None" | "NULL" | "Null" | "nil" | "undefined" => {
                                Some("JSON spells it null".to_owned())
                            }
                            w if w.starts_with(['+', '.']) => {
                                Some("a JSON number starts with a digit or '-'".to_owned())
                            }
                            _ => Some("strings need double quotes: \"...\"".to_owned()),
                        };
                        Err(self.fatal(span, format!("expected a value, found `{word}`"), help))
                    }
                }
            }
            _ => {
                let span = self.char_span();
                let found = self.found();
                Err(self.fatal(span, format!("expected a value, found {found}"), None))
            }
        }
    }

    fn number(&mut self) -> Result<Value, Fatal> {
        let start = self.pos;
        let b = self.bytes;
        let mut i = start;
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        let int_start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let mut problem = None;
        if i == int_start {
            problem = Some("a digit must follow '-'");
        } else if b[int_start] == b'0' && i - int_start > 1 {
            problem = Some("JSON numbers cannot have leading zeros");
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            let frac = i;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            if i == frac {
                problem = problem.or(Some("a digit must follow the decimal point"));
            }
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            let exp = i;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            if i == exp {
                problem = problem.or(Some("a digit must follow the exponent"));
            }
        }
        // Swallow letters glued to the number ("3000s") so the message shows all of it.
        while b.get(i).is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'.') {
            problem = problem.or(Some("this is not a JSON number"));
            i += 1;
        }
        self.pos = i;
        let span = Span::new(start, i);
        let text = &self.src[start..i];
        if let Some(problem) = problem {
            return Err(self.fatal(span, format!("invalid number `{text}`: {problem}"), None));
        }
        Ok(Value { kind: Kind::Number(text.to_owned()), span })
    }

    /// Parses a string at `pos` (which is a '"'), returning its decoded text.
    fn string(&mut self) -> Result<String, Fatal> {
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            let run = self.bytes[self.pos..]
                .iter()
                .take_while(|&&c| c != b'"' && c != b'\\' && c >= 0x20)
                .count();
            out.push_str(&self.src[self.pos..self.pos + run]);
            self.pos += run;
            match self.peek() {
                None => {
                    return Err(self.fatal(
                        Span::new(start, start + 1),
                        "this string is never closed",
                        Some("add the closing '\"'".to_owned()),
                    ))
                }
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => self.escape(&mut out)?,
                Some(c) => {
                    let span = self.char_span();
                    let (msg, help) = if c == b'\n' {
                        (
                            "this string is never closed on its line",
                            "add the closing '\"'; a newline inside a string is written \\n",
                        )
                    } else {
                        (
                            "control characters must be escaped in JSON strings",
                            "write \\t, \\n or \\u00XX",
                        )
                    };
                    let span = if c == b'\n' { Span::new(start, start + 1) } else { span };
                    return Err(self.fatal(span, msg, Some(help.to_owned())));
                }
            }
        }
    }

    fn escape(&mut self, out: &mut String) -> Result<(), Fatal> {
        let start = self.pos;
        self.pos += 1;
        let Some(c) = self.peek() else {
            return Err(self.fatal(
                Span::new(start, start + 1),
                "unfinished escape at the end of the file",
                None,
            ));
        };
        self.pos += 1;
        let ch = match c {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let hi = self.hex4(start)?;
                if (0xD800..0xDC00).contains(&hi) {
                    let lo_start = self.pos;
                    if self.bytes.get(self.pos..self.pos + 2) != Some(b"\\u") {
                        return Err(self.fatal(
                            Span::new(start, self.pos),
                            "unpaired UTF-16 surrogate in \\u escape",
                            None,
                        ));
                    }
                    self.pos += 2;
                    let lo = self.hex4(lo_start)?;
                    if !(0xDC00..0xE000).contains(&lo) {
                        return Err(self.fatal(
                            Span::new(start, self.pos),
                            "unpaired UTF-16 surrogate in \\u escape",
                            None,
                        ));
                    }
                    let code = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                    char::from_u32(code).unwrap_or('\u{fffd}')
                } else if (0xDC00..0xE000).contains(&hi) {
                    return Err(self.fatal(
                        Span::new(start, self.pos),
                        "unpaired UTF-16 surrogate in \\u escape",
                        None,
                    ));
                } else {
                    char::from_u32(hi).unwrap_or('\u{fffd}')
                }
            }
            _ => {
                self.pos = start;
                let len = 1 + self.src[start + 1..].chars().next().map_or(0, char::len_utf8);
                return Err(self.fatal(
                    Span::new(start, start + len),
                    format!("invalid escape `{}`", &self.src[start..start + len]),
                    Some("JSON escapes are \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX".to_owned()),
                ));
            }
        };
        out.push(ch);
        Ok(())
    }

    fn hex4(&mut self, escape_start: usize) -> Result<u32, Fatal> {
        let digits =
            self.bytes.get(self.pos..self.pos + 4).filter(|d| d.iter().all(u8::is_ascii_hexdigit));
        match digits {
            Some(d) => {
                let text = std::str::from_utf8(d).unwrap_or("0");
                self.pos += 4;
                Ok(u32::from_str_radix(text, 16).unwrap_or(0))
            }
            None => Err(self.fatal(
                Span::new(escape_start, self.pos),
                "\\u must be followed by four hex digits",
                None,
            )),
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, Fatal> {
        let start = self.pos;
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Value { kind: Kind::Array(items), span: Span::new(start, self.pos) });
        }
        loop {
            self.path.push(Seg::Index(items.len()));
            let item = self.value(depth + 1);
            self.path.pop();
            items.push(item?);
            self.skip_ws();
            match self.separator(b']') {
                Some(true) => continue,
                Some(false) => break,
                None => {}
            }
            match self.peek() {
                Some(b'{' | b'[' | b'"') => {
                    // A missing comma between items: report it and carry on.
                    let span = self.char_span();
                    self.path.push(Seg::Index(items.len()));
                    self.error(
                        span,
                        "missing ',' before this array item",
                        Some("add a comma".to_owned()),
                    );
                    self.path.pop();
                }
                _ => {
                    let span = self.char_span();
                    let found = self.found();
                    return Err(self.fatal(
                        span,
                        format!("expected ',' or ']' in array, found {found}"),
                        None,
                    ));
                }
            }
        }
        Ok(Value { kind: Kind::Array(items), span: Span::new(start, self.pos) })
    }

    fn object(&mut self, depth: usize) -> Result<Value, Fatal> {
        let start = self.pos;
        self.pos += 1;
        let mut members: Vec<Member> = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Value { kind: Kind::Object(members), span: Span::new(start, self.pos) });
        }
        loop {
            let key_start = self.pos;
            let key = match self.peek() {
                Some(b'"') => self.string()?,
                _ => {
                    let span = self.char_span();
                    let found = self.found();
                    let help = if self.peek().is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
                    {
                        Some("object keys need double quotes: \"key\"".to_owned())
                    } else if self.peek() == Some(b'\'') {
                        Some("JSON strings use double quotes, not single quotes".to_owned())
                    } else {
                        None
                    };
                    return Err(self.fatal(
                        span,
                        format!("expected a key in double quotes, found {found}"),
                        help,
                    ));
                }
            };
            let key_span = Span::new(key_start, self.pos);
            self.skip_ws();
            if self.peek() != Some(b':') {
                let span = self.char_span();
                let found = self.found();
                self.path.push(Seg::Key(key));
                let e =
                    self.fatal(span, format!("expected ':' after the key, found {found}"), None);
                self.path.pop();
                return Err(e);
            }
            self.pos += 1;
            self.skip_ws();
            self.path.push(Seg::Key(key));
            let value = self.value(depth + 1);
            let Some(Seg::Key(key)) = self.path.pop() else { unreachable!("pushed a key") };
            let value = value?;
            if let Some(first) = members.iter().find(|m| m.key == key) {
                let first_line = 1 + self.src[..first.key_span.start].matches('\n').count();
                self.path.push(Seg::Key(key.clone()));
                self.diags.push(Diagnostic {
                    kind: ErrorKind::Duplicate,
                    path: self.path_string(),
                    span: key_span,
                    line: 0,
                    column: 0,
                    message: format!("duplicate key \"{key}\" (first given on line {first_line})"),
                    help: Some("remove one of them".to_owned()),
                });
                self.path.pop();
            } else {
                members.push(Member { key, key_span, value });
            }
            self.skip_ws();
            match self.separator(b'}') {
                Some(true) => continue,
                Some(false) => break,
                None => {}
            }
            match self.peek() {
                Some(b'"') => {
                    let span = self.char_span();
                    let prev = members.last().map_or_else(String::new, |m| m.key.clone());
                    self.path.push(Seg::Key(prev));
                    self.error(
                        span,
                        "missing ',' before this key",
                        Some("add a comma after the previous value".to_owned()),
                    );
                    self.path.pop();
                }
                _ => {
                    let span = self.char_span();
                    let found = self.found();
                    return Err(self.fatal(
                        span,
                        format!("expected ',' or '}}' after an object member, found {found}"),
                        None,
                    ));
                }
            }
        }
        Ok(Value { kind: Kind::Object(members), span: Span::new(start, self.pos) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(src: &str) -> Value {
        let mut d = Vec::new();
        let v = parse(src, &mut d).expect("parses");
        assert!(d.is_empty(), "{d:?}");
        v
    }

    fn errors(src: &str) -> Vec<String> {
        let mut d = Vec::new();
        parse(src, &mut d);
        d.into_iter().map(|d| format!("{}: {}", d.path, d.message)).collect()
    }

    #[test]
    fn values_and_spans() {
        let src = " {\"a\": [1, -2.5e3, true, null, \"x\\u00e9\\ud83d\\ude00\"]} ";
        let v = ok(src);
        assert_eq!(v.span, Span::new(1, src.len() - 1));
        let Kind::Object(m) = &v.kind else { panic!() };
        assert_eq!(m[0].key, "a");
        assert_eq!(m[0].key_span, Span::new(2, 5));
        let Kind::Array(items) = &m[0].value.kind else { panic!() };
        assert!(matches!(&items[1].kind, Kind::Number(n) if n == "-2.5e3"));
        assert!(matches!(&items[4].kind, Kind::String(s) if s == "xé😀"));
        assert_eq!(items[4].span, Span::new(src.find("\"x").unwrap(), src.len() - 3));
    }

    #[test]
    fn syntax_errors_carry_paths() {
        assert_eq!(
            errors("{\"a\": {\"b\": [1, 2,]}}"),
            ["a.b: trailing comma is not allowed in JSON"]
        );
        assert_eq!(errors("{\"a\": 1 \"b\": 2}"), ["a: missing ',' before this key"]);
        assert_eq!(
            errors("{\"a\": 01}"),
            ["a: invalid number `01`: JSON numbers cannot have leading zeros"]
        );
        assert_eq!(errors("{\"a\": True}"), ["a: expected a value, found `True`"]);
        assert_eq!(
            errors("{\"a\": 1, \"a\": 2}"),
            ["a: duplicate key \"a\" (first given on line 1)"]
        );
        assert_eq!(
            errors("{} x"),
            ["(top level): unexpected 'x' after the end of the JSON document"]
        );
        assert_eq!(errors("{\"a\": \"\\ud800\"}"), ["a: unpaired UTF-16 surrogate in \\u escape"]);
        assert_eq!(errors("{\"a\": [\"\\q\"]}"), ["a[0]: invalid escape `\\q`"]);
        assert_eq!(errors("// c\n{}"), ["(top level): comments are not allowed in JSON"]);
        assert_eq!(errors(""), ["(top level): the file is empty"]);
        assert_eq!(errors("["), ["[0]: expected a value, found the end of the file"]);
        assert_eq!(errors("{\"a\": \"x"), ["a: this string is never closed"]);
    }

    #[test]
    fn depth_is_bounded() {
        let deep = "[".repeat(10_000);
        assert_eq!(errors(&deep), ["[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]: nested more than 64 levels deep"]);
    }
}
