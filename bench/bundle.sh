#!/usr/bin/env bash
# What each page downloads before it is interactive, gzip -9: the shell (berth.js, berth.wasm,
# the split loader) plus the chunks of the page's group, from the split manifest that the
# server also uses for preloading. Run after scripts/build-site.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 - <<'PY'
import gzip, json, pathlib, re
pkg = pathlib.Path("target/site/pkg")
gz = lambda p: len(gzip.compress(p.read_bytes(), 9))
shell = gz(pkg / "berth.wasm") + gz(pkg / "berth.js") + gz(pkg / "__wasm_split.______________________.js")
manifest = json.loads((pkg / "__wasm_split_manifest.json").read_text())
routes = {}
for line in pathlib.Path("frontend/src/routes.rs").read_text().splitlines():
    group = re.match(r"\s+(\w+_pages) / ", line)
    if group:
        current = group.group(1)
    page = re.match(r'\s+"([^"]+)" \w+ =>', line)
    if page:
        routes.setdefault(current, []).append(page.group(1))
chunks = sorted(pkg.glob("*.wasm"))
print(f"shell (login and not-found pages): {shell:,} bytes")
print(f"all wasm: {sum(gz(c) for c in chunks):,} bytes in {len(chunks)} files")
for key, files in sorted(manifest.items()):
    group = key.split("_1")[0].lstrip("_")
    size = sum(gz(pkg / f"{f}.wasm") for f in files)
    print(f"{group:16} {shell + size:>9,} bytes ({len(files)} chunks)  {' '.join(routes.get(group, []))}")
PY
