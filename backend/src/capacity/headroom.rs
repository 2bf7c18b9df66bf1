//! How many more pods of a shape fit in a pool, by first-fit-decreasing over each node's free
//! allocatable, and the capacity left stranded on nodes where the shape no longer fits.

/// A node's free allocatable: allocatable minus the requests of the pods bound to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Free {
    pub cpu_millis: i64,
    pub memory_bytes: i64,
    pub pods: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub cpu_millis: i64,
    pub memory_bytes: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Packing {
    pub fits: i64,
    pub free: Free,
    /// Free capacity left on nodes once no further pod of the shape fits there.
    pub stranded: Free,
    /// Pods placed per node, in the order the nodes were given.
    pub per_node: Vec<i64>,
}

/// How many more pods of one shape fit, and what is stranded afterwards. First-fit-decreasing
/// of identical items fills each node in turn until the shape no longer fits there, so the
/// count per node is the smallest of free cpu / shape cpu, free memory / shape memory and free
/// pod slots.
pub fn pack(nodes: &[Free], shape: Shape) -> Packing {
    let mut out = Packing::default();
    for n in nodes {
        let n = Free {
            cpu_millis: n.cpu_millis.max(0),
            memory_bytes: n.memory_bytes.max(0),
            pods: n.pods.max(0),
        };
        out.free.cpu_millis += n.cpu_millis;
        out.free.memory_bytes += n.memory_bytes;
        out.free.pods += n.pods;
        let by_cpu = if shape.cpu_millis > 0 {
            n.cpu_millis / shape.cpu_millis
        } else {
            i64::MAX
        };
        let by_mem = if shape.memory_bytes > 0 {
            n.memory_bytes / shape.memory_bytes
        } else {
            i64::MAX
        };
        let k = by_cpu.min(by_mem).min(n.pods);
        out.fits += k;
        out.per_node.push(k);
        out.stranded.cpu_millis += n.cpu_millis - k * shape.cpu_millis;
        out.stranded.memory_bytes += n.memory_bytes - k * shape.memory_bytes;
        out.stranded.pods += n.pods - k;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const GI: i64 = 1 << 30;

    #[test]
    fn packs_node_by_node_and_counts_what_is_stranded() {
        let nodes = [
            Free {
                cpu_millis: 3500,
                memory_bytes: 16 * GI,
                pods: 100,
            },
            Free {
                cpu_millis: 800,
                memory_bytes: 64 * GI,
                pods: 100,
            },
            Free {
                cpu_millis: 8000,
                memory_bytes: 3 * GI,
                pods: 2,
            },
        ];
        let p = pack(
            &nodes,
            Shape {
                cpu_millis: 1000,
                memory_bytes: 2 * GI,
            },
        );
        assert_eq!(p.per_node, vec![3, 0, 1]);
        assert_eq!(p.fits, 4);
        assert_eq!(p.stranded.cpu_millis, 500 + 800 + 7000);
        assert_eq!(p.stranded.memory_bytes, 10 * GI + 64 * GI + GI);
    }
}
