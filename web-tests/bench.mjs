// Browser replay benchmark: a generated trace (by default a 2.82 M-event spread: maps, then
// unmaps) replayed through 8 configurations
// (2, 3, 4, 14 entries x head-insert, tail-append) in the playground's workers (once with one worker,
// once with one per core: `?workers=N`), in headless
// Chromium. Reports load+replay time and how responsive the page stayed (round trips to the
// main thread while the worker ran). Usage: [BENCH_GEN="gen arguments"] [BENCH_ROUNDS=N]
// [BENCH_WORKERS=N (the capture uploads)] node web-tests/bench.mjs
import { chromium } from 'playwright-core';
import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const out = path.join(here, 'out');
mkdirSync(out, { recursive: true });
const rmaplab = process.env.RMAPLAB_BIN || path.join(root, 'target/release/rmaplab');
// BENCH_GEN overrides the generator arguments, e.g. a 10 M-event churn:
//   BENCH_GEN="--vcpus 8 churn --cycles 3300 --batch 1000 --gfns 4096 --spaces 32" node web-tests/bench.mjs
const genArgs = (process.env.BENCH_GEN || '--vcpus 8 spread --gfns 200000 --max-aliases 64 --skew-tenths 10').split(/\s+/);
const trace = path.join(out, process.env.BENCH_GEN ? 'bench-custom.rmap' : 'bench-1m.rmap');
execFileSync(rmaplab, ['gen', ...genArgs, '-o', trace], { stdio: 'inherit' });
const port = 18000 + Math.floor(Math.random() * 1000);
const server = spawn('python3', ['-m', 'http.server', String(port), '--bind', '127.0.0.1', '--directory', path.join(root, 'dist')], { stdio: 'ignore' });
await new Promise((r) => setTimeout(r, 800));
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] });
try {
  const page = await browser.newPage();
  // One replay of the trace, upload to rendered results, with `workers` workers (the page's
  // default: one per core) — and how responsive the main thread stayed meanwhile.
  const replayOnce = async (workers) => {
    const query = workers ? `?workers=${workers}` : '';
    await page.goto(`http://127.0.0.1:${port}/${query}#n=2,3,4,14&era=head-insert,tail-append`);
    await page.waitForSelector('tr[data-config="14/head-insert"]', { timeout: 60000 });
    await page.waitForSelector('.progress progress', { state: 'detached', timeout: 60000 });
    const t0 = Date.now();
    await page.setInputFiles('#file', trace);
    let worst = 0, probes = 0;
    const done = page.waitForFunction(() => document.querySelector('.trace-name')?.textContent.includes('bench-') && !document.querySelector('.progress progress'), null, { timeout: 600000, polling: 50 });
    let finished = false;
    done.then(() => { finished = true; });
    while (!finished) {
      const a = Date.now();
      await page.evaluate(() => 1);
      worst = Math.max(worst, Date.now() - a);
      probes++;
      await new Promise((r) => setTimeout(r, 20));
    }
    await done;
    return { ms: Date.now() - t0, worst, probes };
  };
  const cores = await page.evaluate(() => navigator.hardwareConcurrency);
  // Best of BENCH_ROUNDS (default 1) alternating runs of each.
  const rounds = Number(process.env.BENCH_ROUNDS || 1);
  let one = null, all = null;
  for (let i = 0; i < rounds; i++) {
    const a = await replayOnce(1);
    const b = await replayOnce(0);
    if (process.env.BENCH_VERBOSE) console.log(`round ${i}: 1 worker ${a.ms} ms, per core ${b.ms} ms`);
    if (!one || a.ms < one.ms) one = a;
    if (!all || b.ms < all.ms) all = b;
  }
  const events = (await page.locator('.provenance').innerText()).match(/([0-9]+) events/);
  console.log(`trace: generated ${genArgs.join(' ')}: ${events ? events[1] : '?'} events, ${statSync(trace).size} bytes`);
  console.log(`browser load + replay through 8 configurations, 1 worker: ${one.ms} ms`);
  console.log(`browser load + replay through 8 configurations, ${Math.min(cores, 8)} workers (one per core): ${all.ms} ms`);
  console.log(`main-thread responsiveness during the replay: ${all.probes} probes, worst round trip ${Math.max(one.worst, all.worst)} ms`);
  // Captures (BENCH_CAPTURES: comma-separated paths; default the committed fixtures): upload to
  // rendered results at 14/head-insert only, so the time is mostly reading and importing.
  const caps = (process.env.BENCH_CAPTURES || ['tc-fork16v2.dat', 'perf-fork16v2.data', 'tc-fork16v2.report-R.txt.gz']
    .map((f) => path.join(root, 'core/tests/fixtures/captures', f)).join(',')).split(',').filter(Boolean);
  if (caps.length) {
    await page.goto(`http://127.0.0.1:${port}/${process.env.BENCH_WORKERS ? `?workers=${process.env.BENCH_WORKERS}` : ""}#n=14&era=head-insert`);
    await page.waitForSelector('tr[data-config="14/head-insert"]', { timeout: 60000 });
    await page.waitForSelector('.progress progress', { state: 'detached', timeout: 60000 });
    for (const f of caps) {
      const best = [];
      for (let round = 0; round < 3; round++) {
        const c0 = Date.now();
        await page.setInputFiles('#file', f);
        await page.waitForFunction((n) => document.querySelector('.trace-name')?.textContent.includes(n) && !document.querySelector('.progress progress')
          && document.querySelector('.import-report'), path.basename(f), { timeout: 600000, polling: 20 });
        best.push(Date.now() - c0);
        // Load something else so the next round is a fresh upload.
        await page.setInputFiles('#file', trace);
        await page.waitForFunction(() => document.querySelector('.trace-name')?.textContent.includes('bench-') && !document.querySelector('.progress progress'), null, { timeout: 600000, polling: 50 });
      }
      console.log(`capture ${path.basename(f)} (${statSync(f).size} bytes): upload to rendered results ${Math.min(...best)} ms (best of 3)`);
    }
  }
} finally {
  await browser.close();
  server.kill();
}
