//! Rust spellings of IDL names: type names, identifiers, keyword escaping, literals.

/// Words that cannot be plain identifiers (2021 edition, strict and reserved).
const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub",
    "ref", "return", "self", "Self", "static", "struct", "super", "trait", "true", "type",
    "unsafe", "use", "where", "while", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "try", "typeof", "unsized", "virtual", "yield", "gen",
];

/// `echo_msg` / `echomsg` / `EchoMsg` -> `EchoMsg` / `Echomsg` / `EchoMsg`.
pub(crate) fn camel(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = true;
    for c in name.chars() {
        if c == '_' || c == '-' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// An identifier as written in Rust code: `r#type` for keywords (except those that cannot
/// be raw, which get a trailing underscore).
pub(crate) fn ident(name: &str) -> String {
    match name {
        "self" | "Self" | "super" | "crate" => format!("{name}_"),
        _ if KEYWORDS.contains(&name) => format!("r#{name}"),
        _ => name.to_string(),
    }
}

/// A Rust string literal for `s`.
pub(crate) fn lit(s: &str) -> String {
    format!("{s:?}")
}

/// `pysvrkit-echo` -> `pysvrkit_echo` (the crate name Rust code uses).
pub(crate) fn crate_ident(package: &str) -> String {
    package.replace('-', "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings() {
        assert_eq!(camel("echomsg"), "Echomsg");
        assert_eq!(camel("echo_msg"), "EchoMsg");
        assert_eq!(camel("pysvrkit-echo"), "PysvrkitEcho");
        assert_eq!(ident("type"), "r#type");
        assert_eq!(ident("self"), "self_");
        assert_eq!(ident("value"), "value");
        assert_eq!(lit("a\"b"), "\"a\\\"b\"");
        assert_eq!(crate_ident("pysvrkit-echo"), "pysvrkit_echo");
    }
}
