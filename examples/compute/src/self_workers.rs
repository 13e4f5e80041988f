//! Your `compute` self_server workers (created by cargo-svrkit from compute.json; `gen` never
//! overwrites it): one method per group, each running until the server stops.

use crate::generated::ComputeSelfServer;
use crate::handlers::Handlers;

impl ComputeSelfServer for Handlers {}
