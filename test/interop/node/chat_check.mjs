// Two headless Chromium pages chat through example 03: each joins a room
// under its own name, and what one says appears on the other's page.
//   node chat_check.mjs http://127.0.0.1:PORT/ SCREENSHOT_DIR
import { launchChromium } from './chromium.mjs';

const [url, screenshots] = process.argv.slice(2);
const browser = await launchChromium();
const shows = (page, text) =>
  page.waitForFunction((t) => document.getElementById('log').textContent.includes(t), text, { timeout: 20000 });
let status = 1;
try {
  const join = async (name) => {
    const page = await (await browser.newContext()).newPage();
    await page.goto(url);
    await page.fill('#name', name);
    await page.fill('#room', 'lobby');
    await page.click('#join button');
    await shows(page, 'joined lobby');
    return page;
  };
  const alice = await join('alice');
  const bob = await join('bob');
  await shows(alice, 'bob joined');
  await alice.fill('#text', 'hello bob');
  await alice.press('#text', 'Enter');
  await shows(bob, 'alice: hello bob');
  await bob.fill('#text', 'hi alice');
  await bob.press('#text', 'Enter');
  await shows(alice, 'bob: hi alice');
  await alice.screenshot({ path: `${screenshots}/03_chat_alice.png` });
  await bob.screenshot({ path: `${screenshots}/03_chat_bob.png` });
  console.log('chat: alice and bob talked through the server');
  status = 0;
} catch (e) {
  console.error('chat: ' + e.message);
} finally {
  await browser.close();
}
process.exit(status);
