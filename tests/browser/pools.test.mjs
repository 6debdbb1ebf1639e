// A newcomer's pool, in headless Chromium against the real `baystack serve`
// on `sim`: a RAID6 pool with a write journal made from the drives in their
// bays, a member failing, the guided replacement followed from the pool page
// (take it out, a new drive in the same bay, rebuild onto it), and the
// rebuild watched until the pool is clean. Screenshots go to $ARTIFACTS.

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

let server, browser, base, dataDir, config;
const consoleErrors = [];

const shot = (page, name) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

// `baystack sim ...` against the running console's simulated appliance.
function sim(...args) {
  return execFileSync(BIN, ["sim", ...args, "--config", config], { encoding: "utf8" });
}

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  dataDir = mkdtempSync(join(tmpdir(), "baystack-pools-"));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  config = join(dataDir, "baystack.toml");
  // A fast simulated appliance (a rebuild of its drives takes seconds) that
  // the agent looks at every second.
  writeFileSync(
    config,
    [
      `listen = "127.0.0.1:${port}"`,
      `data_dir = "${dataDir}/data"`,
      "[agent]",
      "observe_interval_seconds = 1",
      "[sim]",
      "speed = 5000.0",
      "",
    ].join("\n"),
  );
  server = spawn(BIN, ["serve", "--config", config], {
    stdio: ["ignore", "inherit", "inherit"],
    env: { ...process.env, BAYSTACK_LOG: "warn" },
  });
  await waitForHealth(`${base}/healthz`, 20000);
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
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
  });
});

after(async () => {
  await browser?.close();
  server?.kill("SIGTERM");
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

test("a RAID6 pool with a journal is made from the bays, a failed drive replaced in its bay, the rebuild watched", async () => {
  const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
  const page = await context.newPage();
  page.on("console", (m) => m.type() === "error" && consoleErrors.push(`${page.url()}: ${m.text()}`));
  page.on("pageerror", (e) => consoleErrors.push(`${page.url()}: ${e.message}`));
  // The confirmations the page asks for ("Take it out?") are accepted.
  page.on("dialog", (d) => d.accept());
  await page.goto(`${base}/login`);
  await page.fill("#username", "admin");
  await page.fill("#password", PASSWORD);
  await page.click("button[type=submit]");
  await page.waitForURL(`${base}/`);

  // The create page lists the drives in bay order, each with a role to
  // pick, or why it cannot have one.
  await page.goto(`${base}/pools/new`);
  await page.waitForSelector("select[name^='role.']");
  const roles = page.locator("select[name^='role.']");
  const pickable = [];
  for (let i = 0; i < (await roles.count()); i++) {
    const sel = roles.nth(i);
    if (!(await sel.isDisabled())) pickable.push((await sel.getAttribute("name")).slice(5));
  }
  assert.ok(pickable.length >= 6, `pickable drives: ${pickable}`);
  await page.fill("input[name=name]", "tank");
  await page.selectOption("select[name=level]", "raid6");
  await page.check("input[name=write_hole][value=journal]");
  for (const s of pickable.slice(0, 4)) await page.selectOption(`select[name='role.${s}']`, "member");
  for (const s of pickable.slice(4, 6)) await page.selectOption(`select[name='role.${s}']`, "journal");
  await shot(page, "30-pool-new");
  await page.click("button:has-text('Create the pool')");
  await page.waitForURL(/\/jobs\/\d+$/);
  await page.waitForSelector('#job-live[data-state="succeeded"]', { timeout: 30000 });
  await shot(page, "31-pool-created");
  await page.goto(`${base}/pools/tank`);
  await reloadUntil(page, "clean", 60000, ".page-head .badge");
  assert.match(await page.textContent("main"), /closed by a write journal/);
  await shot(page, "32-pool-clean");

  // A member fails: the page names its bay, which is lit.
  const drives = await (await page.request.get(`${base}/api/v1/drives`)).json();
  const victim = drives.find((d) => d.serial === pickable[1]);
  sim("fail-member", victim.bay.enclosure, String(victim.bay.slot));
  await reloadUntil(page, "Drives to replace");
  assert.match(await page.textContent("#replace"), /md marked it faulty/);
  assert.match(await page.textContent("#replace"), new RegExp(`slot ${victim.bay.slot}`));
  await shot(page, "33-pool-member-failed");

  // Taken out, to swap it in its bay.
  await page.click("#replace button:has-text('Take it out')");
  await page.waitForURL(/\/jobs\/\d+$/);
  await page.waitForSelector('#job-live[data-state="succeeded"]', { timeout: 30000 });
  await page.goto(`${base}/pools/tank`);
  await reloadUntil(page, "was taken out");
  await shot(page, "34-pool-taken-out");

  // A new drive in the same bay is offered, and rebuilt onto.
  sim("replace-drive", victim.bay.enclosure, String(victim.bay.slot));
  await reloadUntil(page, "Rebuild onto drive");
  await shot(page, "35-pool-newcomer");
  await page.click("#replace button:has-text('Rebuild onto drive')");
  await page.waitForURL(/\/jobs\/\d+$/);
  await page.waitForSelector('#job-live[data-state="succeeded"]', { timeout: 30000 });
  await page.goto(`${base}/pools/tank`);
  await reloadUntil(page, "recovering", 30000, ".page-head .badge");
  assert.match(await page.textContent("main"), /min left|Progress/);
  await shot(page, "36-pool-rebuilding");
  // The page follows the rebuild by itself, without a reload.
  const navigations = [];
  page.on("framenavigated", (f) => navigations.push(f.url()));
  await page.waitForFunction(
    () => document.querySelector(".page-head .badge")?.textContent.includes("clean"),
    null,
    { timeout: 120000 },
  );
  assert.deepEqual(navigations, [], "the pool page updated in place");
  await shot(page, "37-pool-rebuilt");
  const pool = await (await page.request.get(`${base}/api/v1/pools/tank`)).json();
  assert.equal(pool.state, "clean");
  assert.equal(pool.degraded, false);
  assert.ok(!pool.members.some((m) => m.serial === victim.serial), "the failed drive is out");
  await context.close();
  assert.deepEqual(consoleErrors, []);
});

test("a volume is made in the pool and exported, and its target page says what to type on a client", async () => {
  const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
  const page = await context.newPage();
  page.on("console", (m) => m.type() === "error" && consoleErrors.push(`${page.url()}: ${m.text()}`));
  page.on("pageerror", (e) => consoleErrors.push(`${page.url()}: ${e.message}`));
  await page.goto(`${base}/login`);
  await page.fill("#username", "admin");
  await page.fill("#password", PASSWORD);
  await page.click("button[type=submit]");
  await page.waitForURL(`${base}/`);

  // A size without a unit is refused on the page, in words.
  await page.goto(`${base}/volumes`);
  await page.fill("input[name=name]", "db01");
  await page.fill("input[name=size]", "100");
  await page.click("button:has-text('Create')");
  assert.match(await page.textContent("main"), /needs a unit/);
  await shot(page, "40-volume-bad-size");

  await page.goto(`${base}/volumes`);
  await page.fill("input[name=name]", "db01");
  await page.fill("input[name=size]", "1 GiB");
  await page.check("input[name=thin]");
  await shot(page, "41-volume-new");
  await page.click("button:has-text('Create')");
  await page.waitForURL(/\/jobs\/\d+$/);
  await page.waitForSelector('#job-live[data-state="succeeded"]', { timeout: 30000 });
  await page.goto(`${base}/volumes/db01`);
  assert.match(await page.textContent("main"), /baystack-db01/);
  await shot(page, "42-volume");

  // Export it to one host with CHAP; a short secret is refused first.
  await page.goto(`${base}/targets/db01`);
  await page.fill("textarea[name=initiators]", "iqn.1991-05.com.microsoft:sql1.example.com");
  await page.fill("input[name=chap_user]", "sql1");
  await page.evaluate(() => document.querySelector("input[name=chap_secret]").removeAttribute("minlength"));
  await page.fill("input[name=chap_secret]", "short");
  await page.click("button:has-text('Export')");
  assert.match(await page.textContent("main"), /12 to 16 characters/);
  await page.goto(`${base}/targets/db01`);
  await page.fill("textarea[name=initiators]", "iqn.1991-05.com.microsoft:sql1.example.com");
  await page.fill("input[name=chap_user]", "sql1");
  await page.fill("input[name=chap_secret]", "long-enough-1234");
  await shot(page, "43-target-export");
  await page.click("button:has-text('Export')");
  // The form comes back to the target page, which says when it is done.
  await page.waitForURL(`${base}/targets/db01`);
  await reloadUntil(page, "exported", 30000);
  const text = await page.textContent("main");
  assert.match(text, /iqn\.2024-01\.com\.example:bay01\.db01/);
  assert.match(text, /New-IscsiTargetPortal -TargetPortalAddress 127\.0\.0\.1/);
  assert.match(text, /Connect-IscsiTarget -NodeAddress iqn\.2024-01\.com\.example:bay01\.db01/);
  assert.match(text, /-AuthenticationType ONEWAYCHAP -ChapUsername sql1/);
  assert.match(text, /iscsiadm -m discovery -t sendtargets -p 127\.0\.0\.1:3260/);
  assert.ok(!text.includes("long-enough-1234"), "the secret is never shown");
  // The host logs in (a simulated initiator): the session shows on the page.
  const iqn = "iqn.2024-01.com.example:bay01.db01";
  const host = "iqn.1991-05.com.microsoft:sql1.example.com";
  assert.throws(() => sim("initiator", iqn, host, "--chap-user", "sql1", "--chap-secret", "wrong-secret-123"));
  sim("initiator", iqn, host, "--address", "192.0.2.44", "--chap-user", "sql1", "--chap-secret", "long-enough-1234");
  await reloadUntil(page, "192.0.2.44", 30000);
  await shot(page, "44-target-page");
  await context.close();
  // The two refusals asked for above are the only errors the browser saw.
  const refused = consoleErrors.filter((e) => /status of 422/.test(e));
  assert.equal(refused.length, 2, consoleErrors.join("\n"));
  assert.deepEqual(consoleErrors.filter((e) => !/status of 422/.test(e)), []);
});
