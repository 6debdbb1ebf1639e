// Replication between two appliances, in headless Chromium against two real
// `baystack serve` processes on `sim`, each with its own database and its
// agent's channel on loopback: a pairing code made on bay02's Replication
// page and pasted on bay01's, a volume in use (exported, written by the
// simulated initiator) replicated from its page, failed over on bay02 and
// failed back from there, each from the pages. Screenshots go to $ARTIFACTS.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { freePort, waitForHealth, reloadUntil } from "./helpers.mjs";

const BIN = process.env.BAYSTACK_BIN ?? new URL("../../target/debug/baystack", import.meta.url).pathname;
const ARTIFACTS = process.env.ARTIFACTS ?? new URL("../../artifacts/browser", import.meta.url).pathname;
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const PASSWORD = "correct horse battery staple";

let browser;
const appliances = {};
const consoleErrors = [];

const shot = (page, name) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

// An appliance: a console with its agent, its channel on a port of its own.
async function start(hostname) {
  const dir = mkdtempSync(join(tmpdir(), `baystack-${hostname}-`));
  const port = await freePort();
  const channel = await freePort();
  const config = join(dir, "baystack.toml");
  writeFileSync(
    config,
    [
      `listen = "127.0.0.1:${port}"`,
      `data_dir = "${dir}/data"`,
      "[agent]",
      "observe_interval_seconds = 1",
      "[sim]",
      "speed = 5000.0",
      "[replication]",
      `listen = "127.0.0.1:${channel}"`,
      "",
    ].join("\n"),
  );
  const server = spawn(BIN, ["serve", "--config", config], {
    stdio: ["ignore", "inherit", "inherit"],
    env: { ...process.env, BAYSTACK_LOG: "warn" },
  });
  const base = `http://127.0.0.1:${port}`;
  await waitForHealth(`${base}/healthz`, 20000);
  const setup = await fetch(`${base}/api/v1/setup`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      admin_password: PASSWORD,
      hostname,
      iqn_domain: "example.com",
      iqn_date: "2024-01",
      timezone: "UTC",
    }),
  });
  assert.equal(setup.status, 201, await setup.text());
  const auth = "Basic " + Buffer.from(`admin:${PASSWORD}`).toString("base64");
  const token = (await (await fetch(`${base}/api/v1/tokens`, { method: "POST", headers: { authorization: auth } })).json()).token;
  const api = async (method, path, body) => {
    const r = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    return { status: r.status, json: text ? JSON.parse(text) : null };
  };
  const job = async (r) => {
    assert.equal(r.status, 202, JSON.stringify(r.json));
    for (let i = 0; i < 600; i++) {
      const j = (await api("GET", `/api/v1/jobs/${r.json.job_id}`)).json;
      if (["succeeded", "failed", "cancelled"].includes(j.state)) {
        assert.equal(j.state, "succeeded", JSON.stringify(j));
        return j;
      }
      await new Promise((res) => setTimeout(res, 100));
    }
    throw new Error(`job ${r.json.job_id} did not end`);
  };
  // A raid1 pool of two healthy drives, once the agent has seen them.
  let drives = [];
  for (let i = 0; i < 100 && drives.length < 2; i++) {
    drives = (await api("GET", "/api/v1/drives")).json.filter((d) => d.health === "healthy" && d.present);
    if (drives.length < 2) await new Promise((res) => setTimeout(res, 100));
  }
  await job(
    await api("POST", "/api/v1/pools", {
      name: "tank",
      level: "raid1",
      drives: drives.slice(0, 2).map((d) => d.serial),
      write_hole: "none",
    }),
  );
  for (let i = 0; i < 100; i++) {
    const p = (await api("GET", "/api/v1/pools/tank")).json;
    if (p.capacity) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  const sim = (...args) => execFileSync(BIN, ["sim", ...args, "--config", config], { encoding: "utf8" });
  return { hostname, dir, base, server, channel, api, job, sim };
}

async function signedIn(a) {
  const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
  const page = await context.newPage();
  page.on("console", (m) => m.type() === "error" && consoleErrors.push(`${page.url()}: ${m.text()}`));
  page.on("pageerror", (e) => consoleErrors.push(`${page.url()}: ${e.message}`));
  page.on("dialog", (d) => d.accept());
  await page.goto(`${a.base}/login`);
  await page.fill("#username", "admin");
  await page.fill("#password", PASSWORD);
  await page.click("button[type=submit]");
  await page.waitForURL(`${a.base}/`);
  return page;
}

// Submits a form by its button and follows its job to the end.
async function clickJob(page, button) {
  await page.click(button);
  await page.waitForURL(/\/jobs\/\d+$/);
  await page.waitForSelector('#job-live[data-state="succeeded"]', { timeout: 60000 });
}

// Submits a form that goes back to the volume's page, its job under way.
async function clickBack(page, button) {
  await page.click(button);
  await page.waitForURL(/\/volumes\/db$/);
}

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  [appliances.a, appliances.b] = await Promise.all([start("bay01"), start("bay02")]);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
  });
});

after(async () => {
  await browser?.close();
  for (const a of Object.values(appliances)) {
    a.server?.kill("SIGTERM");
    rmSync(a.dir, { recursive: true, force: true });
  }
});

test("two appliances pair, a volume in use is replicated, failed over and failed back, from the pages", async () => {
  const { a, b } = appliances;
  // On bay01: a thin volume, exported, written by its initiator.
  await a.job(await a.api("POST", "/api/v1/volumes", { name: "db", pool: "tank", size: "64 MiB", thin: true }));
  await a.job(await a.api("POST", "/api/v1/volumes/db/export", { initiators: ["iqn.1991-05.com.microsoft:sql1"] }));
  a.sim("write", "db", "--at", "0", "--bytes", String(4 << 20));

  // bay02 makes a pairing code...
  const pb = await signedIn(b);
  await pb.goto(`${b.base}/replication`);
  assert.match(await pb.textContent("main"), /No peers yet/);
  await pb.fill("input[name=address]", `127.0.0.1:${b.channel}`);
  await pb.click("button:has-text('Make a pairing code')");
  const code = (await pb.textContent("#new-pairing-code")).trim();
  assert.match(code, /^bspair1_/);
  await shot(pb, "60-pairing-code");

  // ... which bay01 pastes.
  const pa = await signedIn(a);
  await pa.goto(`${a.base}/replication`);
  await pa.fill("textarea[name=code]", "not a code");
  await pa.click("form[action='/replication/peers'] button");
  assert.match(await pa.textContent(".flash-error"), /not a Baystack pairing code/);
  await pa.fill("textarea[name=code]", code);
  await clickJob(pa, "form[action='/replication/peers'] button");
  await pa.goto(`${a.base}/replication`);
  assert.match(await pa.textContent("#peers"), /bay02/);
  await shot(pa, "61-paired");
  await pb.goto(`${b.base}/replication`);
  assert.match(await pb.textContent("#peers"), /bay01/);
  assert.match(await pb.textContent("#codes"), /used/);

  // Replicated from the volume's page while exported and written.
  await pa.goto(`${a.base}/volumes/db`);
  await pa.fill("#replicate input[name=interval_s]", "10");
  await pa.fill("#replicate input[name=rpo_s]", "60");
  await pa.fill("#replicate input[name=bandwidth_limit]", "1 Gbit/s");
  await pa.check("#replicate input[name=compress]");
  await shot(pa, "62-replicate-form");
  await clickBack(pa, "#replicate button:has-text('Replicate')");
  await reloadUntil(pa, "in sync", 60000, "#replication");
  assert.match(await pa.textContent("#replication"), /replicated to bay02/);
  await shot(pa, "63-in-sync");
  a.sim("write", "db", "--at", String(20 << 20), "--bytes", String(1 << 20), "--seed", "2");
  await pb.goto(`${b.base}/volumes/db`);
  await reloadUntil(pb, "in sync", 60000, "#replication");
  assert.match(await pb.textContent("#replication"), /a replica of bay01's volume/);
  assert.match(await pb.textContent("#replication"), /not exported/);
  await shot(pb, "64-replica");

  // bay01 is lost: fail over on bay02.
  await clickBack(pb, "#failover button");
  await reloadUntil(pb, "promoted", 30000, "#replication");
  await reloadUntil(pb, ", exported,", 30000, ".facts");
  const promotedAt = (await b.api("GET", "/api/v1/replication")).json[0].seq;
  const targets = (await b.api("GET", "/api/v1/targets")).json;
  assert.equal(targets[0].iqn, "iqn.2024-01.com.example:bay01.db", "the source's target name");
  await shot(pb, "65-failed-over");

  // Written on bay02; fail back from there.
  b.sim("write", "db", "--at", String(8 << 20), "--bytes", "65536", "--seed", "3");
  await clickBack(pb, "#failback button");
  await reloadUntil(pb, "replicated to bay01", 30000, "#replication");
  // Its next point goes to bay01: what was written here since.
  for (let i = 0; ; i++) {
    const r = (await b.api("GET", "/api/v1/replication")).json[0];
    if (r.seq > promotedAt && r.state === "in_sync") break;
    assert.ok(i < 300, JSON.stringify(r));
    await new Promise((res) => setTimeout(res, 100));
  }
  await pb.reload();
  await shot(pb, "66-failed-back");
  await pa.goto(`${a.base}/volumes/db`);
  await reloadUntil(pa, "a replica of bay02's volume", 30000, "#replication");
  const onA = (await a.api("GET", "/api/v1/replication")).json[0];
  assert.equal(onA.role, "replica");
  assert.equal((await a.api("GET", "/api/v1/targets")).json.length, 0, "bay01 unexported");
  await shot(pa, "67-replica-again");
  // The one error a browser logs is the code refused on purpose.
  assert.deepEqual(
    consoleErrors.filter((e) => !e.includes("/replication/peers: Failed to load resource: the server responded with a status of 422")),
    [],
  );
});
