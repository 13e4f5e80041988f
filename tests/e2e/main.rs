//! One end-to-end test binary: every scenario runs over real sockets against real servers.

mod discovery;
mod scaffold;
