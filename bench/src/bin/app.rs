//! `svrkit-bench-app`: the bench's echo service as a real `svrkit::app::App` binary, for
//! the process worker modes (`svrkit-bench server --impl svrkit-process[-coroutine]`
//! writes its config and runs it in the foreground).

use std::process::ExitCode;
use std::sync::Arc;

use svrkit::app::App;

#[allow(dead_code)] // shared with the main binary, which uses all of it
#[path = "../msg.rs"]
mod msg;

#[path = "../echo.rs"]
mod echo;

fn main() -> ExitCode {
    App::new(
        "benchecho",
        |_config| Ok(echo::Counter::new()),
        |c: Arc<echo::Counter>| echo::router(c),
    )
    .main()
}
