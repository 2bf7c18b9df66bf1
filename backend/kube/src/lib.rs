//! Kubernetes' own rules for the values Berth writes, as kube-apiserver applies them:
//! quantities (`quantity`) and resource names in quotas and LimitRanges (`resources`).
//! Berth parses requests with them; its fleet simulator validates objects with them, so the
//! two cannot drift apart, and both are held to the real server by the parity tests.

#![forbid(unsafe_code)]

pub mod quantity;
pub mod resources;
