//! SIGTERM stops a server gracefully (its own test binary: the signal goes to the whole
//! process).

mod server_support;

use server_support::{options, router, start, tcp0, RawClient, State};
use svrkit::server::Mode;

#[test]
fn sigterm_stops_the_server_after_answering() {
    let s = start(router(State::new()), options(Mode::Coroutine, 1), &[tcp0()]);
    s.shutdown_handle().stop_on_signals().unwrap();
    let mut c = RawClient::connect(&s.local_addrs()[0]);
    c.request(1, "sleep", &(300, 7));
    c.request(2, "add", &(1, 2));
    assert_eq!(c.recv().msgid, 2, "both calls were read before the signal");
    let pid = std::process::id().to_string();
    let status = std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(status.success());
    // The sleeping call still gets its answer; then the server closes the connection and
    // `wait` returns (this process is still alive: the signal only asked for a stop).
    let r = c.recv();
    assert_eq!((r.msgid, r.value::<i64>()), (1, 7));
    assert!(c.closed_by_server());
    assert!(s.shutdown_handle().is_stopped());
    s.wait().unwrap();
}
