// Headless Chromium (Debian's) as the tests launch it: no sandbox (CI runs
// as root), no GPU, nothing in the background, a fresh profile per context.
import { chromium } from 'playwright-core';

export function launchChromium() {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run',
           '--disable-component-update', '--disable-sync'],
  });
}
