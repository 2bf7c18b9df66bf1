//! The quota a namespace should have from its recommendations and peak usage, and filing it
//! as a quota change with that evidence.

use berth_frontend::api::{
    Amounts, NamespaceRecommendations, QuotaChange, QuotaSpec, QuotaSuggestion,
    RecommendationQuery, RequestDetail, RightSizeInput, Scope, SpecChoice,
};

use crate::{
    auth::Ctx,
    error::Result,
    fleet::inventory::{amount, cpu_millis},
    App,
};

use super::*;

pub(super) const CPU_STEP_MILLIS: i64 = 100;
pub(super) const MEMORY_STEP_BYTES: i64 = 256 * 1024 * 1024;

pub(super) fn round_up(v: f64, step: i64) -> i64 {
    (((v / step as f64) - 1e-9).ceil() as i64).max(1) * step
}

pub(super) fn cpu_text(millis: i64) -> String {
    if millis % 1000 == 0 {
        format!("{}", millis / 1000)
    } else {
        format!("{millis}m")
    }
}

pub(super) fn memory_text(bytes: i64) -> String {
    let mi = bytes / (1024 * 1024);
    if mi % 1024 == 0 {
        format!("{}Gi", mi / 1024)
    } else {
        format!("{mi}Mi")
    }
}

/// The quota a namespace needs: the larger of its recommended requests (all replicas) and its
/// observed peak usage, plus 25% for rollouts; limits keep the current limits ÷ requests ratio.
pub async fn quota_suggestion(
    app: &App,
    ctx: &Ctx,
    cluster: &str,
    name: &str,
) -> Result<QuotaSuggestion> {
    let rec = recommendations_with(
        app,
        ctx,
        cluster,
        name,
        RecommendationQuery::default(),
        Stats::Peaks,
    )
    .await?;
    let s = subject(&mut *app.db.acquire().await?, ctx, cluster, name).await?;
    Ok(suggest(&s.quota, s.used, &rec))
}

pub fn suggest(
    current: &QuotaSpec,
    used: Option<Amounts>,
    rec: &NamespaceRecommendations,
) -> QuotaSuggestion {
    let mut reasoning = Vec::new();
    let rec_cpu = rec.totals.recommended_cpu_cores;
    let rec_mem = rec.totals.recommended_memory_gib * GIB;
    let peak_cpu = rec.peak_cpu_cores.unwrap_or(0.0);
    let peak_mem = rec.peak_memory_bytes.unwrap_or(0.0);
    reasoning.push(format!(
        "Recommended requests over all running replicas ({} strategy, {} h): {:.2} cores, {:.2} GiB.",
        rec.strategy.as_str(),
        rec.history_hours,
        rec_cpu,
        rec_mem / GIB
    ));
    reasoning.push(format!(
        "Peak usage of the whole namespace: {:.2} cores, {:.2} GiB.",
        peak_cpu,
        peak_mem / GIB
    ));
    let need_cpu = rec_cpu.max(peak_cpu) * 1000.0;
    let need_mem = rec_mem.max(peak_mem);
    let requests_cpu = round_up(need_cpu * QUOTA_HEADROOM, CPU_STEP_MILLIS);
    let requests_memory = round_up(need_mem * QUOTA_HEADROOM, MEMORY_STEP_BYTES);
    reasoning.push(format!(
        "requests = the larger of the two × {QUOTA_HEADROOM} for a rolling update's surge, rounded up to 100m and 256Mi: {} and {}.",
        cpu_text(requests_cpu),
        memory_text(requests_memory)
    ));
    let ratio = |limit: Option<i64>, request: Option<i64>| match (limit, request) {
        (Some(l), Some(r)) if r > 0 => (l as f64 / r as f64).max(1.0),
        _ => 1.0,
    };
    let cpu_ratio = ratio(
        cpu_millis(&current.limits_cpu),
        cpu_millis(&current.requests_cpu),
    );
    let mem_ratio = ratio(
        amount(&current.limits_memory),
        amount(&current.requests_memory),
    );
    let limits_cpu = round_up(requests_cpu as f64 * cpu_ratio, CPU_STEP_MILLIS);
    let limits_memory = round_up(requests_memory as f64 * mem_ratio, MEMORY_STEP_BYTES);
    reasoning.push(format!(
        "limits keep today's limits ÷ requests ({cpu_ratio:.2} for CPU, {mem_ratio:.2} for memory): {} and {}.",
        cpu_text(limits_cpu),
        memory_text(limits_memory)
    ));
    if let Some(u) = used {
        if u.cpu_millis > requests_cpu || u.memory_bytes > requests_memory {
            reasoning.push(
                "The pods running now request more than this: right-size the workloads first, or new pods will be refused."
                    .into(),
            );
        }
    }
    QuotaSuggestion {
        cluster: rec.cluster.clone(),
        namespace: rec.namespace.clone(),
        current: current.clone(),
        suggested: QuotaSpec {
            requests_cpu: cpu_text(requests_cpu),
            requests_memory: memory_text(requests_memory),
            limits_cpu: cpu_text(limits_cpu),
            limits_memory: memory_text(limits_memory),
            ..current.clone()
        },
        used,
        peak_cpu_cores: rec.peak_cpu_cores,
        peak_memory_bytes: rec.peak_memory_bytes,
        recommended_cpu_cores: rec_cpu,
        recommended_memory_gib: rec_mem / GIB,
        reasoning,
        strategy: rec.strategy,
        history_hours: rec.history_hours,
        generated_at: rec.generated_at,
    }
}

/// Files a quota change with the given CPU and memory (prefilled from the suggestion) and
/// attaches the suggestion Berth computes now as the approver's evidence.
pub async fn request_right_size(
    app: &App,
    ctx: &Ctx,
    cluster: &str,
    name: &str,
    input: RightSizeInput,
) -> Result<RequestDetail> {
    ctx.require(Scope::Request)?;
    let evidence = quota_suggestion(app, ctx, cluster, name).await?;
    let change = QuotaChange {
        purpose: input.purpose,
        spec: SpecChoice {
            quota: Some(QuotaSpec {
                requests_cpu: input.requests_cpu,
                requests_memory: input.requests_memory,
                limits_cpu: input.limits_cpu,
                limits_memory: input.limits_memory,
                ..evidence.current.clone()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    crate::tenancy::requests::quota_change_with_evidence(
        app,
        ctx,
        cluster,
        name,
        change,
        Some(evidence),
    )
    .await
}

// ---------------------------------------------------------------------------------------
// Planning, headroom and placement
