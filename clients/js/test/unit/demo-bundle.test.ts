// The committed demo bundle (embedded in the binary) must be what the sources build to: the
// check passes on the committed files and fails on a stale copy.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const pkg = resolve(fileURLToPath(new URL(".", import.meta.url)), "../../..");
const script = join(pkg, "scripts", "build-demo.mjs");
const check = (env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [script, "--check"], { cwd: pkg, env: { ...process.env, ...env }, encoding: "utf8" });

test("the committed demo bundle is up to date", () => {
  const r = check();
  assert.equal(r.status, 0, r.stderr);
});

test("a stale bundle fails the check", () => {
  const out = mkdtempSync(join(tmpdir(), "demo-dist-"));
  try {
    cpSync(join(pkg, "demo", "dist"), out, { recursive: true });
    assert.equal(check({ DEMO_OUT: out }).status, 0);
    writeFileSync(join(out, "app.js"), readFileSync(join(out, "app.js"), "utf8") + "\n// edited by hand\n");
    const r = check({ DEMO_OUT: out });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /demo\/dist is stale \(app\.js/);
    const html = readFileSync(join(pkg, "demo", "dist", "index.html"), "utf8");
    assert.match(html, /\/assets\/app\.[0-9a-f]{16}\.js/);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
