//! Tests of what the `echo` handler returns (seed 001: `cli.echo(msg)` prints `testtest`).

use pysvrkit_echo::generated::server::start_local;
use pysvrkit_echo::generated::*;

#[test]
fn echo_returns_the_message_text() {
    let server = start_local().expect("the server starts on a free port");
    let client = EchoBlockingClient::connect(server.local_addr().expect("a TCP address"));
    let msg = Echomsg { value: "testtest".to_string() };
    assert_eq!(client.echo(&msg).expect("echo answers"), Value::from("testtest"));
}
