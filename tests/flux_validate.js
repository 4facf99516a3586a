// Validates Flux with the official language server (npm @influxdata/flux-lsp-node, `npm ci`).
// stdin: a JSON array of Flux sources. stdout: a JSON array of {valid, errors} in the same
// order; errors are the parser's messages (a semantic failure, e.g. a wrong argument type or
// an unknown function, has none: is_valid_flux only answers yes or no).
"use strict";
const path = require("path");
const flux = require(path.join(__dirname, "..", "node_modules", "@influxdata", "flux-lsp-node"));

function parseErrors(node, found) {
  if (Array.isArray(node)) {
    node.forEach((child) => parseErrors(child, found));
  } else if (node && typeof node === "object") {
    if (typeof node.type === "string" && node.type.startsWith("Bad") && node.location) {
      const at = node.location.start;
      found.push(`${node.type} at ${at.line}:${at.column}: ${JSON.stringify(node.location.source)}`);
    }
    for (const [key, value] of Object.entries(node)) {
      if (key === "errors" && Array.isArray(value)) {
        value.forEach((e) => found.push(typeof e === "string" ? e : e.msg || JSON.stringify(e)));
      } else {
        parseErrors(value, found);
      }
    }
  }
  return found;
}

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => { input += chunk; });
process.stdin.on("end", () => {
  const results = JSON.parse(input).map((source) => {
    const valid = flux.is_valid_flux(source);
    const errors = valid ? [] : parseErrors(flux.parse(source), []);
    return { valid, errors };
  });
  process.stdout.write(JSON.stringify(results));
});
