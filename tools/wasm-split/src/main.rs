//! `berth-wasm-split <input.wasm> <pkg-dir>`: splits the linked hydrate module (built with
//! `--emit-relocs`) at its `#[lazy_route]`s into `<pkg-dir>`, the way cargo-leptos does, so
//! that wasm-bindgen then runs on `<pkg-dir>/berth_split.wasm`.
//!
//! The loader is named as Leptos' `HydrationScripts` expects it
//! (`__wasm_split.______________________.js`), and `__wasm_split_manifest.json` tells the
//! server which chunks to preload for the page it renders.

use std::{collections::BTreeMap, path::PathBuf};

use anyhow::{bail, Context, Result};

/// The loader's name when files are not hashed (see `leptos::HydrationScripts`).
const LINK_NAME: &str = "./__wasm_split.______________________.js";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, pkg_dir] = args.as_slice() else {
        bail!("usage: berth-wasm-split <input.wasm> <pkg-dir>");
    };
    let pkg_dir = PathBuf::from(pkg_dir);
    let input_wasm = std::fs::read(input).with_context(|| format!("reading {input}"))?;
    let main_out = pkg_dir.join("berth_split.wasm");
    let split = wasm_split_cli_support::transform({
        let mut options = wasm_split_cli_support::Options::new(&input_wasm);
        options.output_dir = &pkg_dir;
        options.main_out_path = &main_out;
        options.main_module = "./berth.js";
        options.link_name = LINK_NAME;
        options
    })
    .map_err(|e| anyhow::anyhow!("splitting {input}: {e}"))?;
    let manifest: BTreeMap<_, _> = split.prefetch_map.into_iter().collect();
    std::fs::write(
        pkg_dir.join("__wasm_split_manifest.json"),
        serde_json::to_string_pretty(&manifest)?,
    )?;
    println!("{} chunks", split.split_modules.len());
    Ok(())
}
