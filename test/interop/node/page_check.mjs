// Opens a page in headless Chromium and waits until its text shows what
// the page's WebSocket should have brought; saves a screenshot.
//   node page_check.mjs URL EXPECTED_TEXT SCREENSHOT.png [CLICK_SELECTOR]
import { chromium } from 'playwright-core';

const [url, expected, screenshot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run',
         '--disable-component-update', '--disable-sync'],
});
let status = 1;
try {
  // A fresh profile; example certificates are self-signed.
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await context.newPage();
  page.on('console', (m) => console.log('page: ' + m.text()));
  await page.goto(url);
  await page.waitForFunction((text) => document.body.innerText.includes(text), expected, { timeout: 20000 });
  await page.screenshot({ path: screenshot });
  console.log(`page ${url} shows "${expected}" (screenshot ${screenshot})`);
  status = 0;
} catch (e) {
  console.error(`page ${url}: ${e.message}`);
} finally {
  await browser.close();
}
process.exit(status);
