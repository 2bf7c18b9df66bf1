//! A fleet of simulated Kubernetes API servers, each on its own loopback port, that Berth's
//! unchanged `kube::Client` talks to: the demo fleet a newcomer sees, and the cluster every
//! test runs against.
//!
//! It serves the resources Berth uses with their real shapes (checked against k8s-openapi
//! types), server-side apply with per-manager field ownership, resourceVersion concurrency,
//! selectors, paging and watches, namespace termination, Kubernetes `Status` errors,
//! discovery and `/version`; and it takes injected faults (latency, 500s, hangs, down).
//! It does not schedule pods, run controllers or enforce admission: tests play those parts
//! through [`SimCluster::set_status`] and [`SimCluster::create`].
#![forbid(unsafe_code)]

mod admission;
mod api;
mod apply;
pub mod cluster;
pub mod fleet;
mod openapi;
pub mod resources;
mod select;
pub mod spec;
pub mod status;
pub mod store;
mod validate;

pub use cluster::{FaultSettings, Settings, SimCluster};
pub use fleet::Fleet;
pub use spec::{ClusterSpec, FleetSpec};
