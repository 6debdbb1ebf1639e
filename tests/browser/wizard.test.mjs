// The real-browser test: headless Debian Chromium, driven by playwright-core,
// against the real `baystack serve` binary on the embedded defaults.
//
// Two browsers race through the first-boot wizard (one wins, the other is
// told so), the admin signs in, the dashboard shows the simulated appliance,
// and htmx is loaded and swaps the summary in place. Screenshots go to
// $ARTIFACTS.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { freePort, waitForHealth } from "./helpers.mjs";

const BIN = process.env.BAYSTACK_BIN ?? new URL("../../target/debug/baystack", import.meta.url).pathname;
const ARTIFACTS = process.env.ARTIFACTS ?? new URL("../../artifacts/browser", import.meta.url).pathname;
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const PASSWORD = "correct horse battery staple";

let server, browser, base, dataDir;
// Every console error in any page (a CSP violation, a failed script) fails
// the run at the end.
const consoleErrors = [];

async function newPage(options) {
  const context = await browser.newContext(options);
  const page = await context.newPage();
  page.on("console", (m) => {
    if (m.type() === "error") consoleErrors.push(`${page.url()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => consoleErrors.push(`${page.url()}: ${e.message}`));
  return page;
}

async function shot(page, name) {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  dataDir = mkdtempSync(join(tmpdir(), "baystack-browser-"));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  server = spawn(BIN, ["serve", "--data-dir", dataDir, "--listen", `127.0.0.1:${port}`], {
    stdio: ["ignore", "inherit", "inherit"],
    // A slow simulated enclosure: a job's progress can be watched.
    env: { ...process.env, BAYSTACK_LOG: "warn", BAYSTACK_SIM_SPEED: "0.1" },
  });
  await waitForHealth(`${base}/healthz`, 20000);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
});

after(async () => {
  await browser?.close();
  server?.kill("SIGTERM");
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

async function fillWizard(page) {
  await page.fill("#admin_password", PASSWORD);
  await page.fill("#admin_password_confirm", PASSWORD);
  await page.fill("#hostname", "bay01");
  await page.fill("#iqn_domain", "example.com");
  await page.fill("#iqn_date", "2024-01");
  await page.selectOption("#timezone", "Europe/Berlin");
}

test("the wizard refuses bad input in words and keeps what was typed", async () => {
  const page = await newPage();
  await page.goto(`${base}/`);
  assert.match(page.url(), /\/setup$/, "every page leads to the wizard first");
  await shot(page, "01-setup");
  await page.fill("#admin_password", "short");
  await page.fill("#admin_password_confirm", "short");
  await page.fill("#hostname", "Bay 01");
  await page.fill("#iqn_domain", "example.com");
  await page.fill("#iqn_date", "2024-13");
  assert.equal(await page.textContent("#iqn-example"), "iqn.2024-13.com.example:Bay 01.db01",
    "the IQN preview follows what is typed");
  await page.click("button[type=submit]");
  await page.waitForSelector(".field-error");
  const errors = await page.locator(".field-error").allTextContents();
  assert.ok(errors.some((e) => e.includes("at least 10 characters")), errors.join(" | "));
  assert.ok(errors.some((e) => e.includes("01 to 12")), errors.join(" | "));
  assert.equal(await page.inputValue("#hostname"), "Bay 01");
  await shot(page, "02-setup-errors");
  await page.close();
});

test("two browsers finish the wizard at once: one wins, the other is told", async () => {
  const a = await newPage();
  const b = await newPage();
  await Promise.all([a.goto(`${base}/setup`), b.goto(`${base}/setup`)]);
  await fillWizard(a);
  await fillWizard(b);
  await Promise.all([
    a.click("button[type=submit]"),
    b.click("button[type=submit]"),
  ]);
  await Promise.all([a.waitForLoadState("load"), b.waitForLoadState("load")]);
  const pages = [a, b];
  const winners = pages.filter((p) => p.url().endsWith("/login?setup=done"));
  const losers = pages.filter((p) => !p.url().endsWith("/login?setup=done"));
  assert.equal(winners.length, 1, `urls: ${pages.map((p) => p.url())}`);
  assert.match(await losers[0].textContent("body"), /Another browser finished the setup first/);
  await shot(losers[0], "03-setup-lost-race");
  await shot(winners[0], "04-login-after-setup");
  // The wizard is gone now.
  const again = await a.goto(`${base}/setup`);
  assert.equal(again.status(), 404);
});

test("the admin signs in and the dashboard shows the appliance, kept fresh by htmx", async () => {
  const page = await newPage({ viewport: { width: 1366, height: 900 } });
  await page.goto(`${base}/login`);
  await page.fill("#username", "admin");
  await page.fill("#password", "wrong password here");
  await page.click("button[type=submit]");
  assert.match(await page.textContent(".flash-error"), /wrong user name or password/);
  await page.fill("#username", "admin");
  await page.fill("#password", PASSWORD);
  await page.click("button[type=submit]");
  await page.waitForURL(`${base}/`);

  // The agent observes the simulated appliance as it starts.
  await page.waitForSelector("text=Front 12-bay", { timeout: 15000 }).catch(async () => {
    await page.click("#refresh");
    await page.waitForSelector("text=Front 12-bay", { timeout: 15000 });
  });
  assert.match(await page.textContent("header .host"), /bay01/);
  assert.equal(await page.locator(".baystrip .bay").count(), 12);
  assert.equal(await page.locator(".baystrip .bay.empty").count(), 2);
  assert.equal(await page.locator(".baystrip .bay.warning").count(), 1);

  // htmx is loaded, is the pinned version, and swaps the summary in place.
  const version = await page.evaluate(() => window.htmx && window.htmx.version);
  assert.equal(version, "2.0.11");
  // The summary is drawn once per change, so an unchanged one is the same
  // text: the element swapped in is told from the old one by a mark on it.
  await page.evaluate(() => { document.querySelector("#summary").dataset.old = "yes"; });
  const htmxRequest = page.waitForRequest(
    (r) => r.url().endsWith("/dashboard/summary") && r.headers()["hx-request"] === "true",
  );
  const navigations = [];
  page.on("framenavigated", (f) => navigations.push(f.url()));
  await page.click("#refresh");
  await htmxRequest;
  await page.waitForFunction(() => {
    const summary = document.querySelector("#summary");
    return summary && summary.dataset.old === undefined;
  });
  assert.deepEqual(navigations, [], "the page was not reloaded");
  await shot(page, "05-dashboard");

  // The same dashboard on a wall screen and on a phone.
  await page.setViewportSize({ width: 1920, height: 1080 });
  await shot(page, "06-dashboard-wall");
  await page.setViewportSize({ width: 390, height: 844 });
  await shot(page, "07-dashboard-phone");
  await page.setViewportSize({ width: 1366, height: 900 });

  // Light a bay through the API from this signed-in page (with its CSRF
  // token, as a script in the page would), then watch the job finish on
  // its page without a reload.
  const enclosure = (await (await page.request.get(`${base}/api/v1/bays`)).json())[0].enclosure;
  const csrf = await page.getAttribute('meta[name="csrf-token"]', "content");
  const enq = await page.request.post(`${base}/api/v1/bays/${enclosure}/4/locate`, {
    data: { on: true },
    headers: { "x-csrf-token": csrf },
  });
  assert.equal(enq.status(), 202);
  const { job_id } = await enq.json();
  await page.goto(`${base}/jobs/${job_id}`);
  const jobNavigations = [];
  page.on("framenavigated", (f) => jobNavigations.push(f.url()));
  await page.waitForSelector('#job-live[data-state="running"]', { timeout: 15000 });
  await shot(page, "12-job-running");
  await page.waitForSelector('#job-live[data-state="succeeded"]', { timeout: 15000 });
  assert.deepEqual(jobNavigations, [], "the job page updated in place");
  assert.match(await page.textContent("#job-live"), /the enclosure reports the identify LED on/);
  await shot(page, "13-job-succeeded");
  await page.goto(`${base}/`);
  await page.waitForSelector("text=Front 12-bay, slot 4", { timeout: 15000 });
  assert.equal(await page.locator(".baystrip .bay.locate").count(), 1);
  await shot(page, "14-dashboard-lit");
  await page.goto(`${base}/jobs`);
  await shot(page, "15-jobs");

  // The bay map: one click on a bay's Identify lights it, and the map shows
  // it without a page reload.
  await page.goto(`${base}/bays`);
  assert.equal(await page.locator(".baygrid .bay").count(), 12);
  await shot(page, "16-bays");
  const mapNavigations = [];
  page.on("framenavigated", (f) => mapNavigations.push(f.url()));
  const bay = page.locator('.baygrid .bay[data-slot="8"]');
  assert.equal(await bay.evaluate((el) => el.classList.contains("locate")), false);
  await bay.locator("button.identify").click();
  // The bay clicked shows its job at once, in its own tile.
  await page.waitForSelector('.baygrid .bay.pending[data-slot="8"] .pending-job', { timeout: 15000 });
  await shot(page, "16b-bays-pending");
  await page.waitForSelector('.baygrid .bay.locate[data-slot="8"]', { timeout: 20000 });
  assert.deepEqual(mapNavigations, [], "the map changed in place");
  assert.match(await page.locator('.baygrid .bay[data-slot="8"] button.identify').textContent(), /Stop identifying/);
  await shot(page, "17-bays-lit");
  await page.setViewportSize({ width: 1920, height: 1080 });
  await shot(page, "18-bays-wall");
  await page.setViewportSize({ width: 390, height: 844 });
  await shot(page, "19-bays-phone");
  await page.setViewportSize({ width: 1366, height: 900 });
  // A bay's drive: the worn one in slot 3.
  await page.click('.baygrid .bay[data-slot="3"] a.serial');
  await page.waitForSelector("text=SMART attributes");
  assert.match(await page.textContent(".flash"), /reallocated sectors/);
  await shot(page, "20-drive");
  // A short self-test from the drive's page: the job page shows it start.
  await page.click("button[name=kind][value=short]");
  await page.waitForURL(/\/jobs\/\d+$/);
  await page.waitForSelector('#job-live[data-state="succeeded"]', { timeout: 20000 });
  assert.match(await page.textContent("#job-live"), /began its short self-test/);
  await shot(page, "21-self-test-job");

  // Admin pages.
  await page.goto(`${base}/users`);
  await page.fill("#new-username", "noc");
  await page.selectOption("#new-role", "viewer");
  await page.fill("#new-password", "wall screen password");
  await page.fill("#new-confirm", "wall screen password");
  await page.click("form.grid-form button[type=submit]");
  await page.waitForSelector("text=User noc created.");
  await shot(page, "08-users");
  await page.goto(`${base}/audit`);
  assert.ok((await page.locator("table.audit tbody tr").count()) >= 4);
  await shot(page, "09-audit");
  await page.goto(`${base}/pools`);
  assert.match(await page.textContent("main"), /No pool yet/);
  await page.goto(`${base}/volumes`);
  assert.match(await page.textContent("main"), /No volume yet\. Volumes are made in a pool/);
  await page.goto(`${base}/replication`);
  assert.match(await page.textContent("main"), /No volume is replicated/);
  assert.match(await page.textContent("main"), /No peers yet/);
  await shot(page, "10-replication");
  await page.context().close();
});

test("every page fits a phone and uses a wall screen", async () => {
  const page = await newPage({ viewport: { width: 1920, height: 1080 } });
  await page.goto(`${base}/login`);
  await page.fill("#username", "admin");
  await page.fill("#password", PASSWORD);
  await page.click("button[type=submit]");
  await page.waitForURL(`${base}/`);
  const drives = await (await page.request.get(`${base}/api/v1/drives`)).json();
  const jobs = await (await page.request.get(`${base}/api/v1/jobs`)).json();
  const pages = ["/", "/bays", "/drives", `/drives/${drives[3].id}`, "/jobs", `/jobs/${jobs[0].id}`,
    "/users", "/audit", "/settings", "/account", "/pools"];
  for (const path of pages) {
    await page.setViewportSize({ width: 1920, height: 1080 });
    await page.goto(`${base}${path}`);
    const mainWidth = await page.evaluate(() => document.querySelector("main").getBoundingClientRect().width);
    assert.ok(mainWidth > 1800, `${path} uses the wall screen's width: ${mainWidth}px`);
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${base}${path}`);
    const wide = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(wide <= 390, `${path} is ${wide}px wide on a 390px phone`);
    const name = path === "/" ? "dashboard" : path.slice(1).replaceAll("/", "-");
    await shot(page, `30-phone-${name}`);
  }
  // On the phone the menu folds behind one button.
  await page.goto(`${base}/`);
  assert.equal(await page.locator("nav.nav").isVisible(), false);
  await page.click("label.menu-button");
  assert.equal(await page.locator("nav.nav").isVisible(), true);
  await page.click("nav.nav a[href='/drives']");
  await page.waitForURL(`${base}/drives`);
  await shot(page, "31-phone-menu-drives");
  // First use, as a new administrator walks it, on the phone.
  await page.goto(`${base}/drives?sort=temperature`);
  assert.match(await page.textContent(".sort strong"), /temperature/);
  await page.click("table.drives tbody tr:first-child a");
  await page.waitForSelector("text=SMART read at");
  await page.goto(`${base}/settings`);
  // Past what the form's own pattern checks: the server refuses it in words.
  const tooLong = "b".repeat(64);
  await page.fill("#hostname", tooLong);
  await page.click("form[action='/settings'] button[type=submit]");
  await page.waitForSelector(".field-error");
  assert.equal(await page.inputValue("#hostname"), tooLong, "what was typed stays");
  await page.fill("#hostname", "bay02");
  await page.click("form[action='/settings'] button[type=submit]");
  await page.waitForSelector("text=Settings saved.");
  assert.match(await page.textContent("header .host"), /bay02/);
  await shot(page, "32-phone-settings-saved");
  // A token issued with the password is shown once; a reload issues none.
  await page.goto(`${base}/account`);
  await page.fill("#token-name", "nightly report");
  await page.fill("#token-password", PASSWORD);
  await page.click("form[action='/account/tokens'] button[type=submit]");
  await page.waitForSelector("#new-token");
  const token = await page.textContent("#new-token");
  assert.match(token, /^bst_/);
  await page.reload();
  assert.equal(await page.locator("#new-token").count(), 0, "shown once");
  const tokens = await (await page.request.get(`${base}/api/v1/tokens`)).json();
  assert.equal(tokens.filter((t) => t.name === "nightly report").length, 1, "a reload issued nothing");
  await shot(page, "33-phone-account");
  // A finished job offers no Cancel.
  await page.goto(`${base}/jobs/${jobs[0].id}`);
  await page.waitForSelector('#job-live[data-state="succeeded"]');
  assert.equal(await page.locator("#job-live button", { hasText: "Cancel" }).count(), 0);
  await page.context().close();
});

test("a viewer sees no admin pages and is refused them", async () => {
  const page = await newPage();
  await page.goto(`${base}/login`);
  await page.fill("#username", "noc");
  await page.fill("#password", "wall screen password");
  await page.click("button[type=submit]");
  await page.waitForURL(`${base}/`);
  const nav = await page.locator("nav.nav a").allTextContents();
  assert.ok(!nav.includes("Users") && !nav.includes("Audit"), nav.join(","));
  const r = await page.goto(`${base}/users`);
  assert.equal(r.status(), 403);
  assert.match(await page.textContent("body"), /needs the admin role/);
  await shot(page, "11-viewer-refused");
});

test("no page logged a console error (CSP, scripts)", () => {
  // The refused /users page is a 403 on purpose; Chromium logs failed loads.
  const real = consoleErrors.filter((e) => !e.includes("status of 403") && !e.includes("status of 404")
    && !e.includes("status of 422") && !e.includes("status of 401") && !e.includes("status of 409"));
  assert.deepEqual(real, []);
});
