//! `berth-fleet-sim`: runs a simulated fleet as its own process and writes a kubeconfig with
//! a context per cluster, for kubectl, benchmarks, or a Berth that is not running the demo
//! fleet itself.
//!
//! ```text
//! berth-fleet-sim --kubeconfig-out fleet.kubeconfig                # the demo fleet
//! berth-fleet-sim --generate 100x500 --kubeconfig-out fleet.kubeconfig
//! berth-fleet-sim --fleet my-fleet.yaml --kubeconfig-out fleet.kubeconfig
//! ```

use berth_fleet_sim::{Fleet, FleetSpec};

fn usage() -> ! {
    eprintln!("usage: berth-fleet-sim [--fleet FILE.yaml | --generate CLUSTERSxNODES] --kubeconfig-out FILE");
    std::process::exit(2)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (mut spec, mut out) = (None, None);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--fleet" => {
                spec = Some(FleetSpec::from_yaml(&std::fs::read_to_string(
                    args.next().unwrap_or_else(|| usage()),
                )?)?)
            }
            "--generate" => {
                let value = args.next().unwrap_or_else(|| usage());
                let (clusters, nodes) = value.split_once('x').unwrap_or_else(|| usage());
                spec = Some(FleetSpec::generated(clusters.parse()?, nodes.parse()?));
            }
            "--kubeconfig-out" => out = Some(args.next().unwrap_or_else(|| usage())),
            _ => usage(),
        }
    }
    let out = out.unwrap_or_else(|| usage());
    let fleet = Fleet::start(spec.unwrap_or_else(FleetSpec::demo)).await?;
    let partial = format!("{out}.partial");
    std::fs::write(&partial, fleet.kubeconfig())?;
    std::fs::rename(&partial, &out)?;
    eprintln!(
        "{} simulated clusters serving; kubeconfig in {out}",
        fleet.len()
    );
    tokio::signal::ctrl_c().await?;
    Ok(())
}
