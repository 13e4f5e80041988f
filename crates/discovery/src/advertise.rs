//! Which address a server registers: never `0.0.0.0`, but one clients can dial.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};

use crate::Error;

/// How a server picks the address it registers, from the address it listens on.
///
/// A server listening on a specific address registers that address in every mode except
/// [`Advertise::Ip`] and [`Advertise::Addr`]. A server listening on a wildcard address (`0.0.0.0`, `::`) registers
/// the first non-loopback interface address ([`Advertise::Auto`]) or the first one whose text
/// starts with a prefix ([`Advertise::IpPrefix`], like rpc_proxy's `ip_prefix=10.`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Advertise {
    /// The listen address, or the first non-loopback interface address for a wildcard.
    #[default]
    Auto,
    /// This IP address, with the listen port.
    Ip(IpAddr),
    /// Exactly this address (the `[registry] advertise = ip:port` setting), e.g. behind NAT.
    Addr(SocketAddr),
    /// For a wildcard listen address, the first interface address starting with this text.
    IpPrefix(String),
}

impl Advertise {
    /// The address to register for a server listening on `listen`.
    pub fn resolve(&self, listen: SocketAddr) -> Result<SocketAddr, Error> {
        if listen.port() == 0 {
            return Err(Error::config(
                "listen",
                &listen.to_string(),
                "port 0: register after listening",
            ));
        }
        match self {
            Advertise::Ip(ip) if ip.is_unspecified() => Err(Error::config(
                "advertise",
                &ip.to_string(),
                "a wildcard address cannot be dialled",
            )),
            Advertise::Ip(ip) => Ok(SocketAddr::new(*ip, listen.port())),
            Advertise::Addr(addr) if addr.ip().is_unspecified() || addr.port() == 0 => Err(
                Error::config("advertise", &addr.to_string(), "clients cannot dial this address"),
            ),
            Advertise::Addr(addr) => Ok(*addr),
            _ if !listen.ip().is_unspecified() => Ok(listen),
            Advertise::IpPrefix(prefix) => {
                let candidates = interface_addresses();
                pick(&candidates, Some(prefix)).map(|ip| SocketAddr::new(ip, listen.port())).ok_or(
                    Error::NoAdvertiseAddress {
                        listen,
                        ip_prefix: Some(prefix.clone()),
                        candidates,
                    },
                )
            }
            Advertise::Auto => {
                let candidates = interface_addresses();
                pick(&candidates, None)
                    .map(|ip| SocketAddr::new(ip, listen.port()))
                    .ok_or(Error::NoAdvertiseAddress { listen, ip_prefix: None, candidates })
            }
        }
    }
}

/// The first candidate that is neither loopback nor link-local and, given a prefix, starts
/// with it.
fn pick(candidates: &[IpAddr], prefix: Option<&str>) -> Option<IpAddr> {
    candidates.iter().copied().find(|ip| match prefix {
        Some(prefix) => ip.to_string().starts_with(prefix),
        None => !ip.is_loopback() && !is_link_local(ip) && !ip.is_unspecified(),
    })
}

fn is_link_local(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}

/// This host's interface addresses: IPv4 first (in the kernel's order), then global IPv6.
/// Linux's `/proc/net/fib_trie` and `/proc/net/if_inet6`; elsewhere, the source address of
/// the default route.
fn interface_addresses() -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = Vec::new();
    if let Ok(text) = std::fs::read_to_string("/proc/net/fib_trie") {
        out.extend(parse_fib_trie(&text).into_iter().map(IpAddr::V4));
    }
    if let Ok(text) = std::fs::read_to_string("/proc/net/if_inet6") {
        out.extend(parse_if_inet6(&text).into_iter().map(IpAddr::V6));
    }
    if let Some(ip) = default_route_source() {
        out.push(ip);
    }
    let mut seen = Vec::new();
    out.retain(|ip| {
        let new = !seen.contains(ip);
        seen.push(*ip);
        new
    });
    out
}

/// Local (`/32 host LOCAL`) IPv4 addresses listed in `/proc/net/fib_trie`.
fn parse_fib_trie(text: &str) -> Vec<Ipv4Addr> {
    let mut out = Vec::new();
    let mut last: Option<Ipv4Addr> = None;
    for line in text.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("|-- ") {
            last = rest.trim().parse().ok();
        } else if t.starts_with("/32 host LOCAL") {
            if let Some(ip) = last {
                if !out.contains(&ip) {
                    out.push(ip);
                }
            }
        }
    }
    out
}

/// Global-scope addresses of `/proc/net/if_inet6` (32 hex digits, index, prefix, scope, ...).
fn parse_if_inet6(text: &str) -> Vec<Ipv6Addr> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let hex = fields.next()?;
            let scope = fields.nth(2)?;
            if scope != "00" || hex.len() != 32 {
                return None;
            }
            u128::from_str_radix(hex, 16).ok().map(Ipv6Addr::from)
        })
        .collect()
}

/// The source address the kernel would use towards a documentation address (no packet is
/// sent: connecting a UDP socket only picks a route).
fn default_route_source() -> Option<IpAddr> {
    let socket = UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("192.0.2.1:9").ok()?;
    socket.local_addr().ok().map(|a| a.ip()).filter(|ip| !ip.is_unspecified())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIB: &str = "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 0.0.0.0\n        /0 universe UNICAST\n     \
        +-- 10.1.0.0/16 2 0 2\n        |-- 10.1.2.3\n           /32 host LOCAL\n        |-- 10.1.255.255\n           \
        /32 link BROADCAST\n     +-- 127.0.0.0/8 2 0 2\n        |-- 127.0.0.1\n           /32 host LOCAL\n     \
        |-- 172.17.0.1\n        /32 host LOCAL\nLocal:\n  |-- 10.1.2.3\n     /32 host LOCAL\n";

    #[test]
    fn fib_trie_lists_local_addresses_once() {
        let ips = parse_fib_trie(FIB);
        assert_eq!(
            ips,
            ["10.1.2.3", "127.0.0.1", "172.17.0.1"].map(|s| s.parse::<Ipv4Addr>().unwrap())
        );
    }

    #[test]
    fn if_inet6_keeps_global_scope_only() {
        let text = "00000000000000000000000000000001 01 80 10 80       lo\n\
                    fe800000000000000000000000000001 02 40 20 80     eth0\n\
                    fd000000000000000000000000000005 02 40 00 80     eth0\n";
        assert_eq!(parse_if_inet6(text), vec!["fd00::5".parse::<Ipv6Addr>().unwrap()]);
    }

    #[test]
    fn picking_skips_loopback_and_honours_the_prefix() {
        let c: Vec<IpAddr> = ["127.0.0.1", "169.254.1.1", "172.17.0.1", "10.1.2.3"]
            .map(|s| s.parse().unwrap())
            .into();
        assert_eq!(pick(&c, None), Some("172.17.0.1".parse().unwrap()));
        assert_eq!(pick(&c, Some("10.")), Some("10.1.2.3".parse().unwrap()));
        assert_eq!(pick(&c, Some("192.168.")), None);
    }

    #[test]
    fn specific_listen_addresses_are_kept_and_wildcards_resolved() {
        let listen: SocketAddr = "127.0.0.1:7000".parse().unwrap();
        assert_eq!(Advertise::Auto.resolve(listen).unwrap(), listen);
        assert_eq!(Advertise::IpPrefix("10.".into()).resolve(listen).unwrap(), listen);
        let wild: SocketAddr = "0.0.0.0:7000".parse().unwrap();
        let fixed = Advertise::Ip("10.9.8.7".parse().unwrap()).resolve(wild).unwrap();
        assert_eq!(fixed, "10.9.8.7:7000".parse().unwrap());
        match Advertise::IpPrefix("203.0.113.".into()).resolve(wild) {
            Err(Error::NoAdvertiseAddress { ip_prefix: Some(p), .. }) => {
                assert_eq!(p, "203.0.113.")
            }
            other => panic!("expected NoAdvertiseAddress, got {other:?}"),
        }
        if let Ok(addr) = Advertise::Auto.resolve(wild) {
            assert!(!addr.ip().is_loopback() && !addr.ip().is_unspecified(), "{addr}");
            assert_eq!(addr.port(), 7000);
        }
        assert!(Advertise::Auto.resolve("0.0.0.0:0".parse().unwrap()).is_err());
        assert!(Advertise::Ip("0.0.0.0".parse().unwrap()).resolve(wild).is_err());
        let nat: SocketAddr = "203.0.113.9:17000".parse().unwrap();
        assert_eq!(Advertise::Addr(nat).resolve(listen).unwrap(), nat);
        assert!(Advertise::Addr("0.0.0.0:7000".parse().unwrap()).resolve(wild).is_err());
    }
}
