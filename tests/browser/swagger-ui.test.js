#!/usr/bin/env node
// Black-box browser test of the Swagger UI that sequence-server serves at /docs.
//
//   node tests/browser/swagger-ui.test.js <server-url> <api-key>
//   (or SEQUENCE_SERVER_URL / SEQUENCE_API_KEY in the environment)
//
// Drives Debian's Chromium (CHROMIUM, default /usr/bin/chromium) through playwright-core, as a
// person would: open /docs, Authorize with `ApiKey <key>`, expand GET /accounts (listAccounts),
// "Try it out", "Execute", and expect the live response to be 200 with the demo account
// "Chase Checking ••4567" in its body. The server must run with --demo (the key is the one it
// prints). Screenshot: target/swagger-ui.png; on failure target/swagger-ui-failure.png.
// Exit status 0 on success, 1 on failure (with the reason on stderr).

'use strict';

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');

const ROOT = path.resolve(__dirname, '..', '..');
const SCREENSHOT = path.join(ROOT, 'target', 'swagger-ui.png');
const FAILURE_SCREENSHOT = path.join(ROOT, 'target', 'swagger-ui-failure.png');
const EXPECTED_ACCOUNT = 'Chase Checking ••4567';
const TIMEOUT_MS = 20_000;

// What Chromium needs here: running as root (no sandbox), no GPU, and no background traffic to
// Google's hosts (the machine's network is closed; those connections only add noise and delay).
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

function usage(message) {
  console.error(`swagger-ui.test.js: ${message}`);
  console.error('usage: node tests/browser/swagger-ui.test.js <server-url> <api-key>');
  process.exit(2);
}

async function main() {
  const baseUrl = (process.argv[2] || process.env.SEQUENCE_SERVER_URL || '').replace(/\/+$/, '');
  const apiKey = process.argv[3] || process.env.SEQUENCE_API_KEY || '';
  if (!baseUrl) usage('missing the server URL (e.g. http://127.0.0.1:8080)');
  if (!apiKey) usage('missing the API key (the one `sequence-server serve --demo` prints)');
  const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
  if (!fs.existsSync(executablePath)) {
    usage(`no Chromium at ${executablePath} (apt-get install --no-install-recommends chromium, or set CHROMIUM)`);
  }
  fs.mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
  fs.rmSync(SCREENSHOT, { force: true });
  fs.rmSync(FAILURE_SCREENSHOT, { force: true });

  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'swagger-ui-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 900 },
  });
  const page = context.pages()[0] || (await context.newPage());
  page.setDefaultTimeout(TIMEOUT_MS);

  // Collected for the failure report: what the page itself complained about.
  const pageProblems = [];
  page.on('pageerror', (error) => pageProblems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') pageProblems.push(`console error: ${message.text()}`);
  });
  page.on('requestfailed', (request) =>
    pageProblems.push(`request failed: ${request.method()} ${request.url()} (${request.failure()?.errorText})`),
  );

  let step = 'start';
  try {
    step = `open ${baseUrl}/docs`;
    const response = await page.goto(`${baseUrl}/docs`, { waitUntil: 'load' });
    if (!response || !response.ok()) {
      throw new Error(`GET /docs answered ${response ? response.status() : 'nothing'}`);
    }

    step = 'wait for Swagger UI to render the spec';
    const authorizeButton = page.locator('.scheme-container button.authorize');
    await authorizeButton.waitFor({ state: 'visible' });
    const title = (await page.locator('.information-container .title').first().innerText()).trim();
    if (!title.includes('Sequence API')) throw new Error(`unexpected spec title: ${JSON.stringify(title)}`);

    step = 'click Authorize';
    await authorizeButton.click();
    const dialog = page.locator('.dialog-ux .modal-ux');
    await dialog.waitFor({ state: 'visible' });

    step = 'enter the key for ApiKeyAuth';
    const scheme = dialog.locator('.auth-container').filter({ hasText: 'ApiKeyAuth' });
    await scheme.locator('input').first().fill(`ApiKey ${apiKey}`);
    await scheme.locator('button.authorize, button[type=submit]').first().click();
    // Once authorized, Swagger UI offers "Logout" for the scheme instead of "Authorize".
    await scheme.locator('button', { hasText: 'Logout' }).waitFor({ state: 'visible' });

    step = 'close the Authorize dialog';
    await dialog.locator('button.btn-done, button:has-text("Close")').first().click();
    await dialog.waitFor({ state: 'hidden' });

    step = 'expand GET /accounts (listAccounts)';
    const operation = page.locator('#operations-Accounts-listAccounts');
    await operation.locator('.opblock-summary').first().click();
    const tryItOut = operation.locator('button.try-out__btn');
    await tryItOut.waitFor({ state: 'visible' });

    step = 'click Try it out';
    await tryItOut.click();
    const execute = operation.locator('button.execute');
    await execute.waitFor({ state: 'visible' });

    step = 'click Execute';
    const apiResponse = page.waitForResponse(
      (r) => new URL(r.url()).pathname === '/api/v1/accounts' && r.request().method() === 'GET',
    );
    await execute.click();
    const answered = await apiResponse;
    const sentAuthorization = await answered.request().headerValue('authorization');
    if (sentAuthorization !== `ApiKey ${apiKey}`) {
      throw new Error('the request Swagger UI sent did not carry the Authorization header that was entered');
    }

    step = 'read the live response';
    const live = operation.locator('.live-responses-table');
    await live.waitFor({ state: 'visible' });
    const status = (await live.locator('tbody .response-col_status').first().innerText()).trim();
    const body = await live.locator('tbody .response-col_description pre').first().innerText();
    if (status !== '200') {
      throw new Error(`the live response shows status ${JSON.stringify(status)}, expected 200; body: ${body.slice(0, 500)}`);
    }
    if (!body.includes(EXPECTED_ACCOUNT)) {
      throw new Error(`the live response body does not contain ${JSON.stringify(EXPECTED_ACCOUNT)}: ${body.slice(0, 500)}`);
    }

    step = 'take the screenshot';
    // From the operation's header down to the end of the live response (the documented
    // responses below it are long and not what this test is about).
    await live.scrollIntoViewIfNeeded();
    const top = await operation.locator('.opblock-summary').first().boundingBox();
    const bottom = await live.boundingBox();
    const scroll = await page.evaluate(() => ({ x: window.scrollX, y: window.scrollY }));
    await page.screenshot({
      path: SCREENSHOT,
      fullPage: true,
      clip: {
        x: top.x + scroll.x,
        y: top.y + scroll.y,
        width: top.width,
        height: bottom.y + bottom.height - top.y,
      },
    });
    console.log(
      `ok: Swagger UI at ${baseUrl}/docs authorized with ApiKeyAuth, executed listAccounts: ` +
        `200 with "${EXPECTED_ACCOUNT}" (screenshot: ${path.relative(ROOT, SCREENSHOT)})`,
    );
  } catch (error) {
    console.error(`FAILED at step "${step}": ${error.message.split('\n')[0]}`);
    for (const problem of pageProblems) console.error(`  ${problem}`);
    try {
      await page.screenshot({ path: FAILURE_SCREENSHOT, fullPage: true });
      console.error(`  screenshot of the page: ${path.relative(ROOT, FAILURE_SCREENSHOT)}`);
    } catch (screenshotError) {
      console.error(`  (no screenshot: ${screenshotError.message.split('\n')[0]})`);
    }
    process.exitCode = 1;
  } finally {
    await context.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(`swagger-ui.test.js: ${error.stack || error}`);
  process.exit(1);
});
