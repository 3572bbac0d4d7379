// The bundlers the bundler suites build the packed package with, and the apps they build.
// The tools (tests/bundlers/package.json, exact versions, locked) are installed with one
// `npm ci` into target/bundlers/ and reused while the lockfile is unchanged; esbuild is
// the workspace's own devDependency.
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { installedPackage, root } from "./package.mjs";

const manifestDir = join(root, "tests", "bundlers");

export function bundlerTools() {
  const dir = join(root, "target", "bundlers");
  const lock = readFileSync(join(manifestDir, "package-lock.json"), "utf8");
  const marker = join(dir, ".installed-lock");
  if (existsSync(marker) && readFileSync(marker, "utf8") === lock) return dir;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const f of ["package.json", "package-lock.json"]) cpSync(join(manifestDir, f), join(dir, f));
  const started = Date.now();
  execFileSync("npm", ["ci", "--no-audit", "--no-fund"], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
  console.log(`bundlers: installed the pinned bundlers in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  writeFileSync(marker, lock);
  return dir;
}

/**
 * A fresh copy of tests/bundlers/app/ inside the scratch project the packed tarball is
 * installed in, so `tenantry` resolves there by name as in a user's project.
 */
export function appDir(name) {
  const { project } = installedPackage();
  const dir = join(project, "bundlers", name);
  rmSync(dir, { recursive: true, force: true });
  cpSync(join(manifestDir, "app"), dir, { recursive: true });
  return dir;
}

/** What tests/bundlers/app/app.js answers when the bundled package works. */
export const EXPECTED = { alice: "Your name is Alice.", bobKnowsAlice: false, code: "invalid_user_id" };
