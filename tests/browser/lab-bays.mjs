// The bay map in a real browser against the `linux` backend: run by the
// integration lab (tests/lab/lab.sh) while its scenario 13-browser-bays has
// a console in the guest, reading an emulated 24-bay SAS JBOD through the
// guest kernel's ses driver, forwarded to this host's loopback. Not named
// *.test.mjs: it needs that guest, so `node --test tests/browser/` skips it.
//
// Signs in, opens /bays, clicks Identify on one bay and waits for the bay to
// show it lit, on the same page (no reload), with screenshots in $ARTIFACTS.
//
//   BAYSTACK_LAB_URL=http://127.0.0.1:PORT BAYSTACK_LAB_PASSWORD=... \
//     node --test tests/browser/lab-bays.mjs

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const LAB_URL = process.env.BAYSTACK_LAB_URL;
const PASSWORD = process.env.BAYSTACK_LAB_PASSWORD;
const ARTIFACTS = process.env.ARTIFACTS ?? new URL("../../artifacts/lab-browser", import.meta.url).pathname;
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const SLOT = process.env.BAYSTACK_LAB_SLOT ?? "7";

let browser;
const consoleErrors = [];

before(async () => {
  assert.ok(LAB_URL && PASSWORD, "BAYSTACK_LAB_URL and BAYSTACK_LAB_PASSWORD are set by tests/lab/lab.sh");
  mkdirSync(ARTIFACTS, { recursive: true });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
  });
});

after(async () => {
  await browser?.close();
});

test("identify clicked on a bay of the 24-bay JBOD lights it without a reload", async () => {
  const page = await (await browser.newContext({ viewport: { width: 1400, height: 1000 } })).newPage();
  page.on("console", (m) => m.type() === "error" && consoleErrors.push(m.text()));
  page.on("pageerror", (e) => consoleErrors.push(e.message));

  await page.goto(`${LAB_URL}/login?next=/bays`);
  await page.fill("#username", "admin");
  await page.fill("#password", PASSWORD);
  await Promise.all([page.waitForURL(/\/bays$/), page.click("button[type=submit]")]);

  const grid = page.locator('ol.baygrid[aria-label*="SAS2X28"]');
  await grid.waitFor();
  assert.equal(await grid.locator("li.bay").count(), 24, "24 bays");
  const heading = await page.locator("h2", { hasText: "SAS2X28" }).textContent();
  assert.match(heading, /read and lit through the kernel/, "the method is named");
  const bay = grid.locator(`li.bay[data-slot="${SLOT}"]`);
  // Named as everywhere by its slot number; the enclosure's own descriptor
  // for it (from the kernel's ses driver) is in its title.
  assert.match(await bay.textContent(), new RegExp(`slot ${SLOT}\\b`));
  assert.match(await bay.getAttribute("title"), new RegExp(`\\(Slot0?${SLOT}\\)`));
  assert.doesNotMatch(await bay.getAttribute("class"), /\blocate\b/, "dark before the click");
  await page.screenshot({ path: join(ARTIFACTS, "lab-bays-before.png"), fullPage: true });

  // A mark in the page: a reload would lose it.
  await page.evaluate(() => { window.__sameDocument = true; });
  await bay.locator("button.identify").click();
  // The bay clicked says at once that its LED is asked for (or, on a quick
  // enclosure, is already lit).
  await page.waitForSelector(`ol.baygrid[aria-label*="SAS2X28"] li.bay.pending[data-slot="${SLOT}"] .pending-job, ol.baygrid[aria-label*="SAS2X28"] li.bay.locate[data-slot="${SLOT}"]`, { timeout: 15000 });
  await page.waitForSelector(`ol.baygrid[aria-label*="SAS2X28"] li.bay.locate[data-slot="${SLOT}"]`, { timeout: 45000 });
  assert.equal(await page.evaluate(() => window.__sameDocument), true, "the page was not reloaded");
  const lit = grid.locator(`li.bay[data-slot="${SLOT}"]`);
  assert.match(await lit.textContent(), /identify on · dark at \d\d:\d\d/);
  assert.match(await lit.locator("button.identify").textContent(), /Stop identifying/);
  await page.screenshot({ path: join(ARTIFACTS, "lab-bays-identify.png"), fullPage: true });
  assert.deepEqual(consoleErrors, [], "no errors in the browser's console");
});
