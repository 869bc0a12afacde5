// Build the browser demo into demo/dist/ (embedded in the roomcore binary by engine/src/web.rs):
// demo/src/main.ts bundled by esbuild into app.js, demo/style.css -> app.css, demo/icon.svg,
// and demo/index.html with the hashed asset names (FNV-1a 64 of each file, the hash web.rs
// computes). `--check` builds in memory and fails when the committed files differ.
import { build } from "esbuild";
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
// DEMO_SRC / DEMO_OUT: other source and output folders (the test of the stale check).
const demo = process.env.DEMO_SRC ?? join(root, "demo");
const out = process.env.DEMO_OUT ?? join(demo, "dist");
const check = process.argv.includes("--check");

/** FNV-1a 64 as 16 hex digits (engine/src/web.rs `fnv1a64`). */
export function fnv1a64(bytes) {
  let h = 0xcbf29ce484222325n;
  for (const b of bytes) {
    h ^= BigInt(b);
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h.toString(16).padStart(16, "0");
}

const js = await build({
  entryPoints: [join(demo, "src", "main.ts")],
  bundle: true,
  format: "esm",
  target: "es2022",
  platform: "browser",
  write: false,
  legalComments: "none",
  charset: "utf8",
  logLevel: "warning",
});
const files = {
  "app.js": Buffer.from(js.outputFiles[0].contents),
  "app.css": readFileSync(join(demo, "style.css")),
  "icon.svg": readFileSync(join(demo, "icon.svg")),
};
let html = readFileSync(join(demo, "index.html"), "utf8");
for (const [name, bytes] of Object.entries(files)) {
  const [stem, ext] = name.split(".");
  html = html.replaceAll(`{{${name}}}`, `/assets/${stem}.${fnv1a64(bytes)}.${ext}`);
}
if (html.includes("{{")) throw new Error("index.html names an asset the build does not make");
files["index.html"] = Buffer.from(html);

if (check) {
  const stale = [];
  for (const [name, bytes] of Object.entries(files)) {
    let committed;
    try {
      committed = readFileSync(join(out, name));
    } catch {
      committed = Buffer.alloc(0);
    }
    if (!committed.equals(bytes)) stale.push(name);
  }
  if (stale.length) {
    console.error(
      `demo/dist is stale (${stale.join(", ")}): run \`npm run build\` in clients/js and commit demo/dist`,
    );
    process.exit(1);
  }
  console.log("demo/dist is up to date");
} else {
  mkdirSync(out, { recursive: true });
  for (const [name, bytes] of Object.entries(files)) writeFileSync(join(out, name), bytes);
  console.log(`demo/dist written: ${Object.entries(files).map(([n, b]) => `${n} ${b.length} B`).join(", ")}`);
}
