// Validates glTF files with the Khronos validator; prints one JSON line per file:
// {"file": ..., "errors": n, "warnings": n, "messages": [first few error/warning messages]}.
// Usage: node validate.js FILE.glb... (exit code 1 if any file has an error).
const fs = require("fs");
const path = require("path");
const validator = require("gltf-validator");

async function validate(file) {
  const report = await validator.validateBytes(new Uint8Array(fs.readFileSync(file)), {
    uri: path.basename(file),
    maxIssues: 100,
  });
  const issues = report.issues;
  const messages = issues.messages
    .filter((m) => m.severity <= 1)
    .slice(0, 10)
    .map((m) => `${m.code} ${m.pointer || ""}: ${m.message}`);
  return { file, errors: issues.numErrors, warnings: issues.numWarnings, messages };
}

(async () => {
  let failed = false;
  for (const file of process.argv.slice(2)) {
    const result = await validate(file);
    failed = failed || result.errors > 0;
    console.log(JSON.stringify(result));
  }
  process.exit(failed ? 1 : 0);
})().catch((e) => {
  console.error(`validate.js: ${e.message || e}`);
  process.exit(2);
});
