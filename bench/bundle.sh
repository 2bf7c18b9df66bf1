#!/usr/bin/env bash
# What each page downloads before it is interactive: the shell (berth.js, berth.wasm, the split
# loader) plus the chunks of the page's group, from the split manifest that the server also
# uses for preloading. Counted as served to a browser that accepts brotli (the .br copies the
# site build writes, which the server sends), and gzip -9 beside it. Run after
# scripts/build-site.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 - <<'PY'
import gzip, json, pathlib, re
pkg = pathlib.Path("target/site/pkg")
br = lambda p: pathlib.Path(f"{p}.br").stat().st_size
gz = lambda p: len(gzip.compress(p.read_bytes(), 9))
shell_files = [pkg / "berth.wasm", pkg / "berth.js", pkg / "__wasm_split.______________________.js"]
shell = (sum(br(f) for f in shell_files), sum(gz(f) for f in shell_files))
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
print(f"{'':16} {'brotli (served)':>15} {'gzip -9':>9}")
print(f"{'shell':16} {shell[0]:>15,} {shell[1]:>9,}  /login and the not-found page")
for key, files in sorted(manifest.items()):
    group = key.split("_1")[0].lstrip("_")
    files = [pkg / f"{f}.wasm" for f in files]
    print(f"{group:16} {shell[0] + sum(br(f) for f in files):>15,} {shell[1] + sum(gz(f) for f in files):>9,}"
          f"  {len(files)} chunks: {' '.join(routes.get(group, []))}")
print(f"{'all wasm':16} {sum(br(c) for c in chunks):>15,} {sum(gz(c) for c in chunks):>9,}  {len(chunks)} files")
PY
