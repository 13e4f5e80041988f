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
    let mut uses =
        vec!["use std::sync::Arc;".to_string(), "use svrkit::server::SelfGroups;".to_string()];
    if !gs.is_empty() {
        uses.push("use std::future::Future;".to_string());
        uses.push("use svrkit::SelfWorker;".to_string());
    }
    c.use_groups(uses);
    c.doc(
        "Background workers that take no RPC requests. Implement it in `src/self_workers.rs`.\n\n\
         Each method is one worker's whole life: it should return only once\n\
         `worker.stop_token()` fires; a worker that returns early or panics is restarted.",
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
            c.line(format!(
                "fn {}(&self, worker: SelfWorker) -> impl Future<Output = ()> + Send;",
                ident(method)
            ));
        }
        c.close("}");
    }
    c.blank();
    c.doc("The groups of the self_server, each bound to its method of `workers`.");
    let used = if gs.is_empty() { "_workers" } else { "workers" };
    c.open(format!("pub fn groups<S: {tr}>({used}: Arc<S>) -> SelfGroups {{"));
    if gs.is_empty() {
        c.line("SelfGroups::new()");
    } else {
        c.line("let mut groups = SelfGroups::new();");
        for (method, group, _, _) in &gs {
            c.open("{");
            c.line("let workers = Arc::clone(&workers);");
            c.open(format!("groups.add({}, move |worker| {{", lit(group)));
            c.line("let workers = Arc::clone(&workers);");
            c.line(format!("async move {{ workers.{}(worker).await }}", ident(method)));
            c.close("});");
            c.close("}");
        }
        c.line("groups");
    }
    c.close("}");
    c.finish()
}

/// The user's method for one group, as a stub.
pub(crate) fn worker_method(service: &Service, method: &str, group: &str) -> String {
    let _ = service;
    format!(
        "async fn {}(&self, worker: SelfWorker) {{\n    \
         // The work of group `{group}` goes here (loop until the stop token fires).\n    \
         worker.stop_token().stopped().await;\n}}",
        ident(method)
    )
}
