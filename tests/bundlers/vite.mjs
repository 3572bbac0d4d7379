// Runs one Vite major in a process of its own, so the three never share a module graph and
// one that dies (Vite 6's dependency optimiser throws on top-level await outside any
// promise) fails only its case. Prints one JSON line.
//
//   node vite.mjs <tools dir> <6|7|8> build <root> <outDir> [config]  -> { ok: true } or { error }
//   node vite.mjs <tools dir> <6|7|8> dev <root> [config]             -> { url }, then serves until killed
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [tools, major, command, root, ...rest] = process.argv.slice(2);
const vite = await import(pathToFileURL(join(tools, "node_modules", `vite${major}`, "dist", "node", "index.js")).href);
const print = (value) => process.stdout.write(JSON.stringify(value) + "\n");

if (command === "build") {
  const [outDir, config = "{}"] = rest;
  const { build = {}, ...options } = JSON.parse(config);
  try {
    await vite.build({ root, configFile: false, logLevel: "silent", ...options, build: { outDir, emptyOutDir: true, ...build } });
    print({ ok: true });
  } catch (e) {
    print({ error: String(e?.message ?? e) });
  }
} else if (command === "dev") {
  const options = JSON.parse(rest[0] ?? "{}");
  const server = await vite.createServer({
    root,
    configFile: false,
    logLevel: "silent",
    ...options,
    server: { host: "127.0.0.1", port: 0, strictPort: false, hmr: false, watch: null },
  });
  await server.listen();
  print({ url: server.resolvedUrls.local[0] });
} else {
  throw new Error(`unknown command ${command}`);
}
