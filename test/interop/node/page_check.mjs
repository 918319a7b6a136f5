// Opens a page in headless Chromium and waits until its text shows what
// the page's WebSocket should have brought; saves a screenshot. With a
// selector, then clicks that element and waits for the second text.
//   node page_check.mjs URL EXPECTED_TEXT SCREENSHOT.png [CLICK_SELECTOR EXPECTED_AFTER_CLICK]
import { launchChromium } from './chromium.mjs';

const [url, expected, screenshot, clickSelector, afterClick] = process.argv.slice(2);
const shows = (page, text) =>
  page.waitForFunction((t) => document.body.innerText.includes(t), text, { timeout: 20000 });
const browser = await launchChromium();
let status = 1;
try {
  // A fresh profile; example certificates are self-signed.
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await context.newPage();
  page.on('console', (m) => console.log('page: ' + m.text()));
  await page.goto(url);
  await shows(page, expected);
  console.log(`page ${url} shows "${expected}"`);
  if (clickSelector) {
    await page.click(clickSelector, { position: { x: 120, y: 80 } });
    await shows(page, afterClick);
    console.log(`after a click on ${clickSelector} it shows "${afterClick}"`);
  }
  await page.screenshot({ path: screenshot });
  status = 0;
} catch (e) {
  console.error(`page ${url}: ${e.message}`);
} finally {
  await browser.close();
}
process.exit(status);
