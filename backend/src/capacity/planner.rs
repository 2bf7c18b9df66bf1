//! Replica and HPA planning from the platform guide's capacity model:
//! `target_replicas = peak_traffic / pod_steady_capacity × safety_factor` and
//! `cluster_reserved_capacity = peak_increment × scale_up_time / node_capacity`, with the
//! flash-sale pre-scale (70% of the target replicas 30 minutes before the event).

use berth_frontend::api::{PlanInput, PlanOutput, PreScaleStep};
use time::Duration;

use crate::error::{Error, FieldErrors, Result};

pub const PRE_SCALE_SHARE: f64 = 0.7;
pub const PRE_SCALE_LEAD_MINUTES: i64 = 30;
/// Fewer than two replicas cannot survive a node drain under a PodDisruptionBudget.
pub const MIN_REPLICAS: u32 = 2;

fn positive(errors: &mut FieldErrors, field: &str, value: f64) {
    if !value.is_finite() || value <= 0.0 {
        errors.insert(field.into(), "must be a number greater than 0".into());
    }
}

pub fn plan(input: &PlanInput) -> Result<PlanOutput> {
    let mut errors = FieldErrors::new();
    positive(&mut errors, "peak_traffic", input.peak_traffic);
    positive(&mut errors, "pod_capacity", input.pod_capacity);
    positive(&mut errors, "pods_per_node", input.pods_per_node);
    if !input.safety_factor.is_finite() || input.safety_factor < 1.0 {
        errors.insert("safety_factor".into(), "must be at least 1".into());
    }
    if !input.baseline_traffic.is_finite() || input.baseline_traffic < 0.0 {
        errors.insert("baseline_traffic".into(), "must be 0 or more".into());
    } else if input.baseline_traffic > input.peak_traffic {
        errors.insert("baseline_traffic".into(), "must not exceed the peak".into());
    }
    if !input.peak_increment.is_finite() || input.peak_increment < 0.0 {
        errors.insert("peak_increment".into(), "must be 0 or more".into());
    }
    for (field, v) in [
        ("pod_startup_seconds", input.pod_startup_seconds),
        ("node_ready_seconds", input.node_ready_seconds),
    ] {
        if !v.is_finite() || v < 0.0 {
            errors.insert(field.into(), "must be 0 or more seconds".into());
        }
    }
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    let replicas =
        |traffic: f64| (traffic / input.pod_capacity * input.safety_factor).ceil() as u32;
    let target = replicas(input.peak_traffic).max(MIN_REPLICAS);
    let hpa_min = replicas(input.baseline_traffic).clamp(MIN_REPLICAS, target);
    let scale_up_seconds = input.pod_startup_seconds + input.node_ready_seconds;
    let node_capacity = input.pod_capacity * input.pods_per_node;
    let reserve = input.peak_increment * scale_up_seconds / node_capacity;
    let pre_scale = input.event_at.map(|at| {
        let replicas = ((target as f64) * PRE_SCALE_SHARE).ceil() as u32;
        vec![
            PreScaleStep {
                at: at - Duration::minutes(PRE_SCALE_LEAD_MINUTES),
                min_replicas: replicas.max(hpa_min),
                note: format!(
                    "raise the HPA minimum to {}% of the target replicas",
                    (PRE_SCALE_SHARE * 100.0) as u32
                ),
            },
            PreScaleStep {
                at,
                min_replicas: target,
                note: "the event starts: hold the target replicas".into(),
            },
        ]
    });
    Ok(PlanOutput {
        target_replicas: target,
        hpa_min_replicas: hpa_min,
        hpa_max_replicas: target,
        hpa_target_utilization_percent: (100.0 / input.safety_factor).floor() as u32,
        scale_up_seconds,
        node_capacity,
        reserve_nodes: reserve,
        reserve_nodes_rounded: reserve.ceil() as u32,
        pre_scale: pre_scale.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> PlanInput {
        PlanInput {
            peak_traffic: 12_000.0,
            baseline_traffic: 2_000.0,
            pod_capacity: 400.0,
            safety_factor: 1.5,
            pod_startup_seconds: 45.0,
            node_ready_seconds: 120.0,
            pods_per_node: 8.0,
            peak_increment: 50.0,
            event_at: Some(time::macros::datetime!(2026-11-11 00:00 UTC)),
        }
    }

    #[test]
    fn the_guides_formulae() {
        let out = plan(&input()).unwrap();
        // 12000 / 400 × 1.5 = 45; 2000 / 400 × 1.5 = 7.5 → 8.
        assert_eq!(out.target_replicas, 45);
        assert_eq!(out.hpa_min_replicas, 8);
        assert_eq!(out.hpa_max_replicas, 45);
        assert_eq!(out.hpa_target_utilization_percent, 66);
        // 50 rps/s × 165 s / (400 × 8) = 2.578… nodes.
        assert!((out.reserve_nodes - 2.578125).abs() < 1e-9);
        assert_eq!(out.reserve_nodes_rounded, 3);
        assert_eq!(out.pre_scale[0].min_replicas, 32); // ceil(45 × 0.7)
        assert_eq!(
            out.pre_scale[0].at,
            time::macros::datetime!(2026-11-10 23:30 UTC)
        );
    }

    #[test]
    fn nonsense_is_refused_by_field() {
        let mut bad = input();
        bad.pod_capacity = 0.0;
        bad.pods_per_node = -1.0;
        bad.safety_factor = 0.9;
        bad.peak_traffic = f64::NAN;
        let Err(Error::Invalid(f)) = plan(&bad) else {
            panic!()
        };
        for k in [
            "pod_capacity",
            "pods_per_node",
            "safety_factor",
            "peak_traffic",
        ] {
            assert!(f.contains_key(k), "{k}: {f:?}");
        }
    }
}
