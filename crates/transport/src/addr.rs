//! Addresses: [`Addr`] (a TCP socket address or a Unix socket path) and [`IpNet`] /
//! [`AllowList`] (the `allow_ip` address and CIDR list).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;

use crate::TransportError;

/// Where to listen or connect: `"ip:port"` (`"[::1]:3000"` for IPv6) or `"unix:/path"`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Addr {
    /// A TCP address.
    Tcp(SocketAddr),
    /// A Unix-domain socket path. A peer connected over an unnamed socket has an empty path.
    Unix(PathBuf),
}

impl Addr {
    /// The IP of a TCP address; `None` for Unix sockets.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Addr::Tcp(sa) => Some(sa.ip()),
            Addr::Unix(_) => None,
        }
    }
}

impl From<SocketAddr> for Addr {
    fn from(sa: SocketAddr) -> Addr {
        Addr::Tcp(sa)
    }
}

impl FromStr for Addr {
    type Err = TransportError;

    fn from_str(s: &str) -> Result<Addr, TransportError> {
        let s = s.trim();
        if let Some(path) = s.strip_prefix("unix:") {
            if path.is_empty() {
                return Err(TransportError::Parse {
                    input: s.to_string(),
                    reason: "empty Unix socket path (expected \"unix:/path/to.sock\")".into(),
                });
            }
            return Ok(Addr::Unix(PathBuf::from(path)));
        }
        s.parse::<SocketAddr>().map(Addr::Tcp).map_err(|_| TransportError::Parse {
            input: s.to_string(),
            reason: "expected \"ip:port\", \"[ipv6]:port\" or \"unix:/path\"".into(),
        })
    }
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Addr::Tcp(sa) => write!(f, "{sa}"),
            Addr::Unix(p) if p.as_os_str().is_empty() => f.write_str("unix:<unnamed>"),
            Addr::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// An IP network: an address with a prefix length (`"10.0.0.0/8"`, `"::1/128"`); a bare
/// address means the single host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// A network; fails if `prefix` is longer than the address.
    pub fn new(addr: IpAddr, prefix: u8) -> Result<IpNet, TransportError> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(TransportError::Parse {
                input: format!("{addr}/{prefix}"),
                reason: format!("prefix length {prefix} exceeds {max}"),
            });
        }
        Ok(IpNet { addr, prefix })
    }

    /// Whether `ip` is inside this network. IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`)
    /// match IPv4 networks, so a dual-stack listener applies IPv4 rules.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_eq(u32::from(net) as u128, u32::from(ip) as u128, self.prefix, 32)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_eq(u128::from(net), u128::from(ip), self.prefix, 128)
            }
            _ => false,
        }
    }
}

fn prefix_eq(a: u128, b: u128, prefix: u8, bits: u32) -> bool {
    if prefix == 0 {
        return true;
    }
    let shift = bits - u32::from(prefix);
    (a >> shift) == (b >> shift)
}

impl FromStr for IpNet {
    type Err = TransportError;

    fn from_str(s: &str) -> Result<IpNet, TransportError> {
        let s = s.trim();
        let bad = |reason: &str| TransportError::Parse {
            input: s.to_string(),
            reason: reason.to_string(),
        };
        let (ip, prefix) = match s.split_once('/') {
            Some((ip, p)) => (ip, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = ip
            .parse()
            .map_err(|_| bad("expected an IP address or CIDR (\"10.0.0.0/8\", \"::1\")"))?;
        let prefix = match prefix {
            None => {
                if addr.is_ipv4() {
                    32
                } else {
                    128
                }
            }
            Some(p) => p.parse::<u8>().map_err(|_| bad("bad prefix length"))?,
        };
        IpNet::new(addr, prefix)
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Which TCP peers may connect (seed 002's `allow_ip`). Empty = everyone. Unix-socket peers
/// are always allowed (the file's permissions guard them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowList {
    nets: Vec<IpNet>,
}

impl AllowList {
    /// Allow every peer.
    pub fn any() -> AllowList {
        AllowList::default()
    }

    /// Allow only peers inside one of `nets` (an empty list allows everyone).
    pub fn new(nets: Vec<IpNet>) -> AllowList {
        AllowList { nets }
    }

    /// Parse a comma-separated list of addresses and CIDRs.
    pub fn parse_list(s: &str) -> Result<AllowList, TransportError> {
        let nets = s
            .split(',')
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(str::parse)
            .collect::<Result<Vec<IpNet>, _>>()?;
        Ok(AllowList { nets })
    }

    /// The networks; empty means everyone.
    pub fn nets(&self) -> &[IpNet] {
        &self.nets
    }

    /// Whether a peer at `addr` may connect.
    pub fn allows(&self, addr: &Addr) -> bool {
        match addr.ip() {
            None => true,
            Some(ip) => self.nets.is_empty() || self.nets.iter().any(|n| n.contains(ip)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(list: &str, peer: &str) -> bool {
        let list = AllowList::parse_list(list).unwrap();
        list.allows(&Addr::Tcp(SocketAddr::new(peer.parse().unwrap(), 1)))
    }

    #[test]
    fn cidr_matching() {
        assert!(allows("", "8.8.8.8"));
        assert!(allows("192.168.1.100", "192.168.1.100"));
        assert!(!allows("192.168.1.100", "192.168.1.101"));
        assert!(allows("10.0.0.0/8, 127.0.0.1", "10.200.3.4"));
        assert!(allows("10.0.0.0/8, 127.0.0.1", "127.0.0.1"));
        assert!(!allows("10.0.0.0/8", "11.0.0.1"));
        assert!(allows("0.0.0.0/0", "1.2.3.4"));
        assert!(allows("::1", "::1"));
        assert!(!allows("::1", "::2"));
        assert!(allows("fe80::/10", "fe80::1234"));
        assert!(allows("127.0.0.0/8", "::ffff:127.0.0.9"));
        assert!(!allows("::1", "127.0.0.1"));
        assert!(allows("1.2.3.4/31", "1.2.3.5"));
        assert!(!allows("1.2.3.4/31", "1.2.3.6"));
    }

    #[test]
    fn parse_errors() {
        assert!("10.0.0.0/33".parse::<IpNet>().is_err());
        assert!("::/129".parse::<IpNet>().is_err());
        assert!("nonsense".parse::<IpNet>().is_err());
        assert!("10.0.0.0/x".parse::<IpNet>().is_err());
        assert!(AllowList::parse_list("1.2.3.4, bogus").is_err());
    }

    #[test]
    fn addr_round_trip() {
        for s in ["127.0.0.1:3000", "[::1]:80", "unix:/tmp/x.sock"] {
            assert_eq!(s.parse::<Addr>().unwrap().to_string(), s);
        }
        assert!("unix:".parse::<Addr>().is_err());
        assert!("localhost".parse::<Addr>().is_err());
        assert_eq!(Addr::Unix(PathBuf::new()).to_string(), "unix:<unnamed>");
    }
}
