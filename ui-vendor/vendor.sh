#!/usr/bin/env bash
# `make vendor-ui`: fetch the pinned front-end libraries with npm (package-lock.json holds
# the exact versions and hashes) and copy their minified files and licences into
# mlvc/ui/static/vendor. The copies are committed: the page works offline, from the wheel.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/../mlvc/ui/static/vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$here/package.json" "$here/package-lock.json" "$work/"
(cd "$work" && npm ci --no-audit --no-fund --ignore-scripts --silent)
m="$work/node_modules"
rm -rf "$out" && mkdir -p "$out"
cp "$m/cytoscape/dist/cytoscape.min.js" "$out/"
cp "$m/cytoscape/LICENSE" "$out/cytoscape.LICENSE"
cp "$m/dagre/dist/dagre.min.js" "$out/"  # bundles graphlib and lodash
cp "$m/dagre/LICENSE" "$out/dagre.LICENSE"
cp "$m/graphlib/LICENSE" "$out/graphlib.LICENSE"
cp "$m/lodash/LICENSE" "$out/lodash.LICENSE"
cp "$m/cytoscape-dagre/cytoscape-dagre.js" "$out/"
cp "$m/cytoscape-dagre/LICENSE" "$out/cytoscape-dagre.LICENSE"
cp "$m/uplot/dist/uPlot.iife.min.js" "$m/uplot/dist/uPlot.min.css" "$out/"
cp "$m/uplot/LICENSE" "$out/uplot.LICENSE"
echo "vendored into $out:" && ls "$out"
