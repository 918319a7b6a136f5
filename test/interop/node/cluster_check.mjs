// A headless Chromium page in example 03 behind nginx, through a rolling
// restart of the instances: it joins, says "joined" on standard output,
// and must see "rejoined" (its socket ended with 1001 and it came back
// through nginx), then hear itself in the room again.
//   node cluster_check.mjs http://127.0.0.1:NGINX_PORT/ SCREENSHOT_DIR
import { launchChromium } from './chromium.mjs';

const [url, screenshots] = process.argv.slice(2);
const browser = await launchChromium();
const shows = (page, text, timeout) =>
  page.waitForFunction((t) => document.getElementById('log').textContent.includes(t), text, { timeout });
let status = 1;
let page;
try {
  page = await (await browser.newContext()).newPage();
  await page.goto(url);
  await page.fill('#name', 'carol');
  await page.fill('#room', 'lobby');
  await page.click('#join button');
  await shows(page, 'joined lobby', 20000);
  console.log('joined');
  await shows(page, 'closed (1001), reconnecting', 60000);
  await shows(page, 'rejoined lobby', 30000);
  await page.fill('#text', 'back again');
  await page.press('#text', 'Enter');
  await shows(page, 'carol: back again', 10000);
  console.log('rejoined');
  status = 0;
} catch (e) {
  console.error('cluster: ' + e.message);
} finally {
  if (page) await page.screenshot({ path: `${screenshots}/03_chat_cluster.png` }).catch(() => {});
  await browser.close();
}
process.exit(status);
