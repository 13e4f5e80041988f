//! INI configuration: shared parsing helpers plus the server and client config files.
//!
//! Both config files use the seed's INI formats (`echo_svr.conf`, `echo_cli.conf`) read with
//! rust-ini. This module holds what both share: [`IniFile`] (a loaded file that remembers its
//! name), [`Section`] (typed getters that turn every problem into a [`ConfigError`] naming
//! file, section and key), unknown-key detection with a did-you-mean hint, and value parsers
//! for durations and address lists. The parsed configs themselves are plain structs of
//! validated values (enums, [`Duration`]s, socket addresses), never bags of strings.
//!
//! ```
//! use svrkit::config::IniFile;
//! use std::time::Duration;
//!
//! let ini = IniFile::from_str("demo.conf", "[rpc_server]\nport = 3000\nidle_timeout = 30s\n")?;
//! let s = ini.section("rpc_server")?;
//! s.check_keys(&["port", "idle_timeout"])?;
//! assert_eq!(s.get::<u16>("port")?, 3000);
//! assert_eq!(s.opt_duration("idle_timeout")?, Some(Duration::from_secs(30)));
//!
//! let err = s.get::<u8>("port").unwrap_err();
//! assert!(err.to_string().starts_with("demo.conf: [rpc_server] port: "));
//! # Ok::<(), svrkit::config::ConfigError>(())
//! ```

mod client;
mod server;

pub use client::{
    ClientConfig, DiscoveryConfig, RingNode, Routing, ShardRange, ShardingConfig,
    DEFAULT_PROBE_INTERVAL, DEFAULT_RETRIES, DEFAULT_TIMEOUT, DEFAULT_WEIGHT,
};
pub use server::{
    parse_size, DispatchType, GroupConfig, RegistryConfig, RpcServerConfig, SelfServerConfig,
    ServerConfig, WorkerType, DEFAULT_COROUTINE_SUM, DEFAULT_DRAIN_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_FRAME,
};

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

/// Why a config file could not be used. Every variant names the file; those about one value
/// also name its section and key.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    Io {
        /// File name as given.
        file: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The INI syntax is broken.
    Syntax {
        /// File name as given.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        col: usize,
        /// What the parser said.
        message: String,
    },
    /// A required section is absent.
    MissingSection {
        /// File name as given.
        file: String,
        /// The section that was expected.
        section: String,
    },
    /// A required key is absent.
    MissingKey {
        /// File name as given.
        file: String,
        /// Section searched.
        section: String,
        /// The key that was expected.
        key: String,
    },
    /// A value is present but unusable.
    Invalid {
        /// File name as given.
        file: String,
        /// Section of the value.
        section: String,
        /// Key of the value.
        key: String,
        /// The raw value.
        value: String,
        /// What was wrong / expected.
        reason: String,
    },
    /// A key that no one reads (likely a typo).
    UnknownKey {
        /// File name as given.
        file: String,
        /// Section of the key.
        section: String,
        /// The unknown key.
        key: String,
        /// The closest known key, if one is close.
        suggestion: Option<String>,
    },
    /// A section that no one reads (likely a typo).
    UnknownSection {
        /// File name as given.
        file: String,
        /// The unknown section.
        section: String,
        /// The closest known section, if one is close.
        suggestion: Option<String>,
    },
}

impl ConfigError {
    /// The file the error is about.
    pub fn file(&self) -> &str {
        match self {
            ConfigError::Io { file, .. }
            | ConfigError::Syntax { file, .. }
            | ConfigError::MissingSection { file, .. }
            | ConfigError::MissingKey { file, .. }
            | ConfigError::Invalid { file, .. }
            | ConfigError::UnknownKey { file, .. }
            | ConfigError::UnknownSection { file, .. } => file,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Io { file, source } => write!(f, "{file}: cannot read: {source}"),
            ConfigError::Syntax { file, line, col, message } => {
                write!(f, "{file}:{line}:{col}: INI syntax error: {message}")
            }
            ConfigError::MissingSection { file, section } => {
                write!(f, "{file}: missing section [{section}]")
            }
            ConfigError::MissingKey { file, section, key } => {
                write!(f, "{file}: [{section}] {key}: missing required key")
            }
            ConfigError::Invalid { file, section, key, value, reason } => {
                write!(f, "{file}: [{section}] {key}: invalid value {value:?}: {reason}")
            }
            ConfigError::UnknownKey { file, section, key, suggestion } => {
                write!(f, "{file}: [{section}] {key}: unknown key")?;
                if let Some(s) = suggestion {
                    write!(f, "; did you mean {s:?}?")?;
                }
                Ok(())
            }
            ConfigError::UnknownSection { file, section, suggestion } => {
                write!(f, "{file}: [{section}]: unknown section")?;
                if let Some(s) = suggestion {
                    write!(f, "; did you mean [{s}]?")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// A parsed INI file that remembers its name for error messages.
///
/// Values are taken literally (no backslash escapes, so paths survive); quotes around a
/// value are stripped. Keys and section names are case-sensitive, as in the seeds.
#[derive(Debug)]
pub struct IniFile {
    file: String,
    ini: ini::Ini,
}

impl IniFile {
    /// Read and parse a file.
    pub fn load(path: impl AsRef<Path>) -> Result<IniFile, ConfigError> {
        let path = path.as_ref();
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Io { file: file.clone(), source })?;
        IniFile::from_str(file, &text)
    }

    /// Parse text; `file` is the name errors will carry.
    #[allow(clippy::should_implement_trait)]
    pub fn from_str(file: impl Into<String>, text: &str) -> Result<IniFile, ConfigError> {
        let file = file.into();
        let opt =
            ini::ParseOption { enabled_quote: true, enabled_escape: false, ..Default::default() };
        match ini::Ini::load_from_str_opt(text, opt) {
            Ok(ini) => Ok(IniFile { file, ini }),
            Err(e) => Err(ConfigError::Syntax {
                file,
                line: e.line,
                col: e.col,
                message: e.msg.into_owned(),
            }),
        }
    }

    /// The file name errors carry.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// A required section.
    pub fn section(&self, name: &str) -> Result<Section<'_>, ConfigError> {
        self.opt_section(name).ok_or_else(|| ConfigError::MissingSection {
            file: self.file.clone(),
            section: name.to_string(),
        })
    }

    /// An optional section.
    pub fn opt_section(&self, name: &str) -> Option<Section<'_>> {
        let name = self.ini.sections().flatten().find(|s| *s == name)?;
        self.ini.section(Some(name)).map(|props| Section { file: &self.file, name, props })
    }

    /// Names of all named sections, in file order.
    pub fn section_names(&self) -> impl Iterator<Item = &str> + '_ {
        self.ini.sections().flatten()
    }

    /// Fail on a section that is not in `known` and does not start with one of
    /// `numbered_prefixes` followed by digits only (`self_group0`, `server12`...).
    /// Keys outside any section are reported too.
    pub fn check_sections(
        &self,
        known: &[&str],
        numbered_prefixes: &[&str],
    ) -> Result<(), ConfigError> {
        if let Some(key) = self.ini.general_section().iter().next().map(|(k, _)| k) {
            return Err(ConfigError::UnknownKey {
                file: self.file.clone(),
                section: String::new(),
                key: key.to_string(),
                suggestion: Some("a key inside a [section]".to_string()),
            });
        }
        for name in self.section_names() {
            let numbered = numbered_prefixes.iter().any(|p| {
                name.strip_prefix(p)
                    .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            });
            if numbered || known.contains(&name) {
                continue;
            }
            let candidates: Vec<String> = known
                .iter()
                .map(|k| k.to_string())
                .chain(numbered_prefixes.iter().map(|p| format!("{p}0")))
                .collect();
            return Err(ConfigError::UnknownSection {
                file: self.file.clone(),
                section: name.to_string(),
                suggestion: did_you_mean(name, candidates.iter().map(String::as_str)),
            });
        }
        Ok(())
    }
}

/// One section of an [`IniFile`], with typed getters whose errors name file, section, key.
#[derive(Clone, Copy, Debug)]
pub struct Section<'a> {
    file: &'a str,
    name: &'a str,
    props: &'a ini::Properties,
}

impl<'a> Section<'a> {
    /// The section name.
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// A raw value, trimmed; `None` when the key is absent.
    pub fn opt_str(&self, key: &str) -> Option<&'a str> {
        self.props.get(key).map(str::trim)
    }

    /// A required raw value.
    pub fn str(&self, key: &str) -> Result<&'a str, ConfigError> {
        self.opt_str(key).ok_or_else(|| ConfigError::MissingKey {
            file: self.file.to_string(),
            section: self.name.to_string(),
            key: key.to_string(),
        })
    }

    /// A required value parsed with [`FromStr`].
    pub fn get<T>(&self, key: &str) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        let raw = self.str(key)?;
        raw.parse::<T>().map_err(|e| self.invalid(key, raw, e))
    }

    /// An optional value parsed with [`FromStr`].
    pub fn opt<T>(&self, key: &str) -> Result<Option<T>, ConfigError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        self.opt_with(key, |raw| raw.parse::<T>().map_err(|e| e.to_string()))
    }

    /// An optional value parsed by `parse`, whose `Err` says what was expected.
    pub fn opt_with<T>(
        &self,
        key: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        match self.opt_str(key) {
            None => Ok(None),
            Some(raw) => parse(raw).map(Some).map_err(|e| self.invalid(key, raw, e)),
        }
    }

    /// A required value parsed by `parse`.
    pub fn get_with<T>(
        &self,
        key: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        let raw = self.str(key)?;
        parse(raw).map_err(|e| self.invalid(key, raw, e))
    }

    /// An optional duration (`"30s"`, `"500ms"`, `"2m"`, `"1.5"` = seconds); see
    /// [`parse_duration`].
    pub fn opt_duration(&self, key: &str) -> Result<Option<Duration>, ConfigError> {
        self.opt_with(key, parse_duration)
    }

    /// An optional comma-separated list (empty items dropped).
    pub fn opt_list(&self, key: &str) -> Option<Vec<&'a str>> {
        self.opt_str(key).map(split_list)
    }

    /// Fail on the first key not in `known`, suggesting the closest known key.
    pub fn check_keys(&self, known: &[&str]) -> Result<(), ConfigError> {
        for (key, _) in self.props.iter() {
            if !known.contains(&key) {
                return Err(ConfigError::UnknownKey {
                    file: self.file.to_string(),
                    section: self.name.to_string(),
                    key: key.to_string(),
                    suggestion: did_you_mean(key, known.iter().copied()),
                });
            }
        }
        Ok(())
    }

    /// Build an [`ConfigError::Invalid`] for `key` of this section (for checks that span
    /// several values, e.g. `min <= max`).
    pub fn invalid(&self, key: &str, value: &str, reason: impl fmt::Display) -> ConfigError {
        ConfigError::Invalid {
            file: self.file.to_string(),
            section: self.name.to_string(),
            key: key.to_string(),
            value: value.to_string(),
            reason: reason.to_string(),
        }
    }

    /// Build an [`ConfigError::MissingKey`] for `key` of this section.
    pub fn missing(&self, key: &str) -> ConfigError {
        ConfigError::MissingKey {
            file: self.file.to_string(),
            section: self.name.to_string(),
            key: key.to_string(),
        }
    }
}

/// Split a comma-separated list, trimming items and dropping empty ones.
pub fn split_list(raw: &str) -> Vec<&str> {
    raw.split(',').map(str::trim).filter(|s| !s.is_empty()).collect()
}

/// Parse a duration: a number with an optional unit `ms`, `s`, `m` or `h`; no unit means
/// seconds. Fractions are allowed (`"1.5s"`, `"0.25"`).
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(raw.len());
    let (num, unit) = raw.split_at(split);
    let scale = match unit.trim() {
        "" | "s" | "sec" | "secs" => 1.0,
        "ms" => 0.001,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        other => {
            return Err(format!(
                "unknown duration unit {other:?}; expected a number with ms, s, m or h (e.g. \"30s\", \"500ms\")"
            ))
        }
    };
    let n: f64 = num
        .parse()
        .map_err(|_| "expected a duration like \"30s\", \"500ms\" or plain seconds".to_string())?;
    let secs = n * scale;
    if !secs.is_finite() || secs > 1e9 {
        return Err("duration out of range".to_string());
    }
    Ok(Duration::from_secs_f64(secs))
}

/// The candidate closest to `word` by edit distance, when close enough to be a likely typo.
pub(crate) fn did_you_mean<'c>(
    word: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<String> {
    let max = (word.len() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, _)| *d <= max)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.to_string())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5 s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("5 fortnights").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn unknown_key_suggests() {
        let ini = IniFile::from_str("x.conf", "[a]\nworker_summ = 1\n").unwrap();
        let err = ini.section("a").unwrap().check_keys(&["worker_sum", "port"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "x.conf: [a] worker_summ: unknown key; did you mean \"worker_sum\"?"
        );
    }

    #[test]
    fn unknown_section_and_numbered() {
        let ini = IniFile::from_str("x.conf", "[app]\n[self_group3]\n[rpc_sever]\n").unwrap();
        let err = ini.check_sections(&["app", "rpc_server"], &["self_group"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "x.conf: [rpc_sever]: unknown section; did you mean [rpc_server]?"
        );
    }

    #[test]
    fn syntax_error_has_position() {
        let err = IniFile::from_str("x.conf", "[app]\nname=1\n[broken\n").unwrap_err();
        assert!(matches!(err, ConfigError::Syntax { line: 4, .. }), "{err}");
        assert!(err.to_string().starts_with("x.conf:4:"), "{err}");
    }
}
