//! The raw TCP baselines: blocking std sockets, a thread per connection, fixed-size frames
//! of svrkit's request/response byte sizes; `rmp` also encodes and decodes the echomsg
//! envelope with rmp-serde for every message on both sides.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Instant;

use crate::measure::{Gate, Tally};
use crate::msg::{self, Echomsg, RmpRequest, RmpResponse};

/// Frame sizes and whether each message goes through rmp-serde.
#[derive(Clone, Debug)]
pub(crate) struct Frames {
    req: Vec<u8>,
    resp: Vec<u8>,
    rmp: bool,
}

impl Frames {
    pub(crate) fn new(rmp: bool) -> Frames {
        let (req, resp) = msg::wire_frames(&msg::sample());
        Frames { req, resp, rmp }
    }
}

/// Serves forever: each connection on its own thread.
pub(crate) fn serve(listener: TcpListener, frames: Frames) -> io::Result<()> {
    for sock in listener.incoming() {
        let sock = sock?;
        let frames = frames.clone();
        std::thread::spawn(move || {
            let _ = serve_conn(sock, &frames);
        });
    }
    Ok(())
}

fn serve_conn(mut sock: TcpStream, f: &Frames) -> io::Result<()> {
    sock.set_nodelay(true)?;
    let n = f.req.len();
    let mut buf = vec![0u8; 64 * 1024];
    let mut filled = 0;
    let mut out = Vec::with_capacity(64 * 1024);
    loop {
        let got = sock.read(&mut buf[filled..])?;
        if got == 0 {
            return Ok(());
        }
        filled += got;
        let frames = filled / n;
        out.clear();
        for i in 0..frames {
            if f.rmp {
                let req: RmpRequest = rmp_serde::from_slice(&buf[i * n..(i + 1) * n])
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                msg::rmp_response(&req.3 .0, &mut out);
            } else {
                out.extend_from_slice(&f.resp);
            }
        }
        if !out.is_empty() {
            sock.write_all(&out)?;
        }
        buf.copy_within(frames * n..filled, 0);
        filled -= frames * n;
    }
}

/// Client: `conns` connections (a thread each), `depth` frames in flight on each.
pub(crate) fn client(
    addr: SocketAddr,
    conns: usize,
    depth: usize,
    frames: Frames,
    gate: Arc<Gate>,
) -> io::Result<std::thread::JoinHandle<Tally>> {
    let mut socks = Vec::new();
    for _ in 0..conns {
        let s = TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        socks.push(s);
    }
    Ok(std::thread::spawn(move || {
        let workers: Vec<_> = socks
            .into_iter()
            .map(|s| {
                let (frames, gate) = (frames.clone(), Arc::clone(&gate));
                std::thread::spawn(move || client_conn(s, depth, &frames, &gate))
            })
            .collect();
        let mut total = Tally::new();
        for w in workers {
            match w.join() {
                Ok(t) => total.merge(&t),
                Err(_) => total.errors += 1,
            }
        }
        total
    }))
}

fn client_conn(mut sock: TcpStream, depth: usize, f: &Frames, gate: &Gate) -> Tally {
    let mut tally = Tally::new();
    let sample = msg::sample();
    let m = f.resp.len();
    let mut sent: VecDeque<Instant> = VecDeque::with_capacity(depth);
    let mut out = Vec::with_capacity(depth * f.req.len());
    let mut buf = vec![0u8; 64 * 1024];
    let mut filled = 0;
    let push = |out: &mut Vec<u8>, sent: &mut VecDeque<Instant>| {
        if f.rmp {
            msg::rmp_request(&sample, out);
        } else {
            out.extend_from_slice(&f.req);
        }
        sent.push_back(Instant::now());
    };
    for _ in 0..depth {
        push(&mut out, &mut sent);
    }
    loop {
        if !out.is_empty() && sock.write_all(&out).is_err() {
            tally.failed(gate);
            return tally;
        }
        out.clear();
        if gate.stopped() {
            return tally;
        }
        let got = match sock.read(&mut buf[filled..]) {
            Ok(0) | Err(_) => {
                tally.failed(gate);
                return tally;
            }
            Ok(got) => got,
        };
        filled += got;
        let done = filled / m;
        for i in 0..done {
            if f.rmp {
                match rmp_serde::from_slice::<RmpResponse>(&buf[i * m..(i + 1) * m]) {
                    Ok(resp) => {
                        std::hint::black_box::<&Echomsg>(&resp.3);
                    }
                    Err(_) => tally.failed(gate),
                }
            }
            let start = sent.pop_front().expect("a response answers a sent frame");
            tally.done(gate, start);
            push(&mut out, &mut sent);
        }
        buf.copy_within(done * m..filled, 0);
        filled -= done * m;
    }
}
