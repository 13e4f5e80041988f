//! Name rules: what an IDL name must look like to become a Rust identifier, case
//! conversions, and "did you mean" suggestions by edit distance.

/// Rust keywords (strict and reserved, 2015-2024 editions). A name that is one of these is
/// still usable as a raw identifier (`r#type`), except the ones in [`NOT_RAW`].
const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub",
    "ref", "return", "self", "Self", "static", "struct", "super", "trait", "true", "type",
    "unsafe", "use", "where", "while", "abstract", "become", "box", "do", "final", "gen", "macro",
    "override", "priv", "try", "typeof", "unsized", "virtual", "yield",
];

/// Keywords that cannot be raw identifiers.
const NOT_RAW: &[&str] = &["self", "Self", "super", "crate"];

/// Whether `s` is a Rust keyword (strict or reserved in any edition up to 2024).
pub(crate) fn is_keyword(s: &str) -> bool {
    KEYWORDS.contains(&s)
}

/// Why `s` cannot be a Rust identifier (raw identifiers allowed), or `None` if it can.
pub(crate) fn ident_problem(s: &str) -> Option<String> {
    let Some(first) = s.chars().next() else {
        return Some("a name cannot be empty".to_owned());
    };
    if let Some(bad) = s.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '_')) {
        return Some(if bad.is_ascii() {
            format!("{bad:?} is not allowed in a name (use ASCII letters, digits and '_')")
        } else {
            format!("non-ASCII character {bad:?} is not allowed in a name (use ASCII letters, digits and '_')")
        });
    }
    if first.is_ascii_digit() {
        return Some("a name cannot start with a digit".to_owned());
    }
    if s.bytes().all(|b| b == b'_') {
        return Some("a name needs at least one letter or digit".to_owned());
    }
    if NOT_RAW.contains(&s) {
        return Some(format!(
            "{s:?} is a Rust keyword that not even a raw identifier (r#{s}) can use"
        ));
    }
    None
}

/// A best-effort fix for a bad name: ASCII letters, digits and '_' only, not starting with a
/// digit, not a keyword.
pub(crate) fn fix_ident(s: &str) -> String {
    let mut out: String =
        s.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    if out.bytes().all(|b| b == b'_') {
        return "name".to_owned();
    }
    if NOT_RAW.contains(&out.as_str()) {
        out.push('_');
    }
    out
}

/// `fooBar`, `FooBar`, `HTTPServer`, `foo_bar` -> `foo_bar`, `foo_bar`, `http_server`, `foo_bar`.
pub(crate) fn snake_case(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev = i.checked_sub(1).map(|j| chars[j]);
            let next = chars.get(i + 1).copied();
            let boundary = match prev {
                Some(p) if p.is_ascii_lowercase() || p.is_ascii_digit() => true,
                Some(p) if p.is_ascii_uppercase() => next.is_some_and(|n| n.is_ascii_lowercase()),
                _ => false,
            };
            if boundary && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// `echomsg`, `echo_msg`, `echoMsg` -> `Echomsg`, `EchoMsg`, `EchoMsg`. Underscores are
/// dropped, the letter after each is upper-cased, the rest is kept.
pub(crate) fn upper_camel_case(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut upper = true;
    for c in s.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Optimal string alignment distance (Levenshtein plus adjacent transpositions).
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let w = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * w];
    for i in 0..=a.len() {
        d[i * w] = i;
    }
    for (j, cell) in d.iter_mut().enumerate().take(w) {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[(i - 1) * w + j] + 1)
                .min(d[i * w + j - 1] + 1)
                .min(d[(i - 1) * w + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[(i - 2) * w + j - 2] + 1);
            }
            d[i * w + j] = v;
        }
    }
    d[a.len() * w + b.len()]
}

/// The candidate closest to `input`, if it is close enough to be a plausible typo.
pub(crate) fn did_you_mean<'c>(
    input: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    // Long inputs (say a whole sentence pasted by mistake) are never typos of a name.
    if input.len() > 64 {
        return None;
    }
    let lower = input.to_ascii_lowercase();
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        if c == input {
            continue;
        }
        let limit = (input.chars().count().max(c.chars().count()) / 3).max(1);
        if input.len().abs_diff(c.len()) > limit {
            continue;
        }
        let dist = if c.eq_ignore_ascii_case(input) {
            0
        } else {
            edit_distance(&lower, &c.to_ascii_lowercase())
        };
        if dist <= limit && best.is_none_or(|(d, _)| dist < d) {
            best = Some((dist, c));
        }
    }
    best.map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("worker_summ", "worker_sum"), 1);
        assert_eq!(edit_distance("ab", "ba"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn suggestions() {
        assert_eq!(did_you_mean("echomsgg", ["echomsg", "other"]), Some("echomsg"));
        assert_eq!(did_you_mean("Int", ["int", "string"]), Some("int"));
        assert_eq!(did_you_mean("threads", ["thread", "process"]), Some("thread"));
        assert_eq!(did_you_mean("zzz", ["thread", "process"]), None);
        assert_eq!(did_you_mean("a", ["b"]), Some("b"));
    }

    #[test]
    fn identifiers() {
        assert_eq!(ident_problem("echo_msg"), None);
        assert_eq!(ident_problem("type"), None, "keywords become raw identifiers");
        assert!(ident_problem("self").is_some());
        assert!(ident_problem("Self").is_some());
        assert!(ident_problem("1abc").is_some());
        assert!(ident_problem("_").is_some());
        assert!(ident_problem("naïve").is_some());
        assert!(ident_problem("a-b").is_some());
        assert!(ident_problem("").is_some());
        assert_eq!(fix_ident("a-b"), "a_b");
        assert_eq!(fix_ident("1abc"), "_1abc");
        assert_eq!(fix_ident("self"), "self_");
    }

    #[test]
    fn cases() {
        assert_eq!(snake_case("fooBar"), "foo_bar");
        assert_eq!(snake_case("FooBar"), "foo_bar");
        assert_eq!(snake_case("HTTPServer"), "http_server");
        assert_eq!(snake_case("my_string"), "my_string");
        assert_eq!(snake_case("vec2D"), "vec2_d");
        assert_eq!(upper_camel_case("echomsg"), "Echomsg");
        assert_eq!(upper_camel_case("echo_msg"), "EchoMsg");
        assert_eq!(upper_camel_case("echoMsg"), "EchoMsg");
        assert_eq!(upper_camel_case("_x_1"), "X1");
    }
}
