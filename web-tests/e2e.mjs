// End-to-end test of the playground in Debian's Chromium (playwright-core, no downloaded browser).
// Serves dist/ on 127.0.0.1, then: checks the default trace's results, uploads a trace in each
// accepted format, changes the sizes, steps through an rmap, follows a share link, feeds a
// garbage file, and saves screenshots to web-tests/out/. Fails on any request that leaves
// 127.0.0.1 and on any console error. Also runs the playground column of docs/bad-input.md
// (10 MB line, bad events, non-UTF-8, u64::MAX ids, unknown removes, 50 M adds to one rmap, a
// 2 GiB upload with cancel).
import { chromium } from 'playwright-core';
import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync, existsSync, readFileSync, openSync, writeSync, closeSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const out = path.join(here, 'out');
mkdirSync(out, { recursive: true });
const rmaplab = process.env.RMAPLAB_BIN || path.join(root, 'target/release/rmaplab');

function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

let failures = 0;
function check(cond, what) {
  if (cond) { console.log(`ok   ${what}`); } else { console.log(`FAIL ${what}`); failures++; }
}

// Fixtures: one trace per accepted format.
const fx = path.join(out, 'fixtures');
mkdirSync(fx, { recursive: true });
if (!existsSync(rmaplab)) throw new Error(`${rmaplab} is missing: build it with cargo build --release -p rmaplab`);
execFileSync(rmaplab, ['gen', '--vcpus', '2', 'fork', '--procs', '9', '--pages', '20', '--private', '2', '-o', path.join(fx, 'fork.rmap')], { stdio: 'ignore' });
execFileSync(rmaplab, ['convert', path.join(fx, 'fork.rmap'), path.join(fx, 'fork.jsonl')], { stdio: 'ignore' });
const ftrace = path.join(root, 'core/tests/fixtures/ftrace/alias15-unmap-remap-delslot.txt');
writeFileSync(path.join(fx, 'garbage.bin'), Buffer.from([0, 1, 2, 3, 0xff, 0xfe, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]));
writeFileSync(path.join(fx, 'empty.rmap'), Buffer.alloc(0));
{
  const good = readFileSync(path.join(fx, 'fork.rmap'));
  writeFileSync(path.join(fx, 'truncated.rmap'), good.subarray(0, Math.floor(good.length / 2)));
  const future = Buffer.from(good);
  future[8] = 9;
  writeFileSync(path.join(fx, 'future.rmap'), future);
}

// Bad-input matrix fixtures (docs/bad-input.md, playground column).
const header = '{"format":"rmaplab-trace","version":1}\n';
const U64_MAX = '18446744073709551615';
writeFileSync(path.join(fx, 'long-line.jsonl'), header + '{"ev":"mark","label":"' + 'x'.repeat(10 << 20) + '"}\n');
writeFileSync(path.join(fx, 'bad-event.jsonl'), header + '{"ev":"add","rmap":1}\n');
writeFileSync(path.join(fx, 'not-utf8.jsonl'), Buffer.concat([Buffer.from(header), Buffer.from([0xff, 0xfe, 0x0a])]));
writeFileSync(path.join(fx, 'u64max.jsonl'), header + [
  `{"ev":"add","rmap":${U64_MAX},"spte":${U64_MAX}}`, `{"ev":"add","rmap":${U64_MAX},"spte":18446744073709551614}`,
  `{"ev":"add","rmap":${U64_MAX},"spte":0}`, `{"ev":"add","rmap":0,"spte":1}`].join('\n') + '\n');
writeFileSync(path.join(fx, 'unknown-remove.jsonl'), header + [
  '{"ev":"add","rmap":5,"spte":1}', '{"ev":"add","rmap":5,"spte":2}', '{"ev":"remove","rmap":5,"spte":99}'].join('\n') + '\n');
// 50 M adds to one rmap (100 MB binary).
execFileSync(rmaplab, ['gen', 'alias', '--aliases', '50000000', '-o', path.join(fx, 'alias50m.rmap')], { stdio: 'ignore' });
// A file over 2 GiB: a valid one-event trace without its end record, then 2048 one-MiB mark
// events; the page must stream all of it and name the byte offset where the end record is missing.
const big = path.join(fx, 'big2g.rmap');
{
  writeFileSync(path.join(fx, 'one.jsonl'), header + '{"ev":"add","rmap":1,"spte":2}\n');
  execFileSync(rmaplab, ['convert', path.join(fx, 'one.jsonl'), path.join(fx, 'one.rmap')], { stdio: 'ignore' });
  const one = readFileSync(path.join(fx, 'one.rmap'));
  const start = one.subarray(0, one.length - 2); // drop OP_END + varint(1)
  const mark = Buffer.alloc(4 + (1 << 20), 'a'.charCodeAt(0));
  mark.set([6, 0x80, 0x80, 0x40], 0); // OP_MARK, varint(1 MiB)
  const fd = openSync(big, 'w');
  writeSync(fd, start);
  for (let i = 0; i < 2048; i++) writeSync(fd, mark);
  closeSync(fd);
  var bigEnd = start.length + 2048 * mark.length; // eslint-disable-line no-var
}

const port = await freePort();
const server = spawn('python3', ['-m', 'http.server', String(port), '--bind', '127.0.0.1', '--directory', path.join(root, 'dist')], { stdio: 'ignore' });
const base = `http://127.0.0.1:${port}/`;
for (let i = 0; i < 100; i++) {
  try { await fetch(base); break; } catch { await new Promise((r) => setTimeout(r, 100)); }
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
});
const outside = [];
const consoleErrors = [];
async function newPage(viewport) {
  const ctx = await browser.newContext({ viewport, acceptDownloads: true });
  const page = await ctx.newPage();
  page.on('request', (r) => { const u = new URL(r.url()); if (!['127.0.0.1', ''].includes(u.hostname) && !r.url().startsWith('data:') && !r.url().startsWith('blob:')) outside.push(r.url()); });
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  return page;
}
const results = (page) => page.locator('table.results tbody tr');
// The charts as drawn: no two text elements overlap, none is clipped by its chart, all text is
// at least 11 CSS px, and the page does not scroll sideways. Returns the problems found.
const chartProblems = (page) => page.evaluate(() => {
  const out = [];
  if (document.documentElement.scrollWidth > window.innerWidth) out.push(`the page scrolls sideways: ${document.documentElement.scrollWidth} px in ${window.innerWidth}`);
  const svgs = [...document.querySelectorAll('figure.chart > .plot > svg')];
  if (!svgs.length) out.push('no charts');
  for (const svg of svgs) {
    const name = svg.getAttribute('aria-label');
    const sr = svg.getBoundingClientRect();
    const scale = sr.width / (svg.viewBox.baseVal.width || sr.width);
    const texts = [...svg.querySelectorAll('text')].filter((t) => t.textContent.trim());
    const rects = texts.map((t) => t.getBoundingClientRect());
    texts.forEach((t, i) => {
      const px = parseFloat(getComputedStyle(t).fontSize) * scale;
      if (px < 10.95) out.push(`${name}: "${t.textContent}" at ${px.toFixed(1)} px`);
      const a = rects[i];
      if (a.left < sr.left - 0.5 || a.right > sr.right + 0.5 || a.top < sr.top - 0.5 || a.bottom > sr.bottom + 0.5) out.push(`${name}: "${t.textContent}" clipped`);
      for (let j = i + 1; j < rects.length; j++) {
        const b = rects[j];
        if (Math.min(a.right, b.right) - Math.max(a.left, b.left) > 0.5 && Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > 0.5) out.push(`${name}: "${t.textContent}" overlaps "${texts[j].textContent}"`);
      }
    });
  }
  return out;
});
// One cell of the results table, by configuration and registry key.
const cell = (page, config, key) => page.locator(`tr[data-config="${config}"] td[data-key="${key}"]`).innerText();
const maxRmap = (page) => cell(page, '14/head-insert', 'max_rmap_size');
// Idle: the replay finished, and so did the recommendation's second pass.
const waitIdle = async (page) => {
  await page.waitForSelector('.progress progress', { state: 'detached', timeout: 60000 });
  await page.waitForSelector('.recommend-pending', { state: 'detached', timeout: 120000 });
};

try {
  const page = await newPage({ width: 1280, height: 800 });
  const t0 = Date.now();
  await page.goto(base);
  await page.waitForSelector('tr[data-config="14/head-insert"]', { timeout: 60000 });
  await page.waitForSelector('.progress progress', { state: 'detached', timeout: 60000 });
  console.log(`     default trace replayed and rendered in ${Date.now() - t0} ms`);
  await waitIdle(page);
  console.log(`     and its recommendation (N = 2..16 replayed too) in ${Date.now() - t0} ms`);
  check(await results(page).count() >= 14, 'default trace: a row per configuration (7 sizes x 2 eras)');
  const checks = await page.locator('p.checks').innerText();
  check(/reproduces all 8 of KVM's own counters/.test(checks), `default trace reproduces KVM's counters: "${checks.slice(0, 80)}"`);
  const trust = await page.locator('p.trust').innerText();
  check(/^Exact — checked against 8 of KVM's own counter readings/.test(trust), `default trace: the trust line says exact and checked: "${trust.slice(0, 80)}"`);
  check(/rmaplab collect/.test(await page.locator('.provenance').innerText()), 'provenance names the collector');
  check(/Recommendation: N = \d+/.test(await page.locator('.recommend').innerText()), 'recommendation line present');
  // The verdict comes first, above the form, and names the size whose row the table marks.
  const verdict = await page.locator('p.verdict').innerText();
  const recN = await page.locator('p.verdict').getAttribute('data-entries');
  check(/^(Use N = \d+: (saves|costs) .* per 4-vCPU VM, [+-]\d+% work per list operation|Keep 14 entries)/.test(verdict), `the verdict first: "${verdict}"`);
  check(await page.locator(`tr.recommended[data-config="${recN}/head-insert"]`).count() === 1, `the recommended size ${recN} has a marked row`);
  const [verdictBox, formBox] = [await page.locator('p.verdict').boundingBox(), await page.locator('form.controls').boundingBox()];
  check(verdictBox.y < formBox.y && verdictBox.y + verdictBox.height <= 800, `the verdict is above the form and the fold at 1280x800 (y = ${Math.round(verdictBox.y)})`);
  check(await page.locator('.seed table tbody tr').count() >= 4, 'seed check panel');
  check(await page.locator('.chart svg polyline').count() >= 14, 'memory chart has a line per configuration');
  check(/Rmap_Count:\t0\t1\t2-3/.test(await page.locator('pre.kernel-text').innerText()), 'mmu_rmaps_stat text shown');
  const wide = await chartProblems(page);
  check(wide.length === 0, `1280x800: charts with no overlapping, clipped or small text, no sideways scroll ${wide.slice(0, 4).join('; ')}`);
  check(await page.locator('.chart .ring.recommended').count() === 1 && await page.locator(`.chart .legend li.recommended`).count() >= 3, 'the recommended size is ringed on the trade-off chart and named in the legends');
  check(await page.locator('.chart-values summary').count() === 4, 'each chart has its values as a table (keyboard-reachable disclosure)');
  // Zoom into the second half of the trace with the keyboard-operable sliders, and back.
  await page.locator('#zoom-from').fill('500');
  await page.locator('#zoom-from').dispatchEvent('input');
  await page.waitForFunction(() => /from event [1-9]/.test(document.querySelector('.zoom')?.textContent || ''), null, { timeout: 5000 });
  const zoomedProblems = await chartProblems(page);
  check(zoomedProblems.length === 0 && await page.locator('.zoom button').count() === 1, `the memory chart zooms into the trace's second half ("${(await page.locator('.zoom').innerText()).replace(/\s+/g, ' ')}") ${zoomedProblems.slice(0, 3).join('; ')}`);
  await page.click('.zoom button');
  await page.waitForFunction(() => /from event 0 /.test(document.querySelector('.zoom')?.textContent || ''), null, { timeout: 5000 });
  await page.screenshot({ path: path.join(out, 'playground.png'), fullPage: false });
  await page.screenshot({ path: path.join(out, 'playground-full.png'), fullPage: true });

  // The trace's own vCPU count drives the memory figures.
  check(await page.getAttribute('#vcpus', 'placeholder') === "4 (the trace's)", 'vCPUs come from the trace (4)');
  const recDefault = await page.locator('.recommend').innerText();
  check(/per 4-vCPU VM|keep today's size/.test(recDefault), `recommendation at the trace's 4 vCPUs: "${recDefault.slice(0, 140)}"`);
  // vCPUs only change the memory arithmetic: no replay (no progress bar), new figures at once.
  await page.fill('#vcpus', '8');
  await page.press('#vcpus', 'Tab');
  await page.waitForFunction(() => /per 8-vCPU VM|keep today's size/.test(document.querySelector('.recommend')?.textContent || ''), null, { timeout: 10000 });
  check(await page.locator('.progress progress').count() === 0, 'a vCPU change recomputes the figures without a replay');
  // A value that cannot be taken is marked where it was typed and kept out of the link.
  const urlBefore = page.url();
  await page.fill('#vcpus', '0');
  await page.press('#vcpus', 'Tab');
  await page.waitForSelector('#vcpus[aria-invalid="true"]', { timeout: 10000 });
  check(/outside 1\.\.4096/.test(await page.locator('#vcpus-error').innerText()) && await page.getAttribute('#vcpus', 'aria-describedby') === 'vcpus-error', 'vCPUs 0: marked invalid with its message');
  check(page.url() === urlBefore && await page.locator('.results-area.stale').count() === 1, 'vCPUs 0: not written to the link, the results dimmed');
  await page.fill('#vcpus', '');
  await page.press('#vcpus', 'Tab');
  await page.waitForSelector('#vcpus[aria-invalid="true"]', { state: 'detached', timeout: 10000 });
  // KVM's own counters typed in: the replay is checked against them, and a wrong one takes the
  // recommendation away.
  await page.fill('#kvm-stats', 'max_mmu_rmap_size=999');
  await page.press('#kvm-stats', 'Tab');
  await page.waitForFunction(() => /^Not reproduced/.test(document.querySelector('p.trust')?.textContent || ''), null, { timeout: 60000 });
  await waitIdle(page);
  check(/^No size recommended: Not reproduced — 1 of the 9/.test(await page.locator('p.verdict').innerText()) && page.url().includes('kvm=max_mmu_rmap_size=999'),
    `a typed counter that the replay does not reproduce: "${await page.locator('p.verdict').innerText()}"`);
  await page.fill('#kvm-stats', '');
  await page.press('#kvm-stats', 'Tab');
  await page.waitForFunction(() => /^Exact — checked against 8/.test(document.querySelector('p.trust')?.textContent || ''), null, { timeout: 60000 });
  await waitIdle(page);
  // Copy as changelog text: the clipboard gets the text shown, which is rmaplab report's.
  await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base.replace(/\/$/, '') });
  await page.click('#copy-text');
  await page.waitForSelector('.export [role=status]', { timeout: 10000 });
  const shownText = await page.locator('#changelog-text').textContent();
  const clip = await page.evaluate(() => navigator.clipboard.readText());
  check(clip === shownText && shownText.length > 500, `Copy as changelog text: ${shownText.length} characters on the clipboard`);
  const cliText = execFileSync(rmaplab, ['report', path.join(root, 'web/assets/default.rmap'), '--quiet', '--entries', '2,3,4,6,8,14,16', '--era', 'head-insert,tail-append'], { encoding: 'utf8' });
  // The first two paragraphs name the trace (the page calls it by its display name).
  const body = (t) => t.trim().split('\n\n').slice(2).join('\n\n');
  check(body(shownText) === body(cliText), 'the page\'s changelog text is rmaplab report\'s, figure for figure');
  check(shownText.split('\n').every((l) => l.length <= 72), 'changelog text fits 72 columns');
  // The recommendation does not change with the sizes typed.
  await page.fill('#entries', '2');
  await page.press('#entries', 'Tab');
  // The sizes asked (2 in both eras) and KVM today; the recommended size has its row too.
  await page.waitForFunction(() => document.querySelector('tr[data-config="2/tail-append"]') && !document.querySelector('tr[data-config="3/head-insert"]'), null, { timeout: 30000 });
  await waitIdle(page);
  check(await page.locator('.recommend').innerText() === recDefault, 'the recommendation is the same with only N=2 typed');
  await page.fill('#entries', '2,3,4,6,8,14,16');
  await page.press('#entries', 'Tab');
  await page.waitForSelector('tr[data-config="16/head-insert"]', { timeout: 30000 });
  await waitIdle(page);

  // Dragging a file over the page shows where it goes; leaving the window hides it again.
  const dt = await page.evaluateHandle(() => new DataTransfer());
  await page.dispatchEvent('.page', 'dragover', { dataTransfer: dt });
  await page.waitForSelector('.drop-overlay', { timeout: 5000 });
  await page.dispatchEvent('.page', 'dragleave', { dataTransfer: dt });
  await page.waitForSelector('.drop-overlay', { state: 'detached', timeout: 5000 });
  check(true, 'a drag over the page shows the drop overlay, and leaving hides it');
  // The trust line's middle state: a generated trace is exact but checked against nothing.
  await page.selectOption('#example', 'fork');
  await page.waitForFunction(() => document.querySelector('.trace-name')?.textContent.includes('fork storm'), null, { timeout: 30000 });
  await waitIdle(page);
  const trustGen = await page.locator('p.trust').innerText();
  check(/^Exact — not checked against KVM's counters/.test(trustGen) && /debugfs/.test(trustGen), `a generated trace: "${trustGen.slice(0, 90)}"`);
  // The seed's own case, TDP on with the legacy TDP MMU (generated by a documented rule, and
  // labelled so): nearly every rmap holds one SPTE, and the page recommends the seed's N = 2.
  await page.selectOption('#example', 'tdp-legacy');
  await page.waitForFunction(() => document.querySelector('.trace-name')?.textContent.includes('legacy TDP MMU (generated by rule)'), null, { timeout: 30000 });
  await waitIdle(page);
  const tdpVerdict = await page.locator('p.verdict').innerText();
  check(/^Use N = 2:/.test(tdpVerdict) && /TDP host/.test(await page.locator('.seed').innerText()), `the seed's case (TDP on, generated by rule): "${tdpVerdict}"`);
  check(/lore\.kernel\.org/.test(await page.locator('.seed a').getAttribute('href')), 'the seed thread is linked from the page');
  // The stepper applies KVM's recycle rule: an example maps one page 1500 times.
  await page.selectOption('#example', 'alias1500');
  await page.waitForFunction(() => document.querySelector('.trace-name')?.textContent.includes('recycle threshold'), null, { timeout: 30000 });
  await waitIdle(page);
  check(await cell(page, '14/head-insert', 'recycles') === '1', 'alias 1500: one recycle');
  check(page.url().includes('example=alias1500'), `the example is in the link: ${page.url()}`);
  await page.selectOption('#rmap-pick', await page.locator('#rmap-pick option').nth(1).getAttribute('value'));
  await page.waitForFunction(() => Number(document.querySelector('#step')?.getAttribute('max')) >= 1500, null, { timeout: 30000 });
  await page.locator('#step').fill('1002');
  await page.locator('#step').dispatchEvent('input');
  const zapped = await page.locator('.era[data-era="head-insert"]').innerText();
  check(/KVM zapped it/.test(zapped) && /returned 1001/.test(zapped), `stepper at the 1002nd add: "${zapped.slice(0, 160).replace(/\n/g, ' ')}"`);
  await page.locator('#step').fill('1500');
  await page.locator('#step').dispatchEvent('input');
  check(/holds 498 entries/.test(await page.locator('.era[data-era="head-insert"]').innerText()), 'stepper after the zap: the list holds the 498 later adds');
  await page.screenshot({ path: path.join(out, 'stepper-recycle.png'), fullPage: false });
  // At the list's largest (1001 entries in 72 descriptors) the chain fits one screen.
  await page.locator('#step').fill('1001');
  await page.locator('#step').dispatchEvent('input');
  const chainBox = await page.locator('.era[data-era="head-insert"] .chain').boundingBox();
  check(await page.locator('.era[data-era="head-insert"] .chain.compact .desc-cells').count() === 72 && chainBox.height <= 800, `72 descriptors drawn compact, ${Math.round(chainBox.height)} px high`);
  // The rmap and step are in the link, and a page opened on it opens the stepper there.
  await page.waitForFunction(() => /&rmap=0x[0-9a-f]+&step=1001/.test(location.hash), null, { timeout: 10000 });
  const stepLink = page.url();
  const linked = await newPage({ width: 1280, height: 800 });
  await linked.goto(stepLink);
  await linked.waitForFunction(() => document.querySelector('#step')?.value === '1001', null, { timeout: 60000 });
  check(/step 1001\//.test(await linked.locator('.stepper').innerText()), `a link with rmap and step opens the stepper at step 1001 (${stepLink.split('#')[1]})`);
  await linked.context().close();
  // A gfn that is not one is answered with an error on the field.
  await page.fill('#rmap-gfn', 'zz');
  await page.press('#rmap-gfn', 'Tab');
  await page.waitForSelector('#rmap-gfn[aria-invalid="true"]', { timeout: 10000 });
  check(/not a gfn/.test(await page.locator('#rmap-gfn-error').innerText()) && await page.locator('#rmap-gfn').getAttribute('aria-describedby') === 'rmap-gfn-error', 'a bad gfn: aria-invalid, with its message linked');

  // Upload one trace per format.
  for (const [file, enc] of [['fork.rmap', 'rmaplab binary'], ['fork.jsonl', 'JSON Lines']]) {
    await page.setInputFiles('#file', path.join(fx, file));
    await page.waitForFunction((e) => document.querySelector('.trace-name')?.textContent.includes(e), enc, { timeout: 30000 });
    await waitIdle(page);
    check(await maxRmap(page) === '8', `${file}: max rmap size 8 (9 address spaces share each page)`);
  }
  // A share link carries a small uploaded trace: a fresh page opens that trace, and pasting
  // another link into an open tab follows it (hashchange).
  const smallLink = await page.locator('a.share').getAttribute('href');
  check(/&name=fork\.jsonl&trace=z:/.test(smallLink), `share link carries the uploaded trace (${smallLink.length} characters)`);
  {
    const fresh = await newPage({ width: 1280, height: 800 });
    await fresh.goto(base + smallLink);
    await fresh.waitForFunction(() => document.querySelector('.trace-name')?.textContent.includes('fork.jsonl'), null, { timeout: 60000 });
    await waitIdle(fresh);
    check(await maxRmap(fresh) === '8', 'fresh page from the link: the uploaded trace, replayed (max rmap 8)');
    await fresh.evaluate(() => { location.hash = '#n=2,14&era=head-insert'; });
    await fresh.waitForFunction(() => document.querySelector('.trace-name')?.textContent.includes('default.rmap') && document.querySelectorAll('table.results tbody tr').length === 2, null, { timeout: 60000 });
    check(true, 'a link pasted into the open tab is followed: default trace, two rows');
    await fresh.evaluate((l) => { location.hash = l; }, smallLink);
    await fresh.waitForFunction(() => document.querySelector('.trace-name')?.textContent.includes('fork.jsonl'), null, { timeout: 60000 });
    await waitIdle(fresh);
    check(await maxRmap(fresh) === '8', 'and back to the linked trace in the same tab');
    await fresh.context().close();
  }
  const imports = () => page.locator('main').getAttribute('data-imports').then(Number);
  const importsBeforeUpload = await imports();
  await page.setInputFiles('#file', ftrace);
  await page.waitForFunction(() => document.querySelector('.trace-name')?.textContent.includes('kvmmmu text'), null, { timeout: 30000 });
  await waitIdle(page);
  // A capture cannot show every removal: its list sizes are upper bounds (marked <=) and no
  // size is recommended from it.
  check(await maxRmap(page) === '<=14', 'ftrace text: max rmap size 14 as KVM reported, marked as a bound');
  check(/Not exact — no recommendation/.test(await page.locator('.recommend').innerText()), 'ftrace text: not exact, so no recommendation, and the page says why');
  const trustCap = await page.locator('p.trust').innerText();
  check(/^Not exact — this trace cannot show every removal/.test(trustCap) && /rmaplab collect/.test(trustCap), `ftrace text: the trust line says not exact and what to record instead: "${trustCap.slice(0, 80)}"`);
  // The capture was imported once: a new array size replays the worker's kept copy, and the
  // results answer the new size (the trust line stays).
  const importsBefore = await imports();
  await page.fill('#entries', '5,14');
  await page.press('#entries', 'Tab');
  await page.waitForSelector('tr[data-config="5/head-insert"]', { timeout: 60000 });
  await waitIdle(page);
  check(await maxRmap(page) === '<=14' && /^Not exact/.test(await page.locator('p.trust').innerText()), 'ftrace text: a new size replays the kept import with the same verdict');
  check(importsBefore === importsBeforeUpload + 1 && await imports() === importsBefore, `ftrace text: imported once by all the workers together (${importsBefore - importsBeforeUpload}), and not again for a new size (${await imports() - importsBefore})`);
  await page.fill('#entries', '2,3,4,6,8,14,16');
  await page.press('#entries', 'Tab');
  await page.waitForSelector('tr[data-config="16/head-insert"]', { timeout: 60000 });
  await waitIdle(page);

  // Bring-your-own captures (core/tests/fixtures/captures): the same fork run, KVM's
  // max_mmu_rmap_size 13, and an import report in the page.
  const caps = path.join(root, 'core/tests/fixtures/captures');
  for (const [file, enc] of [['tc-fork16v2.dat', 'trace.dat'], ['perf-fork16v2.data', 'perf.data'], ['tc-fork16v2.report-R.txt.gz', 'kvmmmu text']]) {
    const t0 = Date.now();
    await page.setInputFiles('#file', path.join(caps, file));
    await page.waitForFunction(([e, f]) => document.querySelector('.trace-name')?.textContent.includes(f) && document.querySelector('.trace-name')?.textContent.includes(e), [enc, file], { timeout: 60000 });
    await waitIdle(page);
    check(await maxRmap(page) === '<=13', `${file}: max rmap size 13 as KVM reported, marked as a bound (${Date.now() - t0} ms)`);
    check(/page tables/.test(await page.locator('.recommend.not-exact').innerText()), `${file}: the missing removals are named`);
    const rep = await page.locator('.import-report summary').innerText();
    check(rep.includes('Import report') && rep.includes('1 VM'), `${file}: import report "${rep}"`);
  }
  // Compare two traces: the collect trace of a churn run pinned as A, its 3-event trace.dat
  // capture opened as B: the figures that depend on the removals the capture missed differ.
  await page.setInputFiles('#file', path.join(caps, 'churn9-3ev.collect.rmap'));
  await page.waitForFunction(() => document.querySelector('.trace-name')?.textContent.includes('churn9-3ev.collect.rmap'), null, { timeout: 60000 });
  await waitIdle(page);
  await page.click('button.pin');
  await page.waitForSelector('.comparison .compare-summary', { timeout: 10000 });
  check(/agree on all \d+ figures/.test(await page.locator('.compare-summary').innerText()), 'a pinned trace agrees with itself');
  await page.setInputFiles('#file', path.join(caps, 'churn9-3ev.dat'));
  await page.waitForFunction(() => document.querySelector('.trace-name')?.textContent.includes('churn9-3ev.dat'), null, { timeout: 60000 });
  await waitIdle(page);
  const cmp = await page.locator('.compare-summary').innerText();
  const maxDiff = await page.locator('table.compare tr[data-config="14/head-insert"][data-key="max_rmap_size"] td').allInnerTexts();
  check(/^B \(churn9-3ev\.dat.*differs from A \(churn9-3ev\.collect\.rmap/.test(cmp) && maxDiff.length === 4 && /^<=/.test(maxDiff[2]), `compare two traces: "${cmp.slice(0, 120)}"; max rmap size at 14/head-insert A ${maxDiff[1]}, B ${maxDiff[2]}`);
  await page.screenshot({ path: path.join(out, 'compare.png'), fullPage: false });
  await page.click('text=Stop comparing');
  // A capture too large for the link is named by SHA-256: a fresh page asks for it, refuses
  // another file, and accepts the right one.
  await page.setInputFiles('#file', path.join(caps, 'tc-fork16v2.dat'));
  await page.waitForFunction(() => /trace=sha256:/.test(document.querySelector('a.share')?.getAttribute('href') || ''), null, { timeout: 60000 });
  await waitIdle(page);
  {
    const bigLink = await page.locator('a.share').getAttribute('href');
    const fresh = await newPage({ width: 1280, height: 800 });
    await fresh.goto(base + bigLink);
    await fresh.waitForSelector('.wanted', { timeout: 30000 });
    check(/tc-fork16v2\.dat/.test(await fresh.locator('.wanted').innerText()) && await results(fresh).count() === 0, 'hashed link: the page asks for tc-fork16v2.dat and shows no other trace');
    await fresh.setInputFiles('#file', path.join(fx, 'fork.rmap'));
    await fresh.waitForFunction(() => /not the trace the link names/.test(document.querySelector('.error')?.textContent || ''), null, { timeout: 60000 });
    check(await results(fresh).count() === 0, 'the wrong file is refused by its SHA-256');
    await fresh.setInputFiles('#file', path.join(caps, 'tc-fork16v2.dat'));
    await fresh.waitForSelector('tr[data-config="14/head-insert"]', { timeout: 60000 });
    check(await maxRmap(fresh) === '<=13' && await fresh.locator('.wanted').count() === 0, 'the right file is accepted and replayed');
    await fresh.context().close();
  }
  // A capture with two VMs: the picker lists both, and keeping one replays that VM alone.
  await page.setInputFiles('#file', path.join(caps, 'twovm.tracefs.txt.gz'));
  await page.waitForSelector('select#vm', { timeout: 60000 });
  await waitIdle(page);
  const vmOptions = await page.locator('select#vm option').allInnerTexts();
  check(vmOptions.length === 3 && vmOptions.filter((o) => /max_mmu_rmap_size 599/.test(o)).length === 2, `VM picker: ${JSON.stringify(vmOptions)}`);
  await page.selectOption('select#vm', { index: 2 });
  await page.waitForFunction(() => /kept VM 1 only/.test(document.querySelector('.import-report pre')?.textContent || ''), null, { timeout: 60000 });
  await waitIdle(page);
  check(await maxRmap(page) === '<=599', 'one VM kept: max rmap size 599');
  check(/vm=\d+/.test(page.url()), `the VM choice is in the URL: ${page.url().slice(0, 160)}…`);
  // The kvm plugin's report text is refused with the remedy; the lossy capture is flagged.
  await page.setInputFiles('#file', path.join(caps, 'tc-fork16v2.report.txt.gz'));
  await page.waitForFunction(() => /kvm plugin/.test(document.querySelector('.error')?.textContent || ''), null, { timeout: 30000 });
  check(/report -R/.test(await page.locator('.error').innerText()), 'plugin-form text refused with the remedy');
  await page.setInputFiles('#file', path.join(caps, 'tc-alias1500-drops.dat'));
  await page.waitForFunction(() => /lost \d+ events/.test(document.querySelector('.provenance .lost-warning')?.textContent || ''), null, { timeout: 60000 });
  check(/lost 581 events/.test(await page.locator('.lost-warning').innerText()), 'lossy trace.dat: the page says how many events were lost');
  // Back to the ftrace fixture, which the stepper checks below use.
  await page.setInputFiles('#file', ftrace);
  await page.waitForFunction(() => document.querySelector('.trace-name')?.textContent.includes('alias15-unmap'), null, { timeout: 30000 });
  await waitIdle(page);

  // Change the sizes.
  await page.fill('#entries', '2,5');
  await page.press('#entries', 'Tab');
  await page.waitForSelector('tr[data-config="5/head-insert"]', { timeout: 30000 });
  await waitIdle(page);
  check(await page.locator('tr[data-config="3/head-insert"]').count() === 0, 'sizes changed: rows follow the input');
  check(page.url().includes('n=2,5'), `configuration in the URL: ${page.url().slice(0, 160)}…`);

  // Step through the longest rmap.
  const option = await page.locator('#rmap-pick option').nth(1).getAttribute('value');
  await page.selectOption('#rmap-pick', option);
  await page.waitForSelector('.stepper .era .chain, .stepper .era .head', { timeout: 30000 });
  const steps = Number(await page.locator('#step').getAttribute('max'));
  check(steps > 0, `stepper loaded ${steps} events of rmap ${option}`);
  await page.locator('#step').fill(String(Math.min(steps, 20)));
  await page.locator('#step').dispatchEvent('input');
  const headInsert = await page.locator('.era[data-era="head-insert"]').innerText();
  check(/descriptors|spte/.test(headInsert), 'stepper shows the head word and chain');
  await page.screenshot({ path: path.join(out, 'stepper.png'), fullPage: true });

  // Search by gfn (the ftrace fixture's data page is gfn 0x400).
  await page.fill('#rmap-gfn', '400');
  await page.press('#rmap-gfn', 'Tab');
  await page.waitForFunction(() => /step \d+\/\d+/.test(document.querySelector('.stepper')?.textContent || '') && document.querySelector('#step')?.getAttribute('max') !== '0', null, { timeout: 30000 });
  check(Number(await page.locator('#step').getAttribute('max')) > 15, 'gfn search finds the rmap of gfn 0x400');

  // Export: CSV and JSON downloads carry the results.
  const [csv] = await Promise.all([page.waitForEvent('download'), page.click('text=Results as CSV')]);
  const csvText = readFileSync(await csv.path(), 'utf8');
  check(csv.suggestedFilename() === 'alias15-unmap-remap-delslot-results.csv' && csvText.startsWith('label,entries,era') && csvText.includes('5/head-insert'), `CSV export, named for its trace: ${csv.suggestedFilename()}`);
  const [json] = await Promise.all([page.waitForEvent('download'), page.click('text=Results as JSON')]);
  const rows = JSON.parse(readFileSync(await json.path(), 'utf8'));
  check(json.suggestedFilename() === 'alias15-unmap-remap-delslot-results.json' && Array.isArray(rows) && rows.some((r) => r.label === '14/head-insert' && r.max_rmap_size === 14), `JSON export, named for its trace: ${json.suggestedFilename()}`);
  const [bin] = await Promise.all([page.waitForEvent('download'), page.click('text=Trace as rmaplab binary')]);
  check(bin.suggestedFilename() === 'alias15-unmap-remap-delslot.rmap' && readFileSync(await bin.path()).subarray(0, 8).toString() === 'RMAPLABT', `trace download is rmaplab binary, named for its trace: ${bin.suggestedFilename()}`);

  // Follow a share link in a fresh page.
  const link = await page.locator('a.share').getAttribute('href');
  const page2 = await newPage({ width: 1280, height: 800 });
  await page2.goto(base + link);
  await page2.waitForSelector('tr[data-config="5/head-insert"]', { timeout: 60000 });
  check(await page2.inputValue('#entries') === '2,5', 'share link reproduces the configuration');

  // A garbage file: a clear error, the page stays usable.
  await page.setInputFiles('#file', path.join(fx, 'garbage.bin'));
  await page.waitForSelector('.error[role=alert]', { timeout: 30000 });
  const err = await page.locator('.error').innerText();
  check(/magic|unrecognised/.test(err), `garbage file: "${err.slice(0, 100)}"`);
  check(await results(page).count() > 0, 'page still shows the previous results after the error');
  await page.screenshot({ path: path.join(out, 'error.png') });
  for (const [file, want] of [['empty.rmap', /empty/], ['truncated.rmap', /truncated at byte offset \d+/], ['future.rmap', /version 9 is newer/]]) {
    await page.setInputFiles('#file', path.join(fx, file));
    await page.waitForFunction((w) => new RegExp(w).test(document.querySelector('.error')?.textContent || ''), want.source, { timeout: 30000 });
    check(true, `${file}: "${(await page.locator('.error').innerText()).slice(0, 90)}"`);
  }
  check(await results(page).count() > 0, 'page still usable after bad files');

  // The rest of the bad-input matrix.
  const errorFor = async (file, want) => {
    await page.setInputFiles('#file', path.join(fx, file));
    await page.waitForFunction((w) => new RegExp(w).test(document.querySelector('.error')?.textContent || ''), want.source, { timeout: 60000 });
    check(await results(page).count() > 0, `${file}: "${(await page.locator('.error').innerText()).slice(0, 100)}", previous results kept`);
  };
  await errorFor('long-line.jsonl', /line 2: line is longer than 1048576 bytes/);
  await errorFor('bad-event.jsonl', /line 2: .*spte/);
  await errorFor('not-utf8.jsonl', /line 2: not UTF-8/);
  // Wait until 14/head-insert shows [max rmap, recycles, anomalies] = want.
  const kvmCells = (p) => p.evaluate(() => ['max_rmap_size', 'recycles', 'anomalies'].map((k) => document.querySelector(`tr[data-config="14/head-insert"] td[data-key="${k}"]`)?.innerText).join(' '));
  const rowEnds = async (p, file, want, timeout = 60000) => {
    await p.setInputFiles('#file', path.join(fx, file));
    try {
      await p.waitForFunction((w) => ['max_rmap_size', 'recycles', 'anomalies'].map((k) => document.querySelector(`tr[data-config="14/head-insert"] td[data-key="${k}"]`)?.innerText).join(' ') === w, want, { timeout });
    } catch (e) {
      const got = await kvmCells(p).catch(() => '');
      const err = await p.locator('.error').innerText().catch(() => '');
      throw new Error(`${file}: 14/head-insert never showed max rmap, recycles, anomalies = ${JSON.stringify(want)}: ${JSON.stringify(got)}, error ${JSON.stringify(err)}`);
    }
    await waitIdle(p);
  };
  await rowEnds(page, 'u64max.jsonl', '2 0 0');
  check(await page.locator(`#rmap-pick option[value="${U64_MAX}"]`).count() === 1, 'ids at u64::MAX: replayed, and the stepper offers rmap 18446744073709551615 exactly');
  await page.selectOption('#rmap-pick', U64_MAX);
  await page.waitForFunction(() => document.querySelector('#step')?.getAttribute('max') === '3', null, { timeout: 30000 });
  check(true, 'stepper steps through the 3 adds of rmap u64::MAX');
  await rowEnds(page, 'unknown-remove.jsonl', '1 0 1');
  check(await page.locator('tr[data-config="14/head-insert"] td.warn[data-key="anomalies"]').innerText() === '1', 'remove of an unknown spte: counted as 1 anomaly, marked');

  // Big inputs, on a page comparing head-insert sizes only (tail-append walks the whole list on
  // every add, as the kernel did, which makes 50 M adds minutes of work).
  const big3 = await newPage({ width: 1280, height: 800 });
  await big3.goto(base + '#n=2,14&era=head-insert');
  await big3.waitForSelector('tr[data-config="2/head-insert"]', { timeout: 60000 });
  await waitIdle(big3);
  await big3.setInputFiles('#file', big);
  await big3.waitForSelector('.progress progress', { timeout: 30000 });
  await big3.click('.progress button');
  await big3.waitForFunction(() => /cancelled/.test(document.querySelector('.progress')?.textContent || ''), null, { timeout: 10000 });
  check(await results(big3).count() > 0, 'a 2 GiB upload shows progress and can be cancelled; previous results stay');
  let t1 = Date.now();
  await rowEnds(big3, 'alias50m.rmap', '1,001 49,900 0', 300000);
  check(true, `50 M adds to one rmap: max rmap 1001 and 49900 recycles, as KVM's recycle rule gives (${Date.now() - t1} ms)`);
  t1 = Date.now();
  await big3.setInputFiles('#file', big);
  await big3.waitForFunction((w) => new RegExp(w).test(document.querySelector('.error')?.textContent || ''), `truncated at byte offset ${bigEnd}`, { timeout: 300000 });
  check(await kvmCells(big3) === '1,001 49,900 0', `2 GiB upload streamed to its end (${Date.now() - t1} ms): "${(await big3.locator('.error').innerText()).slice(0, 110)}", previous results kept`);
  check(/^big2g\.rmap: /.test(await big3.locator('.error').innerText()) && /alias50m\.rmap/.test(await big3.locator('.trace-name').innerText()),
    'the error names the failed file; the trace name goes back to the one whose results are shown');
  await big3.screenshot({ path: path.join(out, 'big-upload.png') });

  // A phone (390x844): the verdict above the fold.
  const narrow = await newPage({ width: 390, height: 844 });
  await narrow.goto(base);
  await narrow.waitForSelector('tr[data-config="14/head-insert"]', { timeout: 60000 });
  await narrow.waitForSelector('p.verdict[data-entries]', { timeout: 120000 });
  await narrow.screenshot({ path: path.join(out, 'narrow.png') });
  const phoneVerdict = await narrow.locator('p.verdict').boundingBox();
  check(phoneVerdict.y + phoneVerdict.height <= 844, `phone: the verdict is above the fold (y = ${Math.round(phoneVerdict.y)}..${Math.round(phoneVerdict.y + phoneVerdict.height)})`);
  await narrow.waitForSelector('.recommend-pending', { state: 'detached', timeout: 120000 });
  const phone = await chartProblems(narrow);
  check(phone.length === 0, `390x844: charts with no overlapping, clipped or small text, no sideways scroll ${phone.slice(0, 4).join('; ')}`);
  // Narrower still, and back: the charts are redrawn at each width.
  for (const width of [360, 768, 1920]) {
    await narrow.setViewportSize({ width, height: 844 });
    await narrow.waitForFunction((w) => Math.abs(document.querySelector('figure.chart > .plot > svg').viewBox.baseVal.width - document.querySelector('figure.chart > .plot').clientWidth) < 1.5 || document.querySelector('figure.chart > .plot').clientWidth < 300, width, { timeout: 10000 });
    const at = await chartProblems(narrow);
    check(at.length === 0, `${width} px: charts with no overlapping, clipped or small text ${at.slice(0, 4).join('; ')}`);
  }
} finally {
  await browser.close();
  server.kill();
  rmSync(big, { force: true });
  rmSync(path.join(fx, 'alias50m.rmap'), { force: true });
}
check(outside.length === 0, `no request left 127.0.0.1 ${outside.slice(0, 3).join(' ')}`);
check(consoleErrors.length === 0, `no console errors ${consoleErrors.slice(0, 3).join(' | ')}`);
console.log(failures ? `${failures} check(s) failed` : 'all end-to-end checks passed');
process.exit(failures ? 1 : 0);
