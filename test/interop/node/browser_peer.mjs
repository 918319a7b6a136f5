// Headless Chromium as a WebSocket client of a Tether server: opens the
// server's test page, whose script runs the checks, and reports them.
//   node browser_peer.mjs http(s)://127.0.0.1:PORT/page
import { launchChromium } from './chromium.mjs';

const url = process.argv[2];
const browser = await launchChromium();
let status = 1;
try {
  // A fresh, temporary profile. The https run uses a certificate made for
  // the test, which no browser trusts.
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await context.newPage();
  page.on('console', (m) => console.log('page: ' + m.text()));
  await page.goto(url);
  const result = await page.waitForFunction(() => window.results, null, { timeout: 60000 });
  const results = await result.jsonValue();
  for (const line of results.failures) console.error('browser: ' + line);
  console.log(`browser (${await browser.version()}): ${results.passed} checks passed, ${results.failures.length} failed`);
  status = results.failures.length === 0 && results.passed > 0 ? 0 : 1;
} catch (e) {
  console.error('browser: ' + e.message);
} finally {
  await browser.close();
}
process.exit(status);
