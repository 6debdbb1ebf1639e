// What the browser tests share: a free port for a console, waiting for it
// to answer, and reloading a page until it shows a text.

import { createServer } from "node:net";

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export async function waitForHealth(url, ms) {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {}
    if (Date.now() > deadline) throw new Error(`${url} did not answer within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// Reloads the page until `text` shows in `where`.
export async function reloadUntil(page, text, ms = 60000, where = "main") {
  const deadline = Date.now() + ms;
  for (;;) {
    if (((await page.textContent(where).catch(() => "")) ?? "").includes(text)) return;
    if (Date.now() > deadline) throw new Error(`"${text}" not on ${page.url()} within ${ms} ms`);
    await page.waitForTimeout(500);
    await page.reload();
  }
}
