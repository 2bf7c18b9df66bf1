//! Berth's server: the service layer (every rule and permission check), storage, and the
//! adapters that translate HTTP and server-function calls into service calls.
//!
//! Open `app.rs` first: it builds the whole application from a [`config::Config`].
#![forbid(unsafe_code)]

pub mod app;
pub mod audit;
pub mod auth;
pub mod capacity;
pub mod config;
pub mod cost;
pub mod demo;
pub mod drills;
pub mod error;
pub mod events;
pub mod fields;
pub mod fleet;
pub mod gitops;
pub mod group_rules;
pub mod http;
pub mod jobs;
pub mod people;
pub use berth_kube::quantity;
pub mod teams;
pub mod telemetry;
pub mod tenancy;
pub mod tokens;
pub mod web;

pub use app::{App, Server};
pub use error::{Error, Result};
