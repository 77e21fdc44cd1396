// Large captures in the playground: upload each file given on the command line, wait for the
// rendered results at 14/head-insert, and report the time and the peak memory of Chromium's
// renderer processes (where the page and its workers run), sampled from /proc every 100 ms.
// With EXPLORE=1, it then times what a user does next on the same capture: new array sizes
// (a replay of the worker's kept import), a new vCPU count (arithmetic only, no replay) and a
// stepper pick. BENCH_HASH sets the page's settings (default `#n=14&era=head-insert`; `''` for
// the page's own 7 sizes x 2 eras). Needs a built dist/ (trunk build --release). Usage:
//   node web-tests/bigcapture.mjs CAPTURE [CAPTURE ...]     [BENCH_WORKERS=N] [EXPLORE=1]
import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const files = process.argv.slice(2);
if (!files.length) {
  console.error('usage: node web-tests/bigcapture.mjs CAPTURE [CAPTURE ...]');
  process.exit(2);
}

/** Resident KiB of every Chromium renderer process, by pid. */
function renderers() {
  const out = new Map();
  for (const pid of readdirSync('/proc').filter((d) => /^[0-9]+$/.test(d))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (!cmd.includes('--type=renderer')) continue;
      const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+([0-9]+) kB/);
      if (m) out.set(pid, Number(m[1]));
    } catch {
      // The process ended meanwhile.
    }
  }
  return out;
}

const port = 19000 + Math.floor(Math.random() * 1000);
const server = spawn('python3', ['-m', 'http.server', String(port), '--bind', '127.0.0.1', '--directory', path.join(root, 'dist')], { stdio: 'ignore' });
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] });
try {
  const page = await browser.newPage();
  const query = process.env.BENCH_WORKERS ? `?workers=${process.env.BENCH_WORKERS}` : '';
  for (let i = 0; ; i++) {
    try {
      await page.goto(`http://127.0.0.1:${port}/${query}${process.env.BENCH_HASH ?? '#n=14&era=head-insert'}`);
      break;
    } catch (e) {
      if (i > 100) throw e;
      await new Promise((r) => setTimeout(r, 100)); // the server is still starting
    }
  }
  await page.waitForSelector('tr[data-config="14/head-insert"]', { timeout: 60000 });
  await page.waitForSelector('.progress progress', { state: 'detached', timeout: 60000 });
  for (const f of files) {
    const base = [...renderers().values()].reduce((a, b) => a + b, 0);
    let peakOne = 0;
    let peakAll = 0;
    const sampler = setInterval(() => {
      const r = [...renderers().values()];
      peakOne = Math.max(peakOne, ...r);
      peakAll = Math.max(peakAll, r.reduce((a, b) => a + b, 0));
    }, 100);
    const t0 = Date.now();
    await page.setInputFiles('#file', f);
    await page.waitForFunction((n) => document.querySelector('.trace-name')?.textContent.includes(n)
      && !document.querySelector('.progress progress') && (document.querySelector('.import-report') || document.querySelector('.error')),
    path.basename(f), { timeout: 3600000, polling: 100 });
    const ms = Date.now() - t0;
    clearInterval(sampler);
    const err = await page.locator('.error').count() ? await page.locator('.error').first().innerText() : '';
    const rec = await page.locator('.recommend').count() ? (await page.locator('.recommend').first().innerText()).slice(0, 80) : '';
    console.log(`${path.basename(f)} (${statSync(f).size} bytes): results in ${ms} ms; renderer peak ${Math.round(peakOne / 1024)} MiB (all renderers ${Math.round(peakAll / 1024)} MiB, ${Math.round(base / 1024)} MiB before)${err ? `; error: ${err}` : ''}${rec ? `; ${rec}` : ''}`);
    if (process.env.EXPLORE && !err) {
      const idle = () => page.waitForFunction(() => !document.querySelector('.progress progress') && !document.querySelector('.recommend-pending'), null, { timeout: 3600000, polling: 50 });
      await idle();
      const imports = () => page.locator('main').getAttribute('data-imports').then(Number);
      const importsBefore = await imports();
      let t = Date.now();
      await page.fill('#entries', '2,5,14');
      await page.press('#entries', 'Tab');
      await page.waitForSelector('tr[data-config="5/head-insert"]', { timeout: 3600000 });
      await page.waitForFunction(() => !document.querySelector('.progress progress'), null, { timeout: 3600000, polling: 50 });
      const sizes = Date.now() - t;
      await idle();
      t = Date.now();
      await page.fill('#vcpus', '7');
      await page.press('#vcpus', 'Tab');
      await page.waitForFunction(() => /memory for 7 vCPUs per VM/.test(document.querySelector('table.results caption')?.textContent || ''), null, { timeout: 3600000, polling: 10 });
      const vcpus = Date.now() - t;
      const option = await page.locator('#rmap-pick option').nth(1).getAttribute('value');
      t = Date.now();
      await page.selectOption('#rmap-pick', option);
      await page.waitForSelector('.stepper .era .chain, .stepper .era .head', { timeout: 3600000 });
      const pick = Date.now() - t;
      console.log(`  then: sizes 2,5,14 replayed in ${sizes} ms; vCPUs 7 in ${vcpus} ms; stepper pick in ${pick} ms; captures imported by the workers: ${importsBefore} for the upload, ${await imports() - importsBefore} after`);
    }
  }
} finally {
  await browser.close();
  server.kill();
}
