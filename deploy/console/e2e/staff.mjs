// End-to-end: the finance and analyst pages through the real console, nginx and services, in
// Debian's chromium (headless). Run by tests/tests/console_staff_e2e.rs, which starts the
// services, seeds an operator's money, games, a refund and an invoice request and a report
// through the APIs, creates the staff accounts, and passes:
//
//   MR_CONSOLE_URL       the console origin (nginx)
//   MR_FINANCE_USERNAME  MR_FINANCE_PASSWORD     a finance manager
//   MR_ANALYST_USERNAME  MR_ANALYST_PASSWORD     an analyst
//   MR_OPERATOR_NAME     the seeded operator's display name
//   MR_TODAY             today in the statistics' zone (YYYY-MM-DD)
//   MR_SCREENSHOT_DIR    where each page's screenshot goes (1440×900)
//   MR_CHROMIUM          the browser (default /usr/bin/chromium)
//
// On each page the figures shown are compared with what the API answers for the same
// question; files (PDF, XLSX, CSV) are downloaded and checked to be real, non-empty files.
// The finance manager watches a credit reach the open dashboard live, issues the invoice,
// generates a monthly report and runs a reconciliation in the browser. Exits non-zero on any
// failure.
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium } from 'playwright-core'

const need = (name, fallback) => {
  const value = process.env[name] ?? fallback
  if (value === undefined) throw new Error(`${name} is not set`)
  return value
}
const ORIGIN = need('MR_CONSOLE_URL').replace(/\/$/, '')
const FINANCE = { username: need('MR_FINANCE_USERNAME'), password: need('MR_FINANCE_PASSWORD') }
const ANALYST = { username: need('MR_ANALYST_USERNAME'), password: need('MR_ANALYST_PASSWORD') }
const OPERATOR_NAME = need('MR_OPERATOR_NAME')
const TODAY = need('MR_TODAY')
const SHOT_DIR = need('MR_SCREENSHOT_DIR')
/** Longest wait for anything a page should show. */
const WAIT_MS = 15_000
/** Longest wait for a long action (a report rendered, a statement downloaded and compared)
 * on a machine busy with other tests. */
const LONG_ACTION_MS = 60_000

const t0 = Date.now()
const log = (text) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1)}s] ${text}`)
const fail = (text) => {
  throw new Error(text)
}

/** "1234.5" → "¥1,234.50", as the console shows money (format.ts). */
function yuan(value) {
  const [, sign, whole, fraction = ''] = /^(-?)(\d+)(?:\.(\d+))?$/.exec(value) ?? fail(`not money: ${value}`)
  return `${sign}¥${whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',')}.${fraction.padEnd(2, '0')}`
}

mkdirSync(SHOT_DIR, { recursive: true })
const profile = mkdtempSync(join(tmpdir(), 'mr-console-staff-'))
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: need('MR_CHROMIUM', '/usr/bin/chromium'),
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-sync', '--disable-background-networking'],
  viewport: { width: 1440, height: 900 },
  locale: 'zh-CN',
  timezoneId: 'Asia/Shanghai',
  acceptDownloads: true,
})
browser.setDefaultTimeout(WAIT_MS)
const page = browser.pages()[0] ?? (await browser.newPage())
const errors = []
page.on('pageerror', (error) => errors.push(String(error)))
// API refusals the pages met (shown to the user as a toast): printed when a step fails.
const refusals = []
page.on('response', async (response) => {
  if (response.url().includes('/api/') && response.status() >= 400) {
    refusals.push(`${response.request().method()} ${response.url()}: ${response.status()} ${await response.text().catch(() => '')}`)
  }
})

/** A call as the logged-in user (with the token the console holds); the answer's data. */
async function apiCall(method, path, body) {
  const token = await page.evaluate(() => JSON.parse(localStorage.getItem('mrledger.session')).accessToken)
  const response = await fetch(ORIGIN + path, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  })
  const answer = await response.json()
  if (!response.ok) fail(`${method} ${path}: ${response.status} ${JSON.stringify(answer)}`)
  return answer.data
}
const apiData = (path) => apiCall('GET', path)

async function screenshot(name) {
  await page.waitForLoadState('networkidle').catch(() => undefined)
  // Toasts of earlier steps would cover the figures: hidden for the picture only.
  const quiet = await page.addStyleTag({ content: '.el-message { visibility: hidden !important; }' })
  await page.screenshot({ path: join(SHOT_DIR, `${name}.png`), animations: 'disabled' })
  await quiet.evaluate((node) => node.remove())
  log(`screenshot ${name}.png`)
}

/** Waits until `selector` shows `text`. */
const shows = (selector, text) => page.locator(selector).filter({ hasText: text }).first().waitFor()

/** Exactly this text in `selector` (a figure). */
async function figure(selector, expected) {
  await shows(selector, expected)
  const actual = (await page.locator(selector).innerText()).trim()
  if (actual !== expected) fail(`${selector}: shows ${actual}, the API says ${expected}`)
}

/** Clicks a download button and returns the file's bytes (checked non-empty). */
async function downloaded(selector) {
  const [file] = await Promise.all([page.waitForEvent('download'), page.locator(selector).first().click()])
  const bytes = readFileSync(await file.path())
  if (bytes.length === 0) fail(`${file.suggestedFilename()} is empty`)
  log(`downloaded ${file.suggestedFilename()} (${bytes.length} bytes)`)
  return { name: file.suggestedFilename(), bytes }
}
const isXlsx = (bytes) => bytes.subarray(0, 2).toString() === 'PK'
const isPdf = (bytes) => bytes.subarray(0, 5).toString() === '%PDF-'

async function login(user, home) {
  await page.goto(`${ORIGIN}/login`)
  await page.click('#tab-staff')
  await page.fill('input[name=username]', user.username)
  await page.fill('input[name=password]', user.password)
  await page.click('[data-test=login]')
  await page.waitForURL(`**${home}`)
}

try {
  // 1. Finance dashboard: today's figures, the month's trend and the top customers.
  await login(FINANCE, '/finance/dashboard')
  const today = await apiData('/api/v1/finance/dashboard')
  if (today.recharged !== '500.00' || today.consumed !== '195.00') fail(`seeded money not in the dashboard: ${JSON.stringify(today)}`)
  await figure('[data-test=fin-today-recharged]', yuan(today.recharged))
  await figure('[data-test=fin-today-consumed]', yuan(today.consumed))
  await figure('[data-test=fin-today-refunded]', yuan(today.refunded))
  await figure('[data-test=fin-today-net]', yuan(today.net))
  const top = await apiData('/api/v1/finance/top-customers?limit=10')
  await shows('[data-test=top-customers]', OPERATOR_NAME)
  await shows('[data-test=top-customers]', yuan(top.items[0].spend))
  await page.locator('[data-test=fin-trend-chart] canvas').first().waitFor()
  await shows('[data-test=fin-live]', '实时')
  // Money moving now reaches the open dashboard live (no reload): a 10.00 bank transfer.
  await page.evaluate(() => {
    window.__mrNoReload = true
  })
  await apiCall('POST', `/api/v1/finance/operators/${top.items[0].operator_id}/manual-credits`, {
    amount: '10.00',
    reason: 'bank transfer (e2e)',
  })
  await figure('[data-test=fin-today-recharged]', yuan('510.00'))
  if (!(await page.evaluate(() => window.__mrNoReload === true))) fail('the dashboard reloaded')
  await screenshot('01-finance-dashboard')

  // 2. Refund review: the pending request with the operator's totals from the API.
  await page.click('[data-test=nav-refund-review]')
  const refunds = await apiData('/api/v1/finance/refunds?status=pending')
  const who = refunds.items[0].operator
  await shows('[data-test=review-table]', `${yuan(who.total_credited)} / ${yuan(who.total_charged)} / ${yuan(who.balance)}`)
  await screenshot('02-refund-review')

  // 3. Invoice review: issue the request, then download the issued invoice's PDF.
  await page.click('[data-test=nav-invoiceReview]')
  const [pendingInvoice] = (await apiData('/api/v1/finance/invoices?status=pending')).items
  await shows('[data-test=invoice-table]', pendingInvoice.title)
  await shows('[data-test=invoice-table]', yuan(pendingInvoice.amount))
  await page.click('[data-test=issue-invoice]')
  await shows('[data-test=invoice-table]', '暂无数据')
  await page.locator('[data-test=invoice-status] label').filter({ hasText: '已开具' }).click()
  const issued = await apiData(`/api/v1/finance/invoices/${pendingInvoice.id}`)
  if (issued.status !== 'issued' || !issued.invoice_number) fail(`invoice not issued: ${JSON.stringify(issued)}`)
  await shows('[data-test=invoice-table]', issued.invoice_number)
  await screenshot('03-invoice-review')
  const pdf = await downloaded('[data-test=invoice-table] [data-test=export-pdf]')
  if (!isPdf(pdf.bytes)) fail(`${pdf.name} is not a PDF`)

  // 4. Reports: the seeded daily report is listed; a monthly one is generated with progress.
  await page.click('[data-test=nav-reports]')
  await shows('[data-test=reports-table]', `${TODAY} – ${TODAY}`)
  await page.click('[data-test=generate-report]')
  await page.locator('[data-test=report-generated]').waitFor({ timeout: LONG_ACTION_MS })
  const [monthly] = (await apiData('/api/v1/finance/reports?kind=monthly')).items
  if (!monthly || monthly.status !== 'ready') fail(`no monthly report: ${JSON.stringify(monthly)}`)
  await shows('[data-test=reports-table]', `${monthly.period_start} – ${monthly.period_end}`)
  await shows('[data-test=reports-table]', yuan(monthly.totals.consumed))
  await screenshot('04-reports')
  const workbook = await downloaded('[data-test=reports-table] [data-test=export-xlsx]')
  if (!isXlsx(workbook.bytes)) fail(`${workbook.name} is not an XLSX file`)
  const report = await downloaded('[data-test=reports-table] [data-test=export-pdf]')
  if (!isPdf(report.bytes)) fail(`${report.name} is not a PDF`)

  // 5. Reconciliation of today's WeChat Pay statement: run, detail, XLSX of its items.
  await page.click('[data-test=nav-reconciliations]')
  const day = page.locator('[data-test=recon-form] .el-date-editor input')
  await day.fill(TODAY)
  await day.press('Enter')
  // The picker takes the typed day on Enter; on a busy machine only a moment later.
  await page.waitForFunction(
    ([selector, today]) => document.querySelector(selector)?.value === today,
    ['[data-test=recon-form] .el-date-editor input', TODAY],
  )
  await page.click('[data-test=run-reconciliation]')
  // The detail opens when the run is recorded; an error toast means the API refused it.
  const settled = (locator, outcome) => locator.waitFor({ timeout: LONG_ACTION_MS }).then(() => outcome, () => 'timed out')
  const outcome = await Promise.race([
    settled(page.locator('[data-test=reconciliation-detail]'), 'opened'),
    settled(page.locator('.el-message--error').first(), 'refused'),
  ])
  if (outcome === 'refused') fail(`the reconciliation was refused: ${await page.locator('.el-message--error').first().innerText()}`)
  if (outcome !== 'opened') fail(`the reconciliation ${outcome}`)
  const [run] = (await apiData('/api/v1/finance/reconciliations')).items
  if (run.bill_date !== TODAY || run.matched !== 1) fail(`unexpected run: ${JSON.stringify(run)}`)
  await figure('[data-test=recon-matched]', String(run.matched))
  await figure('[data-test=recon-gateway-total]', yuan(run.gateway_total))
  await figure('[data-test=recon-ledger-total]', yuan(run.ledger_total))
  await shows('[data-test=recon-items]', '一致')
  await screenshot('05-reconciliation')
  const items = await downloaded('[data-test=reconciliation-detail] [data-test=export-xlsx]')
  if (!isXlsx(items.bytes)) fail(`${items.name} is not an XLSX file`)
  await page.keyboard.press('Escape')

  // 6. Staff audit log, filtered on the server: the invoice just issued, by whom.
  await page.click('[data-test=nav-auditLog]')
  await page.fill('[data-test=audit-action]', 'InvoiceIssued')
  await page.click('[data-test=audit-search]')
  await shows('[data-test=audit-table]', FINANCE.username)
  const actions = await apiData('/api/v1/finance/audit-log?action=InvoiceIssued')
  if (actions.items.length !== 1 || actions.items[0].target.id === undefined) fail(`audit log: ${JSON.stringify(actions)}`)
  await shows('[data-test=audit-table]', actions.items[0].target.id)
  await screenshot('06-audit-log')

  // 7. The global transactions export as XLSX (and CSV) beside the list.
  await page.goto(`${ORIGIN}/admin/transactions`)
  await shows('[data-test=tx-table]', yuan('300.00'))
  const txXlsx = await downloaded('[data-test=export-xlsx]')
  if (!isXlsx(txXlsx.bytes)) fail(`${txXlsx.name} is not an XLSX file`)
  const txCsv = (await downloaded('[data-test=export-csv]')).bytes.toString('utf8')
  if (!txCsv.includes('300.00') || !txCsv.includes('recharge')) fail(`transactions CSV lacks the money:\n${txCsv}`)
  log('finance pages done')

  // 8. Analyst: the global dashboard against /analytics/overview, then each cross analysis.
  await page.click('[data-test=logout]')
  await page.waitForURL('**/login**')
  await login(ANALYST, '/analyst/dashboard')
  const overview = await apiData('/api/v1/analytics/overview')
  if (overview.sessions !== 3 || overview.revenue !== '195.00') fail(`seeded games not in the overview: ${JSON.stringify(overview)}`)
  await figure('[data-test=an-sessions]', String(overview.sessions))
  await figure('[data-test=an-player-times]', String(overview.player_times))
  await figure('[data-test=an-revenue]', yuan(overview.revenue))
  await figure('[data-test=an-recharged]', yuan(overview.recharged))
  await page.locator('[data-test=an-trend-chart] canvas').first().waitFor()
  await screenshot('07-analyst-dashboard')
  const overviewCsv = (await downloaded('[data-test=export-csv]')).bytes.toString('utf8')
  if (!overviewCsv.includes('195.00')) fail(`overview CSV lacks the revenue:\n${overviewCsv}`)

  // One click from the dashboard to each chart.
  await page.click('[data-test=an-link-operator-app]')
  const pairs = await apiData('/api/v1/analytics/operator-app')
  for (const pair of pairs.items) await shows('[data-test=table-operator-app]', pair.app_name)
  await page.locator('[data-test=chart-operator-app] canvas').first().waitFor()
  await screenshot('08-analysis-operator-app')
  const pairsCsv = (await downloaded('[data-test=export-csv]')).bytes.toString('utf8')
  if (!pairs.items.every((p) => pairsCsv.includes(p.app_name))) fail(`operator × app CSV:\n${pairsCsv}`)

  await page.click('#tab-site-time')
  const sites = await apiData('/api/v1/analytics/site-time?period=day')
  for (const row of sites.items) await shows('[data-test=table-site-time]', row.site_name)
  await screenshot('09-analysis-site-time')
  await page.click('#tab-players')
  const players = await apiData('/api/v1/analytics/player-distribution')
  await shows('[data-test=table-players]', '合计')
  if (players.total.sessions !== 3) fail(`player distribution: ${JSON.stringify(players)}`)
  await screenshot('10-analysis-players')
  await page.click('#tab-category')
  await shows('[data-test=table-category]', yuan(overview.revenue))
  await shows('[data-test=table-category]', '100.00%')
  const categories = await apiData('/api/v1/analytics/by-category')
  if (categories.items.length !== 1 || categories.items[0].spend !== overview.revenue) fail(`by category: ${JSON.stringify(categories)}`)
  const categoryCsv = (await downloaded('[data-test=export-csv]')).bytes.toString('utf8')
  if (!categoryCsv.startsWith('category,operators,') || !categoryCsv.includes(`,${overview.revenue}`)) fail(`category CSV: ${categoryCsv}`)
  await screenshot('11-analysis-category')
  log('analyst pages done')

  if (errors.length > 0) fail(`errors in the page:\n${errors.join('\n')}`)
  log('console staff e2e passed')
} catch (error) {
  await page.screenshot({ path: join(SHOT_DIR, 'failure.png') }).catch(() => undefined)
  console.error(`console staff e2e failed at ${page.url()}: ${error.stack ?? error}`)
  if (errors.length > 0) console.error(`errors in the page:\n${errors.join('\n')}`)
  if (refusals.length > 0) console.error(`API refusals:\n${refusals.join('\n')}`)
  process.exitCode = 1
} finally {
  await browser.close()
  rmSync(profile, { recursive: true, force: true })
}
