// The NOC wall in headless Chromium against the real console on `sim`, run
// as two processes (`serve --no-agent` and `agent`) so the agent can be
// stopped alone: a screen opens the wall through a wall link with no
// session; a drive failed from another context turns its bay and the wall
// red without a reload; acknowledged from an admin's window it turns
// amber; the drive replaced, green; the agent stopped, the wall turns amber
// and says why; revoked, the screen says so. Screenshots go to $ARTIFACTS.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { freePort, waitForHealth } from "./helpers.mjs";

const BIN = process.env.BAYSTACK_BIN ?? new URL("../../target/debug/baystack", import.meta.url).pathname;
const ARTIFACTS = process.env.ARTIFACTS ?? new URL("../../artifacts/browser", import.meta.url).pathname;
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const PASSWORD = "correct horse battery staple";

let web, agent, browser, base, dataDir, config, token;
const consoleErrors = [];

const shot = (page, name) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`) });

function sim(...args) {
  return execFileSync(BIN, ["sim", ...args, "--config", config], { encoding: "utf8" });
}

async function api(path, init = {}) {
  const r = await fetch(`${base}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...(init.headers ?? {}) },
  });
  const text = await r.text();
  return { status: r.status, json: text ? JSON.parse(text) : null };
}

function startAgent() {
  return spawn(BIN, ["agent", "--config", config], {
    stdio: ["ignore", "inherit", "inherit"],
    env: { ...process.env, BAYSTACK_LOG: "warn" },
  });
}

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  dataDir = mkdtempSync(join(tmpdir(), "baystack-wall-"));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  config = join(dataDir, "baystack.toml");
  writeFileSync(
    config,
    [
      `listen = "127.0.0.1:${port}"`,
      `data_dir = "${dataDir}/data"`,
      "[agent]",
      "observe_interval_seconds = 1",
      "[sim]",
      "speed = 5000.0",
      "layout = [12, 60]",
      "",
    ].join("\n"),
  );
  web = spawn(BIN, ["serve", "--no-agent", "--config", config], {
    stdio: ["ignore", "inherit", "inherit"],
    env: { ...process.env, BAYSTACK_LOG: "warn" },
  });
  await waitForHealth(`${base}/healthz`, 20000);
  agent = startAgent();
  const setup = await fetch(`${base}/api/v1/setup`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      admin_password: PASSWORD,
      hostname: "bay01",
      iqn_domain: "example.com",
      iqn_date: "2024-01",
      timezone: "UTC",
    }),
  });
  assert.equal(setup.status, 201, await setup.text());
  const t = await fetch(`${base}/api/v1/tokens`, {
    method: "POST",
    headers: { authorization: "Basic " + Buffer.from(`admin:${PASSWORD}`).toString("base64") },
  });
  token = (await t.json()).token;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
  });
});

after(async () => {
  await browser?.close();
  agent?.kill("SIGTERM");
  web?.kill("SIGTERM");
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

// The bay of the first present drive whose verdict is `health`.
async function bayOf(health) {
  for (let i = 0; i < 100; i++) {
    const drives = (await api("/api/v1/drives")).json;
    const d = drives.find((d) => d.present && d.health === health && d.bay);
    if (d) return [d.bay.enclosure, String(d.bay.slot), d.serial];
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no ${health} drive`);
}

test("a wall screen turns red without a reload, then green, then amber when the agent stops", async () => {
  // The simulator's worn drive is replaced first, so the wall starts green.
  const [wornEncl, wornSlot] = await bayOf("warning");
  sim("replace-drive", wornEncl, wornSlot);

  const made = await api("/api/v1/noc-links", { method: "POST", body: JSON.stringify({ name: "NOC left" }) });
  assert.equal(made.status, 201);
  const screen = await browser.newContext({ viewport: { width: 1920, height: 1080 } });
  const wall = await screen.newPage();
  wall.on("console", (m) => m.type() === "error" && consoleErrors.push(`wall: ${m.text()}`));
  wall.on("pageerror", (e) => consoleErrors.push(`wall: ${e.message}`));
  await wall.goto(`${base}${made.json.path}`);
  await wall.waitForSelector(".wall-head.state-green", { timeout: 30000 });
  // A mark that a reload would wipe.
  await wall.evaluate(() => (window.neverReloaded = true));
  const size = await wall.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.scrollHeight]);
  assert.deepEqual(size, [1920, 1080], "one screen, no scrolling");
  await shot(wall, "wall-1-green");
  assert.equal((await screen.cookies()).length, 0, "a wall link needs no cookie");

  // Another context fails a drive: the bay and the wall turn red.
  const [encl, slot, serial] = await bayOf("healthy");
  sim("fail-drive", encl, slot);
  await wall.waitForSelector(".wall-head.state-red", { timeout: 30000 });
  await wall.waitForSelector(`.wb.failing[title*="${serial}"]`);
  assert.match(await wall.textContent(".wall-reason"), /is failing/);
  assert.equal(await wall.evaluate(() => window.neverReloaded), true, "no reload");
  await shot(wall, "wall-2-red");

  // An operator acknowledges it from the alerts page: amber.
  const admin = await browser.newContext({ viewport: { width: 1366, height: 900 } });
  const page = await admin.newPage();
  page.on("console", (m) => m.type() === "error" && consoleErrors.push(`${page.url()}: ${m.text()}`));
  await page.goto(`${base}/login`);
  await page.fill("#username", "admin");
  await page.fill("#password", PASSWORD);
  await page.click("button[type=submit]");
  await page.waitForURL(`${base}/`);
  await page.goto(`${base}/alerts?state=open`);
  const row = page.locator("tr", { hasText: serial });
  await row.locator("input[name=note]").fill("replacement on its way");
  await row.locator("button", { hasText: "Acknowledge" }).click();
  await page.waitForSelector(`tr.alert-acknowledged:has-text("${serial}")`);
  await shot(page, "wall-3-alerts");
  await wall.waitForSelector(".wall-head.state-amber", { timeout: 30000 });
  await shot(wall, "wall-4-amber");

  // Replaced: green again, with no reload.
  sim("replace-drive", encl, slot);
  await wall.waitForSelector(".wall-head.state-green", { timeout: 30000 });
  assert.equal(await wall.evaluate(() => window.neverReloaded), true);

  // The agent stops: within three of its intervals the wall is amber and
  // says why, though the console still answers.
  agent.kill("SIGKILL");
  await wall.waitForSelector("body.wall-stale", { timeout: 30000 });
  assert.match(await wall.textContent("#wall-trouble"), /has not observed the appliance since/);
  const colour = await wall.evaluate(() => getComputedStyle(document.querySelector(".wall-head")).backgroundColor);
  assert.notEqual(colour, "rgb(22, 163, 74)", "never green while stale");
  await shot(wall, "wall-5-stale");

  // Revoked: the screen says so at its next refresh (the browser logs the
  // refused request, which is expected from here on).
  assert.deepEqual(consoleErrors, []);
  const r = await api(`/api/v1/noc-links/${made.json.id}`, { method: "DELETE" });
  assert.equal(r.status, 204);
  await wall.waitForFunction(() => /revoked/.test(document.getElementById("wall-trouble").textContent), null, {
    timeout: 10000,
  });
  await shot(wall, "wall-6-revoked");
  agent = startAgent();
  await screen.close();
  await admin.close();
  assert.ok(consoleErrors.every((e) => e.includes("401")), consoleErrors.join("\n"));
});
