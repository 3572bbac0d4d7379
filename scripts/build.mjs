// Builds the npm package into pkg/: the core compiled to wasm, wasm-bindgen's web-target
// glue, wasm-opt, then the hand-written face from pkg-template/ (entries, types, README) and
// the repository's LICENSE.
//
//   node scripts/build.mjs              always rebuild
//   node scripts/build.mjs --if-needed  skip when pkg/ is newer than every input
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const pkg = join(root, "pkg");
const stamp = join(pkg, ".build-stamp");
const inputs = ["src", "pkg-template", "LICENSE", "Cargo.toml", "Cargo.lock", ".cargo", "scripts/build.mjs"];

function newestMtime(path) {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  return readdirSync(path).reduce((m, name) => Math.max(m, newestMtime(join(path, name))), st.mtimeMs);
}

// std rebuilt for size (see below) when rust-src is installed (scripts/setup adds it), the
// prebuilt std otherwise or with TENANTRY_BUILD_STD=0. The stamp's second line records the
// mode, so switching rebuilds.
const rustSrc = () => {
  try {
    const sysroot = execFileSync("rustc", ["--print", "sysroot"], { encoding: "utf8", env: toolEnv() }).trim();
    return existsSync(join(sysroot, "lib", "rustlib", "src", "rust", "library", "std"));
  } catch {
    return false;
  }
};
let mode = process.env.TENANTRY_BUILD_STD === "0" || !rustSrc() ? "std" : "build-std";

function upToDate() {
  if (!existsSync(stamp)) return false;
  if (readFileSync(stamp, "utf8").split("\n")[1] !== mode) return false;
  const built = statSync(stamp).mtimeMs;
  return inputs.every((p) => !existsSync(join(root, p)) || newestMtime(join(root, p)) <= built);
}

function run(cmd, args, env = {}) {
  console.log(`build: ${cmd} ${args.join(" ")}`);
  execFileSync(cmd, args, { cwd: root, stdio: "inherit", env: { ...toolEnv(), ...env } });
}

// node_modules/.bin first for wasm-opt (binaryen), ~/.cargo/bin for wasm-bindgen.
function toolEnv() {
  const home = process.env.HOME ?? "";
  const path = [join(root, "node_modules", ".bin"), join(home, ".cargo", "bin"), process.env.PATH].join(":");
  return { ...process.env, PATH: path };
}

const kb = (n) => `${(n / 1024).toFixed(1)} KB`;

// wasm-bindgen imports a snippet module once per binding that uses it and lists every copy
// as a key of the wasm import object, so host.js appears there under the same key several
// times: esbuild warns about each duplicate key (duplicate-object-key) whenever the package
// is bundled from outside node_modules (a `file:` dependency, a workspace, the demo Worker).
// The copies are one module namespace, so one import and one key per module is the same
// object. The glue also names its own .d.ts, which is not shipped (index.d.ts is).
function tidyGlue(js) {
  const firstName = new Map();
  const duplicates = new Set();
  for (const [, name, from] of js.matchAll(/^import \* as (import\d+) from "([^"]+)";?$/gm)) {
    if (firstName.has(from)) duplicates.add(name);
    else firstName.set(from, name);
  }
  const dropDuplicate = (line, name) => (duplicates.has(name) ? "" : line);
  const out = js
    .replace(/^\/\* @ts-self-types="\.\/tenantry\.d\.ts" \*\/\n/, "")
    .replace(/^import \* as (import\d+) from "[^"]+";?\n/gm, dropDuplicate)
    .replace(/^ *"[^"]+": (import\d+),\n/gm, dropDuplicate);
  for (const name of duplicates) {
    if (new RegExp(`\\b${name}\\b`).test(out)) throw new Error(`build: the glue still uses ${name} after removing it`);
  }
  const keys = [...out.matchAll(/^ *("[^"]+"): import\d+,$/gm)].map((m) => m[1]);
  if (new Set(keys).size !== keys.length) throw new Error(`build: duplicate keys left in the glue's import object: ${keys}`);
  if (out.includes("@ts-self-types")) throw new Error("build: the glue points at a .d.ts the package does not ship");
  return out;
}

if (process.argv.includes("--if-needed") && upToDate()) {
  console.log("build: pkg/ is up to date");
  process.exit(0);
}

// build-std mode: std rebuilt for size with panics as a bare trap (no panic message or
// formatting machinery; a wasm32 panic already aborts and shows nothing) and std's
// size-optimised algorithms: 296 -> 269 KB gzipped. Both are unstable flags
// (-Zbuild-std, -Cpanic=immediate-abort, optimize_for_size) on the stable toolchain through
// RUSTC_BOOTSTRAP=1, so a toolchain that refuses them falls back to the prebuilt std.
// Source paths end up in the .wasm (panic locations). Map the checkout, the cargo registry
// and rust-src (installed, rustc would print its local path instead of /rustc/<commit>) to
// fixed prefixes: nothing about the build machine ships, and the bytes are a little fewer.
const rustc = (...args) => execFileSync("rustc", args, { encoding: "utf8", env: toolEnv() }).trim();
const commit = /commit-hash: (\S+)/.exec(rustc("-vV"))?.[1] ?? "unknown";
const cargoHome = process.env.CARGO_HOME ?? join(process.env.HOME ?? "", ".cargo");
const remap = [
  [root, "/tenantry"],
  [join(cargoHome, "registry", "src"), "/cargo/registry/src"],
  [join(rustc("--print", "sysroot"), "lib", "rustlib", "src", "rust"), `/rustc/${commit}`],
].map(([from, to]) => `--remap-path-prefix=${from}=${to}`);
function cargoBuild(buildStd) {
  const rustflags = [...remap, ...(buildStd ? ["-Zunstable-options", "-Cpanic=immediate-abort"] : [])];
  run("cargo", [
    "build", "--release", "--lib", "--target", "wasm32-unknown-unknown",
    ...(buildStd ? ["-Zbuild-std=std,panic_abort", "-Zbuild-std-features=optimize_for_size"] : []),
    // Appended to the rustflags of .cargo/config.toml (the getrandom cfg), not substituted.
    "--config", `target.wasm32-unknown-unknown.rustflags=${JSON.stringify(rustflags)}`,
  ], buildStd ? { RUSTC_BOOTSTRAP: "1" } : {});
}
if (mode === "build-std") {
  try {
    cargoBuild(true);
  } catch {
    console.warn("build: building std for size failed with this toolchain; using the prebuilt std");
    mode = "std";
  }
}
if (mode === "std") cargoBuild(false);
rmSync(pkg, { recursive: true, force: true });
// Honour CARGO_TARGET_DIR (relative paths are relative to the repo root, as cargo does).
const targetDir = process.env.CARGO_TARGET_DIR ? resolve(root, process.env.CARGO_TARGET_DIR) : join(root, "target");
run("wasm-bindgen", [
  join(targetDir, "wasm32-unknown-unknown", "release", "tenantry.wasm"),
  "--target", "web",
  "--out-dir", "pkg",
  "--out-name", "tenantry",
]);
const wasm = join(pkg, "tenantry_bg.wasm");
const before = statSync(wasm).size;
// `--no-inline` (before -Oz: passes run in order) keeps the optional parts of config parsing (src/wasm/config.rs) out of
// `new Agent`'s body: -Oz inlines single-caller functions, which made V8 compile all of
// them (28 KB) on the first construction even when the config has none of those keys.
run("wasm-opt", ["--no-inline=*::wasm::config::*", "-Oz", "--strip-debug", wasm, "-o", wasm]);
// The glue's own .d.ts files are replaced by the precise hand-written index.d.ts.
for (const f of ["tenantry.d.ts", "tenantry_bg.wasm.d.ts"]) rmSync(join(pkg, f), { force: true });
writeFileSync(join(pkg, "tenantry.js"), tidyGlue(readFileSync(join(pkg, "tenantry.js"), "utf8")));
cpSync(join(root, "pkg-template"), pkg, { recursive: true });
cpSync(join(root, "LICENSE"), join(pkg, "LICENSE"));

const bytes = readFileSync(wasm);
const glue = readFileSync(join(pkg, "tenantry.js"));
console.log(
  `build (${mode}): pkg/tenantry_bg.wasm ${kb(bytes.length)} (${kb(gzipSync(bytes).length)} gzipped; ${kb(before)} before wasm-opt), ` +
    `glue ${kb(glue.length)} (${kb(gzipSync(glue).length)} gzipped)`,
);
writeFileSync(stamp, `${new Date().toISOString()}\n${mode}\n`);
