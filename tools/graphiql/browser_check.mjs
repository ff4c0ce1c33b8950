// Drives Debian's Chromium (no browser download) with playwright-core:
// opens GraphiQL at URL, types QUERY into the editor, runs it and prints, as
// one JSON line, what the result pane shows, every request the page made,
// any that left loopback (aborted) and any CSP violation or page error.
// Usage: node browser_check.mjs URL QUERY EXPECTED_TEXT [SCREENSHOT.png]
import { chromium } from "playwright-core";

const [url, query, expected, screenshot] = process.argv.slice(2);
const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
  headless: true,
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
const report = {
  requests: [],
  offLoopback: [],
  cspViolations: [],
  pageErrors: [],
  result: "",
  found: false,
};
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.route("**/*", (route) => {
    const target = new URL(route.request().url());
    report.requests.push(route.request().method() + " " + target.href);
    if (target.protocol === "data:" || LOOPBACK.test(target.hostname)) return route.continue();
    report.offLoopback.push(target.href);
    return route.abort("blockedbyclient");
  });
  page.on("console", (message) => {
    const text = message.text();
    if (/Content Security Policy|Refused to/i.test(text)) report.cspViolations.push(text);
  });
  page.on("pageerror", (error) => report.pageErrors.push(String(error)));

  await page.goto(url, { waitUntil: "load" });
  const editor = page.locator(".graphiql-query-editor .CodeMirror").first();
  await editor.waitFor({ timeout: 30000 });
  await editor.click();
  await page.keyboard.press("Control+A");
  await page.keyboard.press("Delete");
  // insertText: one input event, so the editor's bracket auto-closing does not add braces.
  await page.keyboard.insertText(query);
  await page.locator("button.graphiql-execute-button").click();
  const response = page.locator(".graphiql-response .CodeMirror");
  try {
    await page.waitForFunction(
      ([selector, text]) => (document.querySelector(selector)?.textContent || "").includes(text),
      [".graphiql-response .CodeMirror", expected],
      { timeout: 30000 }
    );
    report.found = true;
  } catch (error) {
    report.waitError = String(error);
  }
  report.result = await response.innerText();
  if (screenshot) await page.screenshot({ path: screenshot });
} finally {
  await browser.close();
}
console.log(JSON.stringify(report));
