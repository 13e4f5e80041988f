//! Background probing of ejected servers: a thread, started on the first ejection, that
//! sends each ejected server a probe request and readmits it when anything answers.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use svrkit_codec::{Decoder, Limits, RawValue};

use super::stream::Endpoint;
use super::Shared;

/// The method a probe calls. Servers answer it, usually with "no such method"; any
/// well-formed reply proves the server is up and serving.
pub const PROBE_METHOD: &str = "svrkit.probe";

/// Starts the prober thread unless one is running.
pub(crate) fn ensure_running(shared: &Arc<Shared>) {
    if shared.prober_running.swap(true, Ordering::SeqCst) {
        return;
    }
    let weak = Arc::downgrade(shared);
    let interval = shared.probe_interval;
    let spawned =
        std::thread::Builder::new().name("svrkit-probe".into()).spawn(move || run(weak, interval));
    if let Err(e) = spawned {
        log::error!("cannot start the probe thread: {e}");
        shared.prober_running.store(false, Ordering::SeqCst);
    }
}

/// Every `interval` (the first probe too: a server just ejected is rarely back at once),
/// probes the ejected servers; exits when none is left or the client is gone.
fn run(weak: Weak<Shared>, interval: Duration) {
    loop {
        std::thread::sleep(interval);
        let Some(shared) = weak.upgrade() else { return };
        let timeout = shared.timeout.min(interval.max(Duration::from_millis(100)));
        let topology = shared.topology();
        let ejected: Vec<_> = topology.nodes.iter().filter(|n| n.is_ejected()).cloned().collect();
        if ejected.is_empty() {
            shared.prober_running.store(false, Ordering::SeqCst);
            // An ejection after the scan may have seen the flag still set and started no
            // prober: look once more (both sides use SeqCst).
            let again = shared.topology().nodes.iter().any(|n| n.is_ejected());
            if !again || shared.prober_running.swap(true, Ordering::SeqCst) {
                return;
            }
            continue;
        }
        drop(shared);
        for node in ejected {
            match probe(&node.endpoint, timeout) {
                Ok(()) => {
                    if node.readmit() {
                        log::info!("server {} answers again: readmitted", node.name);
                    }
                }
                Err(e) => log::debug!("server {} still down: {e}", node.name),
            }
        }
    }
}

/// Connects to `endpoint`, sends one probe request and waits for any complete reply.
pub(crate) fn probe(endpoint: &Endpoint, timeout: Duration) -> io::Result<()> {
    let mut request = Vec::new();
    svrkit_codec::encode_request_raw(&mut request, 0, PROBE_METHOD, RawValue::EMPTY_ARRAY);
    match endpoint {
        Endpoint::Tcp { host, port } => {
            let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
            for addr in (host.as_str(), *port).to_socket_addrs()? {
                match TcpStream::connect_timeout(&addr, timeout) {
                    Ok(mut s) => {
                        s.set_read_timeout(Some(timeout))?;
                        s.set_write_timeout(Some(timeout))?;
                        return exchange(&mut s, &request, timeout);
                    }
                    Err(e) => last = e,
                }
            }
            Err(last)
        }
        Endpoint::Unix(path) => {
            let mut s = UnixStream::connect(path)?;
            s.set_read_timeout(Some(timeout))?;
            s.set_write_timeout(Some(timeout))?;
            exchange(&mut s, &request, timeout)
        }
    }
}

fn exchange(s: &mut (impl Read + Write), request: &[u8], timeout: Duration) -> io::Result<()> {
    s.write_all(request)?;
    let deadline = Instant::now() + timeout;
    let mut decoder = Decoder::new(Limits::default());
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while Instant::now() < deadline {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed without a reply"));
        }
        buf.extend_from_slice(&chunk[..n]);
        match decoder.decode(&buf) {
            Ok(Some(_)) => return Ok(()),
            Ok(None) => {}
            Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e.to_string())),
        }
    }
    Err(io::Error::new(io::ErrorKind::TimedOut, "no reply to the probe"))
}
