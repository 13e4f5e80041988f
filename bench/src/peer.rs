//! tarpc 0.38, the peer a Rust user would pick instead: the same echomsg over tarpc's
//! serde transport on TCP with the Bincode format (tarpc's default feature set has no
//! transport; its TCP examples use `tokio_serde::formats::Bincode`), on tokio's default
//! multi-threaded runtime, as `#[tokio::main]` gives.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::{future, StreamExt};
use tarpc::server::{BaseChannel, Channel};
use tarpc::tokio_serde::formats::Bincode;
use tarpc::{client, context, serde_transport::tcp};

use crate::measure::{Gate, Tally};
use crate::msg::{self, Echomsg};

/// The echo service.
#[tarpc::service]
pub(crate) trait Echo {
    /// Returns its argument.
    async fn echo1(msg: Echomsg) -> Echomsg;
}

#[derive(Clone)]
struct EchoServer;

impl Echo for EchoServer {
    async fn echo1(self, _: context::Context, msg: Echomsg) -> Echomsg {
        msg
    }
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build()
}

/// Starts the tarpc server and prints `listening ADDR`; serves until killed.
pub(crate) fn serve(addr: SocketAddr) -> Result<(), String> {
    let rt = runtime().map_err(|e| e.to_string())?;
    rt.block_on(async move {
        let mut incoming = tcp::listen(addr, Bincode::default).await.map_err(|e| e.to_string())?;
        crate::announce(&incoming.local_addr().to_string());
        incoming.config_mut().max_frame_length(usize::MAX);
        while let Some(t) = incoming.next().await {
            let Ok(transport) = t else { continue };
            let _ = transport.get_ref().set_nodelay(true);
            tokio::spawn(
                BaseChannel::with_defaults(transport).execute(EchoServer.serve()).for_each(
                    |response| {
                        tokio::spawn(response);
                        future::ready(())
                    },
                ),
            );
        }
        Ok(())
    })
}

/// Client: `conns` tarpc clients (one connection each), `depth` tasks calling on each.
pub(crate) fn client(
    addr: SocketAddr,
    conns: usize,
    depth: usize,
    gate: Arc<Gate>,
) -> Result<std::thread::JoinHandle<Tally>, String> {
    let rt = runtime().map_err(|e| e.to_string())?;
    let clients = rt.block_on(async {
        let mut clients = Vec::new();
        for _ in 0..conns {
            let transport = tcp::connect(addr, Bincode::default).await?;
            transport.get_ref().set_nodelay(true)?;
            clients.push(EchoClient::new(client::Config::default(), transport).spawn());
        }
        Ok::<_, std::io::Error>(clients)
    });
    let clients = clients.map_err(|e| e.to_string())?;
    Ok(std::thread::spawn(move || {
        let total = Arc::new(Mutex::new(Tally::new()));
        rt.block_on(async {
            let msg = msg::sample();
            let mut tasks = Vec::new();
            for c in &clients {
                for _ in 0..depth {
                    let (c, gate, msg, total) =
                        (c.clone(), Arc::clone(&gate), msg.clone(), Arc::clone(&total));
                    tasks.push(tokio::spawn(async move {
                        let mut tally = Tally::new();
                        while !gate.stopped() {
                            let start = Instant::now();
                            match c.echo1(context::current(), msg.clone()).await {
                                Ok(_) => tally.done(&gate, start),
                                Err(_) => tally.failed(&gate),
                            }
                        }
                        total.lock().unwrap_or_else(|p| p.into_inner()).merge(&tally);
                    }));
                }
            }
            for t in tasks {
                let _ = t.await;
            }
        });
        let mut total = total.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::replace(&mut *total, Tally::new())
    }))
}
