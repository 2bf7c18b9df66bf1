//! `berth-wasm-split <input.wasm> <pkg-dir>`: splits the linked hydrate module (built with
//! `--emit-relocs`) at its `#[lazy_route]`s into `<pkg-dir>`, the way cargo-leptos does, so
//! that wasm-bindgen then runs on `<pkg-dir>/berth_split.wasm`.
//!
//! `berth-wasm-split compress <pkg-dir>`: writes a brotli (`.br`) and a gzip (`.gz`) copy of
//! every file the browser fetches, at the highest levels, once per build; the server sends
//! them to browsers that accept them (a request-time compressor would spend seconds of CPU on
//! each megabyte at those levels).
//!
//! The loader is named as Leptos' `HydrationScripts` expects it
//! (`__wasm_split.______________________.js`), and `__wasm_split_manifest.json` tells the
//! server which chunks to preload for the page it renders.
//!
//! The chunks keep the input's custom sections (function names above all, more than half of a
//! chunk's bytes), which wasm-bindgen strips only from the main module; a browser needs none of
//! them, so they are dropped.

use std::{collections::BTreeMap, path::PathBuf};

use anyhow::{bail, Context, Result};

/// The loader's name when files are not hashed (see `leptos::HydrationScripts`).
const LINK_NAME: &str = "./__wasm_split.______________________.js";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [command, pkg_dir] if command == "compress" => compress(&PathBuf::from(pkg_dir)),
        [input, pkg_dir] => split(input, pkg_dir),
        _ => bail!(
            "usage: berth-wasm-split <input.wasm> <pkg-dir> | berth-wasm-split compress <pkg-dir>"
        ),
    }
}

/// Writes `<file>.br` and `<file>.gz` beside every wasm, JavaScript, CSS, JSON and SVG file
/// of `dir`.
fn compress(dir: &std::path::Path) -> Result<()> {
    use std::io::Write;
    let (mut raw, mut br, mut gz) = (0, 0, 0);
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let served = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "wasm" | "js" | "css" | "json" | "svg"));
        if !served {
            continue;
        }
        let data = std::fs::read(&path)?;
        let mut brotli = Vec::new();
        let params = brotli::enc::BrotliEncoderParams {
            quality: 11,
            lgwin: 24,
            ..Default::default()
        };
        brotli::BrotliCompress(&mut data.as_slice(), &mut brotli, &params)?;
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gzip.write_all(&data)?;
        let gzip = gzip.finish()?;
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        std::fs::write(dir.join(format!("{name}.br")), &brotli)?;
        std::fs::write(dir.join(format!("{name}.gz")), &gzip)?;
        (raw, br, gz) = (raw + data.len(), br + brotli.len(), gz + gzip.len());
    }
    println!("compressed {raw} bytes to {br} (brotli) and {gz} (gzip)");
    Ok(())
}

fn split(input: &str, pkg_dir: &str) -> Result<()> {
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
    for chunk in &split.split_modules {
        let wasm = std::fs::read(chunk).with_context(|| format!("reading {}", chunk.display()))?;
        std::fs::write(chunk, without_custom_sections(&wasm)?)
            .with_context(|| format!("writing {}", chunk.display()))?;
    }
    let manifest: BTreeMap<_, _> = split.prefetch_map.into_iter().collect();
    std::fs::write(
        pkg_dir.join("__wasm_split_manifest.json"),
        serde_json::to_string_pretty(&manifest)?,
    )?;
    println!("{} chunks", split.split_modules.len());
    Ok(())
}

/// `wasm` without its custom sections (names, producers, target features).
fn without_custom_sections(wasm: &[u8]) -> Result<Vec<u8>> {
    let mut module = wasm_encoder::Module::new();
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        let payload = payload?;
        if let wasmparser::Payload::CustomSection(_) = payload {
            continue;
        }
        if let Some((id, range)) = payload.as_section() {
            module.section(&wasm_encoder::RawSection {
                id,
                data: &wasm[usize::try_from(range.start)?..usize::try_from(range.end)?],
            });
        }
    }
    Ok(module.finish())
}
