//! The server binary's command line: `[-c CONF] [-d] [-h] [start|stop|restart|status]`.

use std::fmt::Write as _;

/// What the user asked the binary to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Command {
    /// No command: serve in the foreground until SIGTERM / SIGINT.
    Foreground,
    /// `start` or `-d`: serve as a daemon (detached, pid file, log file).
    Start,
    /// `stop`: SIGTERM the instance named by the pid file and wait for it.
    Stop,
    /// `restart`: `stop`, then `start`.
    Restart,
    /// `status`: report from the pid file.
    Status,
    /// `-h`: print the usage.
    Help,
}

/// Parsed arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Args {
    pub(crate) conf: String,
    pub(crate) command: Command,
}

/// The usage text of `name`'s server binary.
pub(crate) fn usage(name: &str) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "usage: {name} [-c CONF] [-d] [-h] [start|stop|restart|status]\n\n\
         \x20 -c CONF  server config (default: {name}_svr.conf)\n\
         \x20 -d       run as a daemon (same as `start`)\n\
         \x20 -h       show this help\n\
         \x20 start    run as a daemon: detach, write the pid file ([app] pid), log next to it;\n\
         \x20          returns once it serves (pid, address, log), or exits 1 saying why not\n\
         \x20 stop     stop the running server (SIGTERM through the pid file) and wait for it\n\
         \x20 restart  stop, then start\n\
         \x20 status   exit 0 if running, 1 if the pid file is stale, 3 if not running\n\
         \x20 (none)   run in the foreground until SIGTERM / SIGINT\n\n\
         process worker modes reload on SIGHUP (kill -HUP PID): new workers re-read CONF and\n\
         replace the old ones once ready; if they cannot start, the old ones keep serving"
    );
    s
}

/// Parses the arguments after the program name.
pub(crate) fn parse(name: &str, args: impl IntoIterator<Item = String>) -> Result<Args, String> {
    let mut conf = None;
    let mut command: Option<Command> = None;
    let mut daemon = false;
    let mut args = args.into_iter();
    let set = |c: Command, arg: &str, command: &mut Option<Command>| match command {
        Some(prev) if *prev != c => Err(format!("`{arg}` conflicts with an earlier command")),
        _ => {
            *command = Some(c);
            Ok(())
        }
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-c" | "--config" => match args.next() {
                Some(file) if !file.is_empty() => conf = Some(file),
                _ => return Err(format!("`{arg}` needs a config file")),
            },
            "-d" | "--daemon" => daemon = true,
            "-h" | "--help" | "help" => {
                return Ok(Args { conf: String::new(), command: Command::Help })
            }
            "start" => set(Command::Start, &arg, &mut command)?,
            "stop" => set(Command::Stop, &arg, &mut command)?,
            "restart" => set(Command::Restart, &arg, &mut command)?,
            "status" => set(Command::Status, &arg, &mut command)?,
            other if other.starts_with("-c") && other.len() > 2 => conf = Some(other[2..].into()),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    let command = match (command, daemon) {
        (None, false) => Command::Foreground,
        (None, true) | (Some(Command::Start), _) => Command::Start,
        (Some(Command::Restart), _) => Command::Restart,
        (Some(c), false) => c,
        (Some(_), true) => return Err("`-d` goes with `start` or `restart` only".into()),
    };
    Ok(Args { conf: conf.unwrap_or_else(|| format!("{name}_svr.conf")), command })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(args: &[&str], expect: Result<(&str, Command), &str>) {
        let got = parse("echo", args.iter().map(|s| s.to_string()));
        match (got, expect) {
            (Ok(a), Ok((conf, command))) => {
                assert_eq!((a.conf.as_str(), a.command), (conf, command), "{args:?}")
            }
            (Err(e), Err(want)) => assert!(e.contains(want), "{args:?}: {e}"),
            (got, want) => panic!("{args:?}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn commands_and_defaults() {
        check(&[], Ok(("echo_svr.conf", Command::Foreground)));
        check(&["-c", "x.conf"], Ok(("x.conf", Command::Foreground)));
        check(&["-cx.conf", "status"], Ok(("x.conf", Command::Status)));
        check(&["-d"], Ok(("echo_svr.conf", Command::Start)));
        check(&["-d", "start"], Ok(("echo_svr.conf", Command::Start)));
        check(&["restart", "-d", "-c", "a"], Ok(("a", Command::Restart)));
        check(&["stop"], Ok(("echo_svr.conf", Command::Stop)));
        check(&["-h", "stop"], Ok(("", Command::Help)));
    }

    #[test]
    fn errors() {
        check(&["-c"], Err("`-c` needs a config file"));
        check(&["-x"], Err("unknown argument `-x`"));
        check(&["stop", "start"], Err("conflicts"));
        check(&["-d", "status"], Err("`-d` goes with"));
    }
}
