// Builds the npm package into pkg/: the core compiled to wasm, wasm-bindgen's web-target
// glue, wasm-opt, then the hand-written face from pkg-template/ (entries, types, README).
//
//   node scripts/build.mjs              always rebuild
//   node scripts/build.mjs --if-needed  skip when pkg/ is newer than every input
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const pkg = join(root, "pkg");
const stamp = join(pkg, ".build-stamp");
const inputs = ["src", "pkg-template", "Cargo.toml", "Cargo.lock", ".cargo", "scripts/build.mjs"];

function newestMtime(path) {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  return readdirSync(path).reduce((m, name) => Math.max(m, newestMtime(join(path, name))), st.mtimeMs);
}

function upToDate() {
  if (!existsSync(stamp)) return false;
  const built = statSync(stamp).mtimeMs;
  return inputs.every((p) => !existsSync(join(root, p)) || newestMtime(join(root, p)) <= built);
}

function run(cmd, args) {
  console.log(`build: ${cmd} ${args.join(" ")}`);
  execFileSync(cmd, args, { cwd: root, stdio: "inherit", env: toolEnv() });
}

// node_modules/.bin first for wasm-opt (binaryen), ~/.cargo/bin for wasm-bindgen.
function toolEnv() {
  const home = process.env.HOME ?? "";
  const path = [join(root, "node_modules", ".bin"), join(home, ".cargo", "bin"), process.env.PATH].join(":");
  return { ...process.env, PATH: path };
}

const kb = (n) => `${(n / 1024).toFixed(1)} KB`;

if (process.argv.includes("--if-needed") && upToDate()) {
  console.log("build: pkg/ is up to date");
  process.exit(0);
}

run("cargo", ["build", "--release", "--lib", "--target", "wasm32-unknown-unknown"]);
rmSync(pkg, { recursive: true, force: true });
run("wasm-bindgen", [
  join("target", "wasm32-unknown-unknown", "release", "tenantry.wasm"),
  "--target", "web",
  "--out-dir", "pkg",
  "--out-name", "tenantry",
]);
const wasm = join(pkg, "tenantry_bg.wasm");
const before = statSync(wasm).size;
run("wasm-opt", ["-Oz", "--strip-debug", wasm, "-o", wasm]);
// The glue's own .d.ts files are replaced by the precise hand-written index.d.ts.
for (const f of ["tenantry.d.ts", "tenantry_bg.wasm.d.ts"]) rmSync(join(pkg, f), { force: true });
cpSync(join(root, "pkg-template"), pkg, { recursive: true });

const bytes = readFileSync(wasm);
const glue = readFileSync(join(pkg, "tenantry.js"));
console.log(
  `build: pkg/tenantry_bg.wasm ${kb(bytes.length)} (${kb(gzipSync(bytes).length)} gzipped; ${kb(before)} before wasm-opt), ` +
    `glue ${kb(glue.length)} (${kb(gzipSync(glue).length)} gzipped)`,
);
writeFileSync(stamp, new Date().toISOString() + "\n");
