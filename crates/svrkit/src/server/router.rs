//! The method registry: [`Router`] maps method names to handlers (typed, raw or a fallback)
//! and [`Params`] turns a msgpack params array into a typed tuple.

use std::any::type_name;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::hash::{BuildHasherDefault, Hasher};
use std::pin::Pin;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use svrkit_codec::{codes, encode_error, encode_response, encode_response_raw, RawValue, RpcError};
use svrkit_transport::BatchWriter;

/// A boxed, sendable future, as stored by the router.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Typed method parameters decoded from the msgpack params array: tuples of up to 12
/// `DeserializeOwned` elements, `()` for none. Dialect-000 APIs take `(Req,)` or `()`;
/// dialect-001 APIs take `(A, B, C)`. The arity is checked first, so a wrong count is
/// reported as such ("expected 1 param \[Echomsg\], got 2").
pub trait Params: Sized + Send + 'static {
    /// Number of elements expected.
    const ARITY: u32;
    /// Human-readable element types, e.g. `"[Echomsg]"`.
    fn expected() -> String;
    /// Decode from the params array (already known to have `ARITY` elements).
    fn decode(raw: RawValue<'_>) -> Result<Self, String>;
}

impl Params for () {
    const ARITY: u32 = 0;
    fn expected() -> String {
        "[]".to_string()
    }
    fn decode(_raw: RawValue<'_>) -> Result<(), String> {
        Ok(())
    }
}

macro_rules! tuple_params {
    ($n:expr; $($t:ident),+) => {
        impl<$($t),+> Params for ($($t,)+)
        where
            $($t: DeserializeOwned + Send + 'static),+
        {
            const ARITY: u32 = $n;
            fn expected() -> String {
                let names: Vec<String> = vec![$(short_type_name(type_name::<$t>())),+];
                format!("[{}]", names.join(", "))
            }
            fn decode(raw: RawValue<'_>) -> Result<Self, String> {
                raw.deserialize::<Self>().map_err(|e| e.to_string())
            }
        }
    };
}

tuple_params!(1; A);
tuple_params!(2; A, B);
tuple_params!(3; A, B, C);
tuple_params!(4; A, B, C, D);
tuple_params!(5; A, B, C, D, E);
tuple_params!(6; A, B, C, D, E, F);
tuple_params!(7; A, B, C, D, E, F, G);
tuple_params!(8; A, B, C, D, E, F, G, H);
tuple_params!(9; A, B, C, D, E, F, G, H, I);
tuple_params!(10; A, B, C, D, E, F, G, H, I, J);
tuple_params!(11; A, B, C, D, E, F, G, H, I, J, K);
tuple_params!(12; A, B, C, D, E, F, G, H, I, J, K, L);

/// `alloc::vec::Vec<alloc::string::String>` -> `Vec<String>`.
fn short_type_name(full: &str) -> String {
    let mut out = String::with_capacity(full.len());
    let mut word = String::new();
    let mut chars = full.chars().peekable();
    while let Some(c) = chars.next() {
        if c == ':' && chars.peek() == Some(&':') {
            chars.next();
            word.clear();
        } else if c.is_alphanumeric() || c == '_' {
            word.push(c);
        } else {
            out.push_str(&word);
            word.clear();
            out.push(c);
        }
    }
    out.push_str(&word);
    out
}

/// Where a handler's outcome goes: the connection's batching writer, under the request's
/// msgid (notifications have none, and their outcome is only logged when it is an error).
pub struct Reply {
    /// The request's msgid and the connection's writer; `None` for a notification.
    pub(crate) to: Option<(u32, BatchWriter)>,
    pub(crate) method: Arc<str>,
    /// Write the reply to the socket from the handler's thread.
    pub(crate) direct: bool,
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reply").field("msgid", &self.msgid()).field("method", &self.method).finish()
    }
}

impl Reply {
    /// The request id (`None` for a notification).
    pub fn msgid(&self) -> Option<u32> {
        self.to.as_ref().map(|t| t.0)
    }

    /// The method called.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// Send a typed result or an error.
    pub fn send<R: Serialize + ?Sized>(self, outcome: Result<&R, RpcError>) {
        let Some((msgid, writer)) = &self.to else {
            if let Err(e) = outcome {
                log::warn!("notification {}: {e}", self.method);
            }
            return;
        };
        let (msgid, method) = (*msgid, &self.method);
        self.write(writer, |buf| match outcome {
            Ok(v) => {
                if let Err(e) = encode_response(buf, msgid, v) {
                    log::error!("{method}: cannot encode the result: {e}");
                    let err = RpcError::new(
                        codes::INTERNAL,
                        format!("{method}: cannot encode the result: {e}"),
                    );
                    encode_error(buf, msgid, &err);
                }
            }
            Err(e) => encode_error(buf, msgid, &e),
        });
    }

    /// Append the reply; on a thread-mode handler thread with no other call queued, write
    /// it to the socket from here (no hop back to the I/O thread).
    fn write(&self, writer: &BatchWriter, f: impl FnOnce(&mut Vec<u8>)) {
        if self.direct && super::conn::reply_directly() {
            writer.write_now_with(f);
        } else {
            writer.write_with(f);
        }
    }

    /// Send a pre-encoded result (exactly one msgpack value) or an error. Bytes that are not
    /// one valid value are replaced by an INTERNAL error, so the stream never breaks.
    pub fn send_raw(self, outcome: Result<&[u8], RpcError>) {
        let outcome = outcome.and_then(|bytes| {
            RawValue::from_slice(bytes).map_err(|e| {
                RpcError::new(
                    codes::INTERNAL,
                    format!("{}: handler returned invalid msgpack: {e}", self.method),
                )
            })
        });
        let Some((msgid, writer)) = &self.to else {
            if let Err(e) = outcome {
                log::warn!("notification {}: {e}", self.method);
            }
            return;
        };
        let msgid = *msgid;
        self.write(writer, |buf| match outcome {
            Ok(v) => encode_response_raw(buf, msgid, v),
            Err(e) => encode_error(buf, msgid, &e),
        });
    }

    /// Answer with an error.
    pub fn error(self, e: RpcError) {
        self.send::<()>(Err(e));
    }
}

/// FNV-1a: method names are short and chosen by the service, not by peers' hash-flooding
/// (a peer only picks which name to look up), so a fast hash is fine here.
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 { 0xcbf2_9ce4_8422_2325 } else { self.0 };
        for b in bytes {
            h = (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
        }
        self.0 = h;
    }
}

type RouteFn =
    dyn Fn(RawValue<'_>, Reply) -> Result<BoxFuture<()>, (Reply, RpcError)> + Send + Sync;
type FallbackFn = dyn Fn(&str, RawValue<'_>, Reply) -> BoxFuture<()> + Send + Sync;

#[derive(Clone)]
pub(crate) struct Route {
    pub(crate) name: Arc<str>,
    f: Arc<RouteFn>,
}

/// A method table: names to handlers. Build it once, hand it to a
/// [`Server`](crate::server::Server).
///
/// ```
/// use svrkit::server::Router;
/// use svrkit::RpcError;
///
/// let router = Router::new()
///     .route("add", |(a, b): (i64, i64)| async move { Ok::<_, RpcError>(a + b) })
///     .route("ping", |(): ()| async { Ok::<_, RpcError>("pong") });
/// assert_eq!(router.methods().count(), 2);
/// ```
#[derive(Clone, Default)]
pub struct Router {
    routes: HashMap<Box<str>, Route, BuildHasherDefault<Fnv>>,
    fallback: Option<Arc<FallbackFn>>,
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&str> = self.methods().collect();
        names.sort_unstable();
        f.debug_struct("Router")
            .field("methods", &names)
            .field("fallback", &self.fallback.is_some())
            .finish()
    }
}

impl Router {
    /// An empty router (every call answers "no such method").
    pub fn new() -> Router {
        Router::default()
    }

    /// Register a typed async handler. `P` is the params tuple (`(Echomsg,)`, `(i64,
    /// String)`, `()`); the handler's `Ok` value is the result (`()` answers nil) and its
    /// `Err` is sent as `[code, message]`. Params that do not fit `P` are answered with
    /// INVALID_PARAMS naming the method and what was expected. Registering a name twice
    /// replaces the first handler.
    pub fn route<P, F, Fut, R>(mut self, method: &str, handler: F) -> Router
    where
        P: Params,
        F: Fn(P) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, RpcError>> + Send + 'static,
        R: Serialize + Send + 'static,
    {
        let f = move |raw: RawValue<'_>, reply: Reply| {
            let got = raw.array_len().unwrap_or(0);
            if got != P::ARITY {
                let e = RpcError::new(
                    codes::INVALID_PARAMS,
                    format!(
                        "{}: expected {} param{} {}, got {got}",
                        reply.method,
                        P::ARITY,
                        if P::ARITY == 1 { "" } else { "s" },
                        P::expected()
                    ),
                );
                return Err((reply, e));
            }
            let params = match P::decode(raw) {
                Ok(p) => p,
                Err(why) => {
                    let e = RpcError::new(
                        codes::INVALID_PARAMS,
                        format!(
                            "{}: invalid params (expected {}): {why}",
                            reply.method,
                            P::expected()
                        ),
                    );
                    return Err((reply, e));
                }
            };
            let fut = handler(params);
            let call: BoxFuture<()> = Box::pin(async move {
                let outcome = fut.await;
                reply.send(outcome.as_ref().map_err(Clone::clone));
            });
            Ok(call)
        };
        self.insert(method, Arc::new(f));
        self
    }

    /// Register a raw handler (for proxies and dynamic services): it receives the params
    /// array's bytes and returns the result as the bytes of one msgpack value.
    pub fn route_raw<F, Fut>(mut self, method: &str, handler: F) -> Router
    where
        F: Fn(Vec<u8>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<u8>, RpcError>> + Send + 'static,
    {
        let f = move |raw: RawValue<'_>, reply: Reply| {
            let fut = handler(raw.as_bytes().to_vec());
            let call: BoxFuture<()> = Box::pin(async move {
                let outcome = fut.await;
                reply.send_raw(outcome.as_deref().map_err(Clone::clone));
            });
            Ok(call)
        };
        self.insert(method, Arc::new(f));
        self
    }

    /// Handle every method that has no route (instead of answering "no such method"): the
    /// handler gets the method name and the params array's bytes, and returns the result as
    /// the bytes of one msgpack value. A proxy forwards with this.
    pub fn fallback<F, Fut>(mut self, handler: F) -> Router
    where
        F: Fn(String, Vec<u8>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<u8>, RpcError>> + Send + 'static,
    {
        let f = move |method: &str, raw: RawValue<'_>, reply: Reply| {
            let fut = handler(method.to_string(), raw.as_bytes().to_vec());
            let call: BoxFuture<()> = Box::pin(async move {
                let outcome = fut.await;
                reply.send_raw(outcome.as_deref().map_err(Clone::clone));
            });
            call
        };
        self.fallback = Some(Arc::new(f));
        self
    }

    fn insert(&mut self, method: &str, f: Arc<RouteFn>) {
        self.routes.insert(method.into(), Route { name: method.into(), f });
    }

    /// The registered method names (in no particular order).
    pub fn methods(&self) -> impl Iterator<Item = &str> + '_ {
        self.routes.keys().map(|k| &**k)
    }

    /// A copy whose method-name strings are its own, so that calls on different worker
    /// threads never share a reference count.
    pub(crate) fn per_worker(&self) -> Router {
        Router {
            routes: self
                .routes
                .iter()
                .map(|(k, r)| (k.clone(), Route { name: Arc::from(&*r.name), f: r.f.clone() }))
                .collect(),
            fallback: self.fallback.clone(),
        }
    }

    /// Start the handler for one call. `None`: answered already (an error, or nothing to
    /// do); `Some`: the handler's future, which writes its reply when it completes.
    pub(crate) fn start(
        &self,
        method: &str,
        params: RawValue<'_>,
        msgid: Option<u32>,
        writer: &BatchWriter,
        direct: bool,
    ) -> Option<(Arc<str>, BoxFuture<()>)> {
        if let Some(route) = self.routes.get(method) {
            let to = msgid.map(|id| (id, writer.clone()));
            let reply = Reply { to, method: route.name.clone(), direct };
            return match (route.f)(params, reply) {
                Ok(fut) => Some((route.name.clone(), fut)),
                Err((reply, e)) => {
                    reply.error(e);
                    None
                }
            };
        }
        if let Some(fallback) = &self.fallback {
            let name: Arc<str> = method.into();
            let to = msgid.map(|id| (id, writer.clone()));
            let reply = Reply { to, method: name.clone(), direct };
            return Some((name, fallback(method, params, reply)));
        }
        let e = RpcError::new(codes::NO_SUCH_METHOD, format!("no such method: {method}"));
        match msgid {
            Some(id) => writer.write_with(|buf| encode_error(buf, id, &e)),
            None => log::warn!("notification for unknown method {method:?} dropped"),
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names() {
        assert_eq!(short_type_name("alloc::vec::Vec<alloc::string::String>"), "Vec<String>");
        assert_eq!(short_type_name("i64"), "i64");
        assert_eq!(
            short_type_name("std::collections::hash::map::HashMap<i64, echo::Echomsg>"),
            "HashMap<i64, Echomsg>"
        );
        assert_eq!(<(i64, String)>::expected(), "[i64, String]");
    }
}
