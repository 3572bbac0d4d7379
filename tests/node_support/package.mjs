// Packs pkg/ with `npm pack` and installs the tarball into a scratch project, exactly as a
// user's `npm install tenantry` would. Reused while pkg/ is unchanged (keyed on its build
// stamp), so the package and Worker suites share one install.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const pkg = join(root, "pkg");

export function installedPackage() {
  const stampFile = join(pkg, ".build-stamp");
  if (!existsSync(stampFile)) throw new Error("pkg/ is not built: run `node scripts/build.mjs` first");
  const stamp = readFileSync(stampFile, "utf8");
  const project = join(root, "target", "npm-project");
  const modulesDir = join(project, "node_modules");
  const marker = join(project, ".installed-from");
  if (existsSync(marker) && readFileSync(marker, "utf8") === stamp) {
    return { project, modulesDir, tarball: readFileSync(join(project, ".tarball"), "utf8") };
  }
  rmSync(project, { recursive: true, force: true });
  mkdirSync(project, { recursive: true });
  const quiet = { cwd: project, stdio: ["ignore", "pipe", "pipe"], encoding: "utf8" };
  const packed = JSON.parse(execFileSync("npm", ["pack", pkg, "--json", "--pack-destination", project], quiet));
  const tarball = join(project, packed[0].filename);
  writeFileSync(
    join(project, "package.json"),
    JSON.stringify({ name: "tenantry-user", private: true, type: "module" }, null, 2),
  );
  execFileSync("npm", ["install", "--no-audit", "--no-fund", "--offline", tarball], quiet);
  writeFileSync(join(project, ".tarball"), tarball);
  writeFileSync(marker, stamp);
  return { project, modulesDir, tarball };
}

/** The files `npm pack` put in the tarball, as npm reports them. */
export function packedFiles() {
  const out = execFileSync("npm", ["pack", pkg, "--dry-run", "--json"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  return JSON.parse(out)[0].files.map((f) => f.path).sort();
}
