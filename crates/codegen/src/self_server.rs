//! Renders `src/generated/self_server.rs` (the trait with one method per self_server group
//! and the table that runs them) and the user's `src/self_workers.rs` stubs.

use crate::emit::Code;
use crate::model::{Dispatch, Service};
use crate::names::{camel, ident, lit};

/// `EchoSelfServer` for app `echo`.
pub(crate) fn trait_name(service: &Service) -> String {
    format!("{}SelfServer", camel(&service.app))
}

/// `(handler method, group name, worker_sum, coroutine_sum)` per group.
pub(crate) fn groups(service: &Service) -> Vec<(String, String, u32, Option<u32>)> {
    match service.self_server.as_ref().map(|s| &s.dispatch) {
        None => Vec::new(),
        Some(Dispatch::Simple { worker_sum, coroutine_sum }) => {
            vec![("work".to_string(), "default".to_string(), *worker_sum, *coroutine_sum)]
        }
        Some(Dispatch::Custom(gs)) => gs
            .iter()
            .map(|g| (g.method.clone(), g.name.clone(), g.worker_sum, g.coroutine_sum))
            .collect(),
    }
}

fn group_doc(service: &Service, group: &str, workers: u32, coroutines: Option<u32>) -> String {
    let wt = service.self_server.as_ref().map_or("thread", |s| s.worker_type.as_str());
    let co = coroutines.map_or(String::new(), |c| format!(", {c} coroutines each"));
    format!("Group `{group}`: {workers} {wt} worker(s){co}.")
}

pub(crate) fn render(service: &Service, header: &str) -> String {
    let tr = trait_name(service);
    let gs = groups(service);
    let simple =
        matches!(service.self_server.as_ref().map(|s| &s.dispatch), Some(Dispatch::Simple { .. }));
    let mut c = Code::new();
    c.line(header);
    if gs.is_empty() {
        c.line(format!(
            "//! The `{}` IDL has no `self_server`; this trait has no methods until it does.",
            service.app
        ));
    } else {
        c.line(format!(
            "//! The `{}` self_server: one method per worker group, run until the server stops.",
            service.app
        ));
    }
    c.blank();
    let mut uses = vec!["use svrkit::worker::WorkerContext;".to_string()];
    if !gs.is_empty() {
        uses.push("use std::future::Future;".to_string());
    }
    c.use_groups(uses);
    c.doc(
        "Background workers that take no RPC requests. Implement it in `src/self_workers.rs`.\n\n\
         Each method is one worker's whole life: it should return only once `ctx.stop()`\n\
         fires; a worker that returns early or panics is restarted.",
    );
    if gs.is_empty() {
        c.line(format!("pub trait {tr}: Send + Sync + 'static {{}}"));
    } else {
        c.open(format!("pub trait {tr}: Send + Sync + 'static {{"));
        for (i, (method, group, w, co)) in gs.iter().enumerate() {
            if i > 0 {
                c.blank();
            }
            c.doc(&group_doc(service, group, *w, *co));
            c.list(
                &format!("fn {}(", ident(method)),
                &["&self".to_string(), "ctx: WorkerContext".to_string()],
                ") -> impl Future<Output = ()> + Send;",
            );
        }
        c.close("}");
    }
    c.blank();
    if simple {
        c.doc("Group names the server config may use (`simple` dispatch: any name runs `work`).");
    } else {
        c.doc("The group names of the IDL (`[self_groupN] group_name` in the server config).");
    }
    let names: Vec<String> = gs.iter().map(|(_, g, _, _)| lit(g)).collect();
    c.line(format!("pub const GROUPS: &[&str] = &[{}];", names.join(", ")));
    c.blank();
    c.doc("Run one worker of `ctx.group()` until it returns.");
    let (w, cx) = if gs.is_empty() { ("_workers", "ctx") } else { ("workers", "ctx") };
    c.open(format!("pub async fn run_worker<S: {tr}>({w}: &S, {cx}: WorkerContext) {{"));
    if gs.is_empty() {
        c.line("// No groups: a worker of an unknown group stops at once.");
        c.line("ctx.stop().stopped().await;");
    } else if simple {
        c.line("workers.work(ctx).await;");
    } else {
        c.open("match ctx.group() {");
        for (method, group, _, _) in &gs {
            c.line(format!("{} => workers.{}(ctx.clone()).await,", lit(group), ident(method)));
        }
        c.line("// Unknown groups are refused at start-up; stay idle until stopped.");
        c.line("_ => ctx.stop().stopped().await,");
        c.close("}");
    }
    c.close("}");
    c.finish()
}

/// The user's method for one group, as a stub.
pub(crate) fn worker_method(method: &str, group: &str) -> String {
    format!(
        "async fn {}(&self, ctx: WorkerContext) {{\n    \
         // The work of group `{group}` goes here; return once `ctx.stop()` fires.\n    \
         ctx.stop().stopped().await;\n}}",
        ident(method)
    )
}
