//! Right-sizing arithmetic, free of I/O: KRR's `simple` strategy and a VPA-style decaying
//! histogram. Inputs are per-pod figures Prometheus already reduced; outputs are
//! millicores and bytes.

/// KRR's defaults for the `simple` strategy.
pub const CPU_PERCENTILE: f64 = 0.95;
pub const MEMORY_BUFFER: f64 = 0.15;
pub const POINTS_REQUIRED: u64 = 100;
pub const CPU_FLOOR_MILLIS: i64 = 10;
pub const MEMORY_FLOOR_BYTES: i64 = 100 * 1024 * 1024;

/// What one pod of a workload contributed over the history.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PodUsage {
    pub pod: String,
    /// The CPU usage rate's 95th percentile over the history, in cores.
    pub cpu_p95: Option<f64>,
    /// Points of the CPU series over the history.
    pub cpu_points: u64,
    /// The highest working set over the history, in bytes.
    pub memory_max: Option<f64>,
    pub memory_points: u64,
}

/// A recommendation for one resource, or why there is none.
#[derive(Debug, Clone, PartialEq)]
pub enum Proposal {
    Value(i64),
    Undefined(&'static str),
}

impl Proposal {
    pub fn value(&self) -> Option<i64> {
        match self {
            Proposal::Value(v) => Some(*v),
            Proposal::Undefined(_) => None,
        }
    }

    pub fn info(&self) -> Option<String> {
        match self {
            Proposal::Value(_) => None,
            Proposal::Undefined(why) => Some((*why).to_owned()),
        }
    }
}

/// Rounds cores up to the millicore with the 10m floor, as KRR's runner does
/// (`ceil(value × 1000) / 1000`, no allowance for float noise: 0.5000000000000001 cores is
/// 501m there, so it is here).
pub fn cpu_millis(cores: f64) -> i64 {
    let millis = (cores * 1000.0).ceil() as i64;
    millis.max(CPU_FLOOR_MILLIS)
}

/// Rounds bytes up to the mebibyte (2^20) with the 100 MiB floor, as KRR's runner does
/// (`_round_value` since v1.3; its comment says "1M", its arithmetic is MiB).
pub fn memory_bytes(bytes: f64) -> i64 {
    let mib = (bytes / MIB).ceil() as i64;
    (mib << 20).max(MEMORY_FLOOR_BYTES)
}

const MIB: f64 = 1_048_576.0;

/// KRR's rule for one resource (v1.8.2 on, PR #228): the points of all the workload's pods
/// are summed; under 100 in all there is not enough data, otherwise every pod counts and the
/// answer is the highest value among them. `(value, points)` picks the resource from a pod.
fn simple_peak(
    pods: &[PodUsage],
    pick: impl Fn(&PodUsage) -> (Option<f64>, u64),
    hpa_on_resource: bool,
    allow_hpa: bool,
) -> Result<f64, &'static str> {
    let values: Vec<f64> = pods
        .iter()
        .filter_map(|p| pick(p).0.filter(|v| v.is_finite()))
        .collect();
    if values.is_empty() {
        return Err("No data");
    }
    let points: u64 = pods.iter().map(|p| pick(p).1).sum();
    if points < POINTS_REQUIRED {
        return Err("Not enough data");
    }
    if hpa_on_resource && !allow_hpa {
        return Err("HPA detected");
    }
    Ok(values.into_iter().fold(0.0, f64::max))
}

/// KRR `simple` CPU: the highest 95th percentile of the workload's pods; no limit.
pub fn simple_cpu(pods: &[PodUsage], hpa_on_cpu: bool, allow_hpa: bool) -> Proposal {
    match simple_peak(pods, |p| (p.cpu_p95, p.cpu_points), hpa_on_cpu, allow_hpa) {
        Ok(p95) => Proposal::Value(cpu_millis(p95)),
        Err(why) => Proposal::Undefined(why),
    }
}

/// KRR `simple` memory: the highest working-set peak of the workload's pods, plus 15%;
/// request and limit alike.
pub fn simple_memory(pods: &[PodUsage], hpa_on_memory: bool, allow_hpa: bool) -> Proposal {
    match simple_peak(
        pods,
        |p| (p.memory_max, p.memory_points),
        hpa_on_memory,
        allow_hpa,
    ) {
        Ok(peak) => Proposal::Value(memory_bytes(peak * (1.0 + MEMORY_BUFFER))),
        Err(why) => Proposal::Undefined(why),
    }
}

/// KRR's buffer over an OOMKilled container's memory limit (`oom_memory_buffer_percentage`).
pub const OOM_BUFFER: f64 = 0.25;

/// KRR `simple` memory with `--use_oomkill_data`: at least the highest memory limit at
/// which one of the workload's containers was OOMKilled, plus 25%; otherwise as
/// [`simple_memory`] (the same checks come first).
pub fn simple_memory_with_oom(
    pods: &[PodUsage],
    hpa_on_memory: bool,
    allow_hpa: bool,
    oom_limit: Option<f64>,
) -> Proposal {
    match simple_peak(
        pods,
        |p| (p.memory_max, p.memory_points),
        hpa_on_memory,
        allow_hpa,
    ) {
        Ok(peak) => {
            let bumped = oom_limit.map_or(0.0, |l| l * (1.0 + OOM_BUFFER));
            Proposal::Value(memory_bytes((peak * (1.0 + MEMORY_BUFFER)).max(bumped)))
        }
        Err(why) => Proposal::Undefined(why),
    }
}

/// The VPA recommender's histogram: exponential buckets, samples weighted by an exponential
/// decay with a 24-hour half-life (the weight doubles every half-life after the reference
/// time, which is the same as older samples halving).
#[derive(Debug, Clone)]
pub struct DecayingHistogram {
    first_bucket: f64,
    ratio: f64,
    weights: Vec<f64>,
    reference: f64,
    half_life: f64,
    total: f64,
}

pub const HALF_LIFE_SECONDS: f64 = 24.0 * 3600.0;
pub const BUCKET_GROWTH: f64 = 1.05;
/// VPA: the first CPU bucket is 0.01 cores wide and the first memory bucket 10^7 bytes.
pub const CPU_FIRST_BUCKET: f64 = 0.01;
pub const MEMORY_FIRST_BUCKET: f64 = 1e7;
const CPU_MAX: f64 = 1000.0;
const MEMORY_MAX: f64 = 1e12;

impl DecayingHistogram {
    pub fn cpu(reference: f64) -> Self {
        Self::new(CPU_FIRST_BUCKET, CPU_MAX, reference)
    }

    pub fn memory(reference: f64) -> Self {
        Self::new(MEMORY_FIRST_BUCKET, MEMORY_MAX, reference)
    }

    fn new(first_bucket: f64, max: f64, reference: f64) -> Self {
        let ratio = BUCKET_GROWTH;
        let buckets =
            ((max * (ratio - 1.0) / first_bucket + 1.0).ln() / ratio.ln()).ceil() as usize + 1;
        DecayingHistogram {
            first_bucket,
            ratio,
            weights: vec![0.0; buckets],
            reference,
            half_life: HALF_LIFE_SECONDS,
            total: 0.0,
        }
    }

    /// Where bucket `i` starts: first × (ratio^i − 1) / (ratio − 1).
    pub fn bucket_start(&self, i: usize) -> f64 {
        self.first_bucket * (self.ratio.powi(i as i32) - 1.0) / (self.ratio - 1.0)
    }

    pub fn bucket_of(&self, value: f64) -> usize {
        if value < self.first_bucket {
            return 0;
        }
        let i = ((value * (self.ratio - 1.0) / self.first_bucket + 1.0).ln() / self.ratio.ln())
            .floor() as usize;
        // Guard against the logarithm landing a hair below an exact bucket boundary.
        let i = if self.bucket_start(i + 1) <= value {
            i + 1
        } else {
            i
        };
        i.min(self.weights.len() - 1)
    }

    pub fn add(&mut self, value: f64, weight: f64, at: f64) {
        if !value.is_finite() || !weight.is_finite() || weight <= 0.0 {
            return;
        }
        let w = weight * 2f64.powf((at - self.reference) / self.half_life);
        let b = self.bucket_of(value.max(0.0));
        self.weights[b] += w;
        self.total += w;
    }

    pub fn is_empty(&self) -> bool {
        self.total <= 0.0
    }

    /// The end of the first bucket at which the cumulative weight reaches `p` of the total,
    /// as the VPA answers a percentile.
    pub fn percentile(&self, p: f64) -> f64 {
        if self.is_empty() {
            return 0.0;
        }
        let threshold = p * self.total;
        let mut sum = 0.0;
        for (i, w) in self.weights.iter().enumerate() {
            sum += w;
            if sum >= threshold && *w > 0.0 {
                return self.bucket_start(i + 1);
            }
        }
        self.bucket_start(self.weights.len())
    }

    /// Buckets with weight, as (start, end, share of the total), for charts.
    pub fn shares(&self) -> Vec<(f64, f64, f64)> {
        self.weights
            .iter()
            .enumerate()
            .filter(|(_, w)| **w > 0.0)
            .map(|(i, w)| {
                (
                    self.bucket_start(i),
                    self.bucket_start(i + 1),
                    w / self.total,
                )
            })
            .collect()
    }
}

/// VPA constants: the target is P90, the bounds P50 and P95, all with a 15% margin; the bounds
/// widen while there is little history (confidence in days).
pub const SAFETY_MARGIN: f64 = 0.15;
pub const VPA_CPU_FLOOR_MILLIS: i64 = 25;
pub const VPA_MEMORY_FLOOR_BYTES: i64 = 250 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub lower: f64,
    pub target: f64,
    pub upper: f64,
}

/// `confidence = min(lifespan in days, samples / (60 × 24))`, as the VPA computes it.
pub fn confidence(first: f64, last: f64, samples: u64) -> f64 {
    let lifespan_days = (last - first).max(0.0) / 86_400.0;
    lifespan_days.min(samples as f64 / (60.0 * 24.0))
}

pub fn estimate(h: &DecayingHistogram, confidence: f64) -> Option<Estimate> {
    if h.is_empty() {
        return None;
    }
    let margin = 1.0 + SAFETY_MARGIN;
    let target = h.percentile(0.9) * margin;
    let mut lower = h.percentile(0.5) * margin;
    let mut upper = h.percentile(0.95) * margin;
    if confidence > 0.0 {
        // Lower: × (1 + 0.001 / confidence)^-2; upper: × (1 + 1 / confidence)^1.
        lower *= (1.0 + 0.001 / confidence).powf(-2.0);
        upper *= 1.0 + 1.0 / confidence;
    } else {
        lower = 0.0;
        upper = f64::INFINITY;
    }
    Some(Estimate {
        lower: lower.min(target),
        target,
        upper: upper.max(target),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, cpu: f64, n: u64, mem: f64) -> PodUsage {
        PodUsage {
            pod: name.into(),
            cpu_p95: Some(cpu),
            cpu_points: n,
            memory_max: Some(mem),
            memory_points: n,
        }
    }

    #[test]
    fn simple_takes_the_highest_pod_and_krr_rounding() {
        let pods = [pod("a", 0.2501, 500, 300e6), pod("b", 0.1, 500, 400e6)];
        assert_eq!(simple_cpu(&pods, false, false), Proposal::Value(251));
        // 400 MB × 1.15 = 460 MB = 438.69… MiB, rounded up to 439 MiB.
        assert_eq!(
            simple_memory(&pods, false, false),
            Proposal::Value(439 << 20)
        );
        assert_eq!(memory_bytes((300 << 20) as f64), 300 << 20);
        assert_eq!(memory_bytes((300 << 20) as f64 + 1.0), 301 << 20);
        assert_eq!(cpu_millis(0.001), CPU_FLOOR_MILLIS);
        assert_eq!(memory_bytes(1.0), MEMORY_FLOOR_BYTES);
        // No allowance for float noise: KRR says 501m.
        assert_eq!(cpu_millis(0.5000000000000001), 501);
        assert_eq!(cpu_millis(0.5), 500);
    }

    #[test]
    fn points_are_summed_over_the_workloads_pods_as_current_krr_does() {
        // An old pod with 76 points at 2 cores and a new one at 0.2: together enough, and
        // the old pod counts — 2000m (the per-pod rule of KRR ≤ 1.7.1 said 200m).
        let pods = [pod("old", 2.0, 76, 9e8), pod("new", 0.2, 30, 2e8)];
        assert_eq!(simple_cpu(&pods, false, false), Proposal::Value(2000));
        // Two pods of 52 points: 104 in all — 700m, not "Not enough data".
        let pods = [pod("a", 0.7, 52, 3e8), pod("b", 0.5, 52, 2e8)];
        assert_eq!(simple_cpu(&pods, false, false), Proposal::Value(700));
        assert_eq!(
            simple_cpu(&pods[..1], false, false),
            Proposal::Undefined("Not enough data")
        );
        assert_eq!(
            simple_cpu(&pods, true, false),
            Proposal::Undefined("HPA detected")
        );
        assert_eq!(simple_cpu(&pods, true, true), Proposal::Value(700));
        assert_eq!(
            simple_memory(&[], false, false),
            Proposal::Undefined("No data")
        );
    }

    #[test]
    fn an_oom_kill_raises_memory_to_the_limit_plus_a_quarter() {
        let pods = [pod("a", 0.1, 500, 300.0 * 1048576.0)];
        let mib = |m: i64| m << 20;
        // 512Mi × 1.25 = 640Mi, above 300Mi × 1.15.
        assert_eq!(
            simple_memory_with_oom(&pods, false, false, Some(512.0 * 1048576.0)),
            Proposal::Value(mib(640))
        );
        // A limit below the usual answer changes nothing.
        assert_eq!(
            simple_memory_with_oom(&pods, false, false, Some(100.0 * 1048576.0)),
            simple_memory(&pods, false, false)
        );
        assert_eq!(
            simple_memory_with_oom(&[], false, false, Some(1e9)),
            Proposal::Undefined("No data")
        );
    }

    #[test]
    fn histogram_buckets_and_percentiles_follow_the_vpa() {
        let mut h = DecayingHistogram::cpu(0.0);
        assert_eq!(h.bucket_of(0.0), 0);
        assert_eq!(h.bucket_of(0.0099), 0);
        assert_eq!(h.bucket_of(0.01), 1);
        assert!((h.bucket_start(2) - 0.0205).abs() < 1e-12);
        for _ in 0..10 {
            h.add(0.25, 1.0, 0.0);
        }
        let b = h.bucket_of(0.25);
        assert!(h.bucket_start(b) <= 0.25 && 0.25 < h.bucket_start(b + 1));
        assert_eq!(h.percentile(0.9), h.bucket_start(b + 1));
        // A sample one half-life newer weighs twice as much.
        let mut d = DecayingHistogram::cpu(0.0);
        d.add(0.1, 1.0, 0.0);
        d.add(1.0, 1.0, HALF_LIFE_SECONDS);
        assert!((d.shares()[1].2 - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(d.percentile(0.5), d.bucket_start(d.bucket_of(1.0) + 1));
    }

    #[test]
    fn estimates_widen_with_little_history() {
        let mut h = DecayingHistogram::memory(0.0);
        h.add(5e8, 1.0, 0.0);
        let wide = estimate(&h, 0.5).unwrap();
        let narrow = estimate(&h, 14.0).unwrap();
        assert!(wide.upper > narrow.upper && wide.lower <= narrow.lower);
        assert!((narrow.target - h.percentile(0.9) * 1.15).abs() < 1.0);
        assert_eq!(confidence(0.0, 86_400.0 * 3.0, 1440), 1.0);
    }
}
