//! Where ZooKeeper is and how to talk to it: a validated connect string, root path and timeouts.

use std::time::Duration;

use crate::Error;

/// Validated settings shared by [`Registration`](crate::Registration) and
/// [`Watcher`](crate::Watcher): the ensemble, the root folder and the timeouts.
///
/// Built from the `[registry] zk`, `path` settings of a server or the `zk`, `path` settings of a
/// client. Providers of app `echo` live under `<root>/echo/providers/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZkOptions {
    hosts: String,
    root: String,
    session_timeout: Duration,
    connect_timeout: Duration,
}

impl ZkOptions {
    /// The default root folder, `/svrkit`.
    pub const DEFAULT_ROOT: &'static str = "/svrkit";
    /// The default session timeout asked of ZooKeeper (it clamps it to 2..20 ticks).
    pub const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(6);
    /// The default time [`Registration::register`](crate::Registration::register) and
    /// [`Watcher::watch`](crate::Watcher::watch) keep trying before they report
    /// [`Error::Unreachable`].
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

    /// Settings for the ensemble `hosts`: `host:port[,host:port...]` (no chroot suffix; use
    /// [`with_root`](Self::with_root)).
    pub fn new(hosts: &str) -> Result<ZkOptions, Error> {
        let trimmed = hosts.trim();
        if trimmed.is_empty() {
            return Err(Error::config("zk", hosts, "empty; expected host:port[,host:port...]"));
        }
        if trimmed.contains('/') {
            return Err(Error::config("zk", hosts, "a chroot suffix is not supported; use `path`"));
        }
        let mut clean = Vec::new();
        for entry in trimmed.split(',') {
            let entry = entry.trim();
            let Some((host, port)) = entry.rsplit_once(':') else {
                return Err(Error::config("zk", hosts, "each entry must be host:port"));
            };
            if host.is_empty() || host.chars().any(char::is_whitespace) {
                return Err(Error::config("zk", hosts, "empty or malformed host"));
            }
            match port.parse::<u16>() {
                Ok(p) if p != 0 => {}
                _ => return Err(Error::config("zk", hosts, "port must be 1..=65535")),
            }
            clean.push(entry);
        }
        Ok(ZkOptions {
            hosts: clean.join(","),
            root: Self::DEFAULT_ROOT.to_owned(),
            session_timeout: Self::DEFAULT_SESSION_TIMEOUT,
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
        })
    }

    /// Uses `root` (an absolute znode path, e.g. `/svrkit` or `/prod/svrkit`) as the folder
    /// holding one sub-folder per app.
    pub fn with_root(mut self, root: &str) -> Result<ZkOptions, Error> {
        if !root.starts_with('/') {
            return Err(Error::config("path", root, "must start with '/'"));
        }
        let trimmed = root.trim_end_matches('/');
        if trimmed.is_empty() {
            return Err(Error::config("path", root, "use a folder, not the ZooKeeper root"));
        }
        for part in trimmed[1..].split('/') {
            check_segment(part).map_err(|reason| Error::config("path", root, reason))?;
        }
        if trimmed == "/zookeeper" || trimmed.starts_with("/zookeeper/") {
            return Err(Error::config("path", root, "/zookeeper is reserved by ZooKeeper"));
        }
        self.root = trimmed.to_owned();
        Ok(self)
    }

    /// Asks ZooKeeper for this session timeout: how long after a server dies its node stays.
    /// ZooKeeper clamps it to `2..=20` ticks (4 s to 40 s with the default 2 s tick).
    pub fn with_session_timeout(mut self, timeout: Duration) -> ZkOptions {
        self.session_timeout = timeout;
        self
    }

    /// How long the first connection may take before [`Error::Unreachable`].
    pub fn with_connect_timeout(mut self, timeout: Duration) -> ZkOptions {
        self.connect_timeout = timeout;
        self
    }

    /// The connect string, `host:port[,host:port...]`.
    pub fn hosts(&self) -> &str {
        &self.hosts
    }

    /// The root folder, without a trailing `/`.
    pub fn root(&self) -> &str {
        &self.root
    }

    /// The session timeout asked of ZooKeeper.
    pub fn session_timeout(&self) -> Duration {
        self.session_timeout
    }

    /// The first-connection timeout.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// The folder of `app`'s providers: `<root>/<app>/providers`.
    pub fn providers_path(&self, app: &str) -> Result<String, Error> {
        check_segment(app).map_err(|reason| Error::config("app", app, reason))?;
        Ok(format!("{}/{app}/providers", self.root))
    }
}

/// Checks an absolute znode path given whole (a client's `path = /svrkit/echo/providers`);
/// returns it without a trailing `/`.
pub(crate) fn check_folder(folder: &str) -> Result<&str, Error> {
    let trimmed = folder.trim_end_matches('/');
    if !folder.starts_with('/') || trimmed.is_empty() {
        return Err(Error::config("path", folder, "expected an absolute ZooKeeper folder"));
    }
    for part in trimmed[1..].split('/') {
        check_segment(part).map_err(|reason| Error::config("path", folder, reason))?;
    }
    Ok(trimmed)
}

fn check_segment(part: &str) -> Result<(), &'static str> {
    if part.is_empty() {
        return Err("empty path segment");
    }
    if part == "." || part == ".." {
        return Err("'.' and '..' are not allowed");
    }
    if part.contains('/') {
        return Err("must not contain '/'");
    }
    if part.chars().any(char::is_control) {
        return Err("must not contain control characters");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_validated_and_normalised() {
        let o = ZkOptions::new(" 127.0.0.1:2181, zk2:2182 ").unwrap();
        assert_eq!(o.hosts(), "127.0.0.1:2181,zk2:2182");
        assert_eq!(o.root(), "/svrkit");
        for bad in ["", "localhost", "h:0", "h:99999", "h:2181/chroot", ":2181", "h:2181,"] {
            let err = ZkOptions::new(bad).unwrap_err();
            assert!(matches!(err, Error::Config { what: "zk", .. }), "{bad:?} -> {err}");
        }
    }

    #[test]
    fn root_and_app_make_the_providers_path() {
        let o = ZkOptions::new("h:1").unwrap().with_root("/prod/svrkit/").unwrap();
        assert_eq!(o.providers_path("echo").unwrap(), "/prod/svrkit/echo/providers");
        for bad in ["svrkit", "/", "/a//b", "/a/../b", "/zookeeper", "/zookeeper/x"] {
            assert!(ZkOptions::new("h:1").unwrap().with_root(bad).is_err(), "{bad:?}");
        }
        assert_eq!(check_folder("/svrkit/echo/providers/").unwrap(), "/svrkit/echo/providers");
        for bad in ["svrkit/echo", "/", "/a//b", "/a/./b"] {
            assert!(check_folder(bad).is_err(), "{bad:?}");
        }
        for bad in ["", "a/b", "..", "a\nb"] {
            let err = o.providers_path(bad).unwrap_err();
            assert!(matches!(err, Error::Config { what: "app", .. }), "{bad:?} -> {err}");
        }
    }
}
