// End-to-end: the operator's core path through the real console, nginx and services, in
// Debian's chromium (headless). Run by tests/tests/console_e2e.rs, which starts the services,
// the payment simulator and nginx, and passes:
//
//   MR_CONSOLE_URL     the console origin (nginx)         MR_SIM_URL   the gateway simulator
//   MR_ADMIN_USERNAME  MR_ADMIN_PASSWORD                  a super admin's login
//   MR_OPERATOR_USERNAME MR_OPERATOR_PASSWORD             the operator to register
//   MR_SCREENSHOT_DIR  where each page's screenshot goes (1440×900)
//   MR_CHROMIUM        the browser (default /usr/bin/chromium)
//
// The operator registers, logs in, recharges through the simulator (QR shown, status turns
// paid, balance rises). Staff, in a second browser context with its own session, adds an app
// in the console; the operator applies for it on the Apps page and staff approves the
// application; a signed headset request for that app charges a game and the dashboard's
// balance drops live (no reload), the usage row appears and exports as CSV. Staff changes the
// app's price and publishes an announcement in the console: both reach the operator's open
// Messages page live, with the unread badge. A refund is requested; an admin URL is refused.
// Then staff logs in on the operator's page, finds the operator in the admin list, opens its
// detail and approves the refund, which the global transactions show; the English switch
// relabels the page. Exits non-zero on any failure.
import { createHmac, randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { chromium } from 'playwright-core'

const env = (name, fallback) => {
  const value = process.env[name] ?? fallback
  if (value === undefined) throw new Error(`${name} is not set`)
  return value
}
const BASE = env('MR_CONSOLE_URL').replace(/\/$/, '')
const SIM = env('MR_SIM_URL').replace(/\/$/, '')
const ADMIN = { username: env('MR_ADMIN_USERNAME'), password: env('MR_ADMIN_PASSWORD') }
const OPERATOR = { username: env('MR_OPERATOR_USERNAME'), password: env('MR_OPERATOR_PASSWORD') }
const SHOTS = env('MR_SCREENSHOT_DIR')
const CHROMIUM = env('MR_CHROMIUM', '/usr/bin/chromium')
/** Longest wait for anything the page should show (live updates arrive well under 1 s). */
const STEP_TIMEOUT_MS = 15_000

const started = Date.now()
const step = (text) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${text}`)

// --- API helpers (the same origin the browser uses) ------------------------------------------
async function api(method, path, { token, body } = {}) {
  const response = await fetch(BASE + path, {
    method,
    headers: {
      'Content-Type': 'application/json',
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const json = await response.json().catch(() => null)
  return { status: response.status, json }
}

async function apiOk(method, path, options) {
  const answer = await api(method, path, options)
  if (answer.status >= 300) throw new Error(`${method} ${path}: ${answer.status} ${JSON.stringify(answer.json)}`)
  return answer.json.data
}

/** A headset server's signed authorization (HEADSET-PROTOCOL.md): HMAC-SHA256 over
 * "timestamp\nPOST\npath\nbody" with the key's secret, base64. */
async function authorizeGame({ keyId, secret, operatorId, appId, siteId, players }) {
  const path = '/api/v1/auth/game/authorize'
  const body = JSON.stringify({ app_id: appId, site_id: siteId, player_count: players })
  const ms = Date.now()
  const ts = String(Math.floor(ms / 1000))
  const signature = createHmac('sha256', secret).update(`${ts}\nPOST\n${path}\n${body}`).digest('base64')
  const sessionId = `${operatorId}_${ms}_${randomBytes(8).toString('hex')}`
  const response = await fetch(BASE + path, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      'X-API-Key': keyId,
      'X-Timestamp': ts,
      'X-Signature': signature,
      'X-Session-ID': sessionId,
    },
    body,
  })
  const json = await response.json()
  if (response.status !== 200) throw new Error(`authorize: ${response.status} ${JSON.stringify(json)}`)
  return { sessionId, data: json.data }
}

// --- browser ------------------------------------------------------------------------------------
mkdirSync(SHOTS, { recursive: true })
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
})
const pageErrors = []
/** A page in a fresh browser context: its own storage, so its own console session. */
async function newPage(label) {
  const context = await browser.newContext({
    viewport: { width: 1440, height: 900 },
    locale: 'zh-CN',
    timezoneId: 'Asia/Shanghai',
    acceptDownloads: true,
  })
  context.setDefaultTimeout(STEP_TIMEOUT_MS)
  const opened = await context.newPage()
  opened.on('pageerror', (error) => pageErrors.push(`${label}: ${error}`))
  return opened
}
const page = await newPage('operator')
// Token refreshes the console makes (the test runs with short-lived access tokens).
let refreshes = 0
page.on('request', (request) => {
  if (request.method() === 'POST' && request.url().endsWith('/api/v1/auth/refresh')) refreshes++
})

const shot = async (name, on = page) => {
  await on.waitForLoadState('networkidle').catch(() => undefined)
  // No table still behind its loading mask (the mask fades out after the rows arrive).
  await on
    .waitForFunction(() => [...document.querySelectorAll('.el-loading-mask')].every((m) => m.offsetParent === null))
    .catch(() => undefined)
  // Transitions finished, so every tag and number is fully drawn.
  await on.screenshot({ path: join(SHOTS, `${name}.png`), animations: 'disabled' })
  step(`screenshot ${name}.png`)
}
const text = (selector) => page.locator(selector).innerText()
async function waitForText(selector, expected, on = page) {
  await on.locator(selector).filter({ hasText: expected }).first().waitFor()
}
/** A form's own check refused the input before anything was sent. */
async function formRefuses(on, message) {
  await on.locator('.el-form-item__error').filter({ hasText: message }).first().waitFor()
}
async function staffLogin(on, who = ADMIN, home = '**/admin/dashboard') {
  await on.goto(`${BASE}/login`)
  await on.click('#tab-staff')
  await on.fill('input[name=username]', who.username)
  await on.fill('input[name=password]', who.password)
  await on.click('[data-test=login]')
  await on.waitForURL(home)
}
let staff = null

try {
  // 1. Register: the form validates, the API issues the credential, shown once.
  await page.goto(`${BASE}/register`)
  await page.fill('input[name=username]', OPERATOR.username)
  await page.fill('input[name=name]', '星际VR体验馆')
  await page.fill('input[name=phone]', '13800138000')
  await page.fill('input[name=email]', `${OPERATOR.username}@example.com`)
  await page.fill('input[name=password]', OPERATOR.password)
  await page.fill('input[name=confirm]', OPERATOR.password)
  await page.click('[data-test=register]')
  await page.locator('[data-test=secret]').waitFor()
  const keyId = (await text('[data-test=key-id]')).trim()
  const secret = (await text('[data-test=secret]')).trim()
  if (!/^[A-Za-z0-9]{64}$/.test(secret)) throw new Error(`unexpected secret: ${secret}`)
  await shot('01-register-credentials')
  step(`registered ${OPERATOR.username} (key ${keyId})`)

  // 2. Log in.
  await page.click('[data-test=go-login]')
  await page.waitForURL('**/login')
  await page.fill('input[name=username]', OPERATOR.username)
  await page.fill('input[name=password]', OPERATOR.password)
  await shot('02-login')
  await page.click('[data-test=login]')
  await page.waitForURL('**/operator/dashboard')
  await waitForText('[data-test=balance]', '¥0.00')
  await waitForText('[data-test=live-state]', '实时')
  await shot('03-dashboard-empty')
  const operatorId = await page.evaluate(() => JSON.parse(localStorage.getItem('mrledger.session')).operatorId)
  step(`logged in, operator ${operatorId}`)

  // 3. Recharge 100.00 by WeChat Pay through the simulator.
  await page.click('[data-test=nav-recharge]')
  await page.waitForURL('**/operator/recharge')
  await page.fill('input[name=amount]', '100')
  await page.click('[data-test=create-recharge]')
  await page.locator('[data-test=qr-code]').waitFor()
  const outTradeNo = (await text('[data-test=out-trade-no]')).trim()
  await page.locator('[data-test=recharge-status][data-status=pending]').waitFor()
  await shot('04-recharge-qr')
  const paid = await fetch(`${SIM}/sim/orders/${outTradeNo}/pay`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ callback: 'now' }),
  })
  if (!paid.ok) throw new Error(`simulator pay: ${paid.status}`)
  await page.locator('[data-test=recharge-status][data-status=succeeded]').waitFor()
  await page.locator('[data-test=recharge-paid]').waitFor()
  await shot('05-recharge-paid')
  step(`recharge ${outTradeNo} paid`)

  await page.click('[data-test=nav-dashboard]')
  await waitForText('[data-test=balance]', '¥100.00')
  step('balance 100.00')

  // 4. Staff (its own browser context) adds an app at 15.00 per player in the console; the
  //    form refuses a zero price before sending.
  staff = await newPage('staff')
  await staffLogin(staff)
  await staff.click('[data-test=nav-admin-apps]')
  await staff.click('[data-test=new-app]')
  await staff.fill('input[name=app-name]', '银河探险')
  await staff.fill('input[name=app-price]', '0')
  await staff.fill('input[name=app-max-players]', '8')
  await staff.press('input[name=app-max-players]', 'Tab')
  await staff.click('[data-test=save-app]')
  await formRefuses(staff, '大于 0')
  await staff.fill('input[name=app-price]', '15')
  await staff.click('[data-test=save-app]')
  await waitForText('[data-test=apps-table]', '¥15.00', staff)
  await waitForText('[data-test=apps-table]', '1–8', staff)
  const admin = await apiOk('POST', '/api/v1/auth/staff/login', { body: ADMIN })
  const token = admin.access_token
  const app = (await apiOk('GET', '/api/v1/admin/apps?status=active', { token })).items.find((a) => a.name === '银河探险')
  if (!app || app.unit_price !== '15.00' || app.max_players !== 8) throw new Error(`app not created: ${JSON.stringify(app)}`)
  step(`app ${app.id} created in the console`)

  //    The operator applies for it on the Apps page (the form checks the ID first); staff
  //    approves the application in the review list; the operator then holds the app.
  await page.click('[data-test=nav-apps]')
  await page.waitForURL('**/operator/apps')
  await page.fill('input[name=app-id]', 'not-an-app-id')
  await page.fill('textarea[name=apply-reason]', '新店开业，需要上线银河探险')
  await page.click('[data-test=apply-app]')
  await formRefuses(page, '不是有效的 ID')
  //    The catalog lists the app at its list price; its apply button fills in the form.
  await waitForText('[data-test=catalog-table]', '银河探险')
  await waitForText('[data-test=catalog-table]', '¥15.00')
  await page.click(`[data-test=apply-for-${app.id}]`)
  if ((await page.inputValue('input[name=app-id]')) !== app.id) throw new Error('the catalog did not fill in the app')
  await page.click('[data-test=apply-app]')
  await page.locator('[data-test=applications-table] [data-status=pending]').waitFor()
  await staff.click('[data-test=nav-applications]')
  await waitForText('[data-test=applications-table]', OPERATOR.username, staff)
  await waitForText('[data-test=applications-table]', '新店开业', staff)
  await shot('05c-applications-review', staff)
  await staff.click('[data-test=approve-application]')
  await staff.click('[data-test=confirm-approve]')
  await waitForText('[data-test=applications-table]', '暂无数据', staff)
  await page.click('[data-test=nav-dashboard]')
  await page.click('[data-test=nav-apps]')
  await waitForText('[data-test=own-apps-table]', '¥15.00')
  await page.locator('[data-test=applications-table] [data-status=approved]').waitFor()
  await shot('05b-operator-apps')
  step('application approved in the console: the app is granted')

  //    A site for the operator (API).
  const site = await apiOk('POST', `/api/v1/admin/operators/${operatorId}/sites`, {
    token,
    body: { name: '朝阳大悦城店', address: '北京市朝阳区朝阳北路101号' },
  })

  // 5. A signed headset request for the approved app charges 4 × 15.00: the open dashboard
  //    drops to 40.00 live.
  await page.click('[data-test=nav-dashboard]')
  await waitForText('[data-test=balance]', '¥100.00')
  await page.evaluate(() => {
    window.__mrNoReload = true
  })
  const game = await authorizeGame({ keyId, secret, operatorId, appId: app.id, siteId: site.id, players: 4 })
  if (game.data.total_cost !== '60.00') throw new Error(`charged ${JSON.stringify(game.data)}`)
  await waitForText('[data-test=balance]', '¥40.00')
  await waitForText('[data-test=recent-games]', '银河探险')
  // Below the trial threshold (50.00): the banner shows and a low-balance message arrives.
  await page.locator('[data-test=low-balance]').waitFor()
  await waitForText('[data-test=unread-badge]', '1')
  if (!(await page.evaluate(() => window.__mrNoReload === true))) throw new Error('the page reloaded')
  await waitForText('[data-test=today-spend]', '¥60.00')
  await shot('06-dashboard-live')
  step('balance dropped live to 40.00')

  // 6. The usage row, and its CSV export.
  await page.click('[data-test=nav-usage]')
  await page.waitForURL('**/operator/usage')
  await waitForText('[data-test=usage-table]', game.sessionId)
  await waitForText('[data-test=usage-table]', '¥60.00')
  await shot('07-usage')
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-test=export-csv]')])
  const csv = readFileSync(await download.path(), 'utf8')
  if (!csv.includes(game.sessionId) || !csv.includes('60.00')) throw new Error(`CSV lacks the game:\n${csv}`)
  step(`exported ${download.suggestedFilename()}`)

  // 7. The other operator pages render their data.
  await page.click('[data-test=nav-statistics]')
  await page.waitForURL('**/operator/statistics')
  await page.locator('[data-test=trend-chart] canvas').first().waitFor()
  await waitForText('.el-table', '银河探险')
  await shot('08-statistics')
  await page.click('[data-test=nav-transactions]')
  await waitForText('[data-test=tx-table]', '¥100.00')
  await waitForText('[data-test=tx-table]', '-¥60.00')
  await shot('09-transactions')
  await page.click('[data-test=nav-messages]')
  await waitForText('[data-test=messages-table]', '余额')
  await shot('10-messages')
  await page.click('[data-test=read-all]')
  await page.locator('[data-test=unread-badge]').waitFor({ state: 'detached' })
  step('messages read')

  //    Staff changes the app's price (the list shows it at once) and publishes an
  //    announcement; the operator's open Messages page gets both, with the badge counting.
  await staff.click('[data-test=nav-admin-apps]')
  await staff.click('[data-test="edit-app-银河探险"]')
  await staff.fill('input[name=app-price]', '18.5')
  await staff.click('[data-test=save-app]')
  await waitForText('[data-test=apps-table]', '¥18.50', staff)
  await shot('10a-admin-apps', staff)
  await waitForText('[data-test=unread-badge]', '1')
  await waitForText('[data-test=messages-table]', '¥15.00 调整为 ¥18.50')
  await shot('10b-messages-price-change')
  step('price change reached the operator')
  await staff.click('[data-test=nav-announcements]')
  await staff.click('[data-test=publish]')
  await formRefuses(staff, '必填')
  await staff.fill('input[name=announcement-title]', '五一假期营业时间调整')
  await staff.fill('textarea[name=announcement-body]', '5月1日至5月5日平台客服 10:00–22:00 在线，结算照常。')
  await staff.click('[data-test=publish]')
  await staff.click('.el-message-box__btns .el-button--primary')
  await waitForText('[data-test=announcements-table]', '五一假期营业时间调整', staff)
  await shot('10c-admin-announcements', staff)
  await waitForText('[data-test=unread-badge]', '2')
  await waitForText('[data-test=messages-table]', '五一假期营业时间调整')
  step('announcement reached the operator')
  await staff.context().close()
  staff = null

  // 8. A refund of the balance is requested; sites and API keys show what the admin set up.
  await page.click('[data-test=nav-refunds]')
  await waitForText('[data-test=refundable]', '¥40.00')
  await page.fill('textarea[name=reason]', '门店停业，申请退还余额')
  await page.click('[data-test=request-refund]')
  await waitForText('[data-test=refunds-table]', '待审核')
  await shot('11-refund-requested')
  await page.click('[data-test=nav-invoices]')
  await waitForText('[data-test=invoiceable]', '¥100.00')
  await shot('12-invoices')
  await page.click('[data-test=nav-sites]')
  await waitForText('[data-test=sites-table]', '朝阳大悦城店')
  await shot('13-sites')
  await page.click('[data-test=nav-credentials]')
  await waitForText('[data-test=keys-table]', keyId)
  await shot('14-credentials')
  step('refund requested; sites and keys shown')

  // 9. Role separation: an operator typing an admin URL gets the refusal page, and the API
  //    refuses the operator's token too.
  await page.goto(`${BASE}/admin/operators`)
  await page.waitForURL('**/forbidden**')
  await page.locator('[data-test=forbidden]').waitFor()
  if ((await page.locator('[data-test=operators-table]').count()) !== 0) throw new Error('admin table rendered')
  await shot('15-operator-forbidden')
  const operatorToken = await page.evaluate(() => JSON.parse(localStorage.getItem('mrledger.session')).accessToken)
  const refused = await api('GET', '/api/v1/admin/operators', { token: operatorToken })
  if (refused.status !== 403) throw new Error(`admin list with an operator token: ${refused.status}`)
  step('operator refused on admin pages (page and API)')

  // 10. Staff login: admin dashboard, the operators list searched, the refund approved.
  await page.goto(`${BASE}/operator/dashboard`)
  await page.click('[data-test=logout]')
  await page.waitForURL('**/login**')
  await staffLogin(page)
  await waitForText('[data-test=operators-total]', '1')
  await shot('16-admin-dashboard')
  await page.click('[data-test=nav-operators]')
  await page.fill('[data-test=operator-search]', OPERATOR.username)
  await page.click('[data-test=search]')
  await waitForText('[data-test=operators-table]', OPERATOR.username)
  await waitForText('[data-test=operators-table]', '¥40.00')
  await shot('17-admin-operators')
  await page.click(`[data-test=detail-${OPERATOR.username}]`)
  await waitForText('[data-test=detail-balance]', '¥40.00')
  await waitForText('[data-test=grants-table]', '¥18.50')
  await shot('17a-operator-detail')
  // Lock (with the reason asked first) and unlock again from the detail.
  await page.click('[data-test=lock]')
  await page.fill('.el-message-box__input input', '核查异常交易')
  await page.click('.el-message-box__btns .el-button--primary')
  await waitForText('[data-test=detail-status]', '已锁定')
  await waitForText('[data-test=operators-table]', '已锁定')
  await page.click('[data-test=unlock]')
  await waitForText('[data-test=detail-status]', '正常')
  step('locked and unlocked in the operator detail')
  // The operator's usage in the detail, exported as XLSX (a zip: "PK").
  await page.click('[data-test=operator-drawer] #tab-usage')
  await waitForText('[data-test=operator-drawer] [data-test=usage-table]', game.sessionId)
  const [workbook] = await Promise.all([
    page.waitForEvent('download'),
    page.click('[data-test=operator-drawer] [data-test=export-xlsx]'),
  ])
  const xlsx = readFileSync(await workbook.path())
  if (xlsx.length < 100 || xlsx.subarray(0, 2).toString() !== 'PK') throw new Error(`not an XLSX file: ${xlsx.length} bytes`)
  step(`staff exported ${workbook.suggestedFilename()} (${xlsx.length} bytes)`)
  await page.keyboard.press('Escape')
  await page.locator('[data-test=operator-drawer]').waitFor({ state: 'hidden' })
  //    Refunds are finance's decision: a finance specialist the admin creates approves it.
  const finance = { username: `finance_${Date.now().toString(36)}`, password: 'Finance-e2e-pass1' }
  const adminToken = (await apiOk('POST', '/api/v1/auth/staff/login', { body: ADMIN })).access_token
  await apiOk('POST', '/api/v1/admin/staff', {
    token: adminToken,
    body: { username: finance.username, name: '财务专员', role: 'finance_specialist', password: finance.password },
  })
  await page.click('[data-test=logout]')
  await page.waitForURL('**/login**')
  await staffLogin(page, finance, '**/finance/dashboard')
  await page.click('[data-test=nav-refund-review]')
  // The operator's totals next to the request: recharged / spent / balance.
  await waitForText('[data-test=review-table]', '¥100.00 / ¥60.00 /')
  await shot('18-refund-review')
  await page.click('[data-test=approve-refund]')
  await waitForText('[data-test=review-table]', '暂无数据')
  step(`refund approved by ${finance.username} (finance_specialist)`)
  await page.click('[data-test=logout]')
  await page.waitForURL('**/login**')
  await staffLogin(page)
  // The global monitor: the operator's recharge, game and refund, filtered by kind.
  await page.click('[data-test=nav-admin-transactions]')
  await waitForText('[data-test=tx-table]', OPERATOR.username)
  await waitForText('[data-test=tx-table]', '-¥60.00')
  await waitForText('[data-test=tx-table]', '-¥40.00')
  await shot('18a-admin-transactions')
  // The English switch: the same page, relabelled, remembered for the next visit.
  await page.click('[data-test=language]')
  await waitForText('[data-test=nav-operators]', 'Operators')
  await page.click('[data-test=nav-operators]')
  await page.fill('[data-test=operator-search]', OPERATOR.username)
  await page.click('[data-test=search]')
  await waitForText('[data-test=operators-table]', '¥0.00')
  await shot('19-admin-operators-en')
  // Staff may not open operator pages either.
  await page.goto(`${BASE}/operator/dashboard`)
  await page.locator('[data-test=forbidden]').waitFor()
  step('staff pages done')

  if (refreshes === 0) throw new Error('the console never refreshed its access token')
  step(`access token refreshed ${refreshes} times`)
  if (pageErrors.length > 0) throw new Error(`errors in the page:\n${pageErrors.join('\n')}`)
  step('console e2e passed')
} catch (error) {
  await page.screenshot({ path: join(SHOTS, 'failure.png') }).catch(() => undefined)
  await staff?.screenshot({ path: join(SHOTS, 'failure-staff.png') }).catch(() => undefined)
  console.error(`console e2e failed at ${page.url()}: ${error.stack ?? error}`)
  if (pageErrors.length > 0) console.error(`errors in the page:\n${pageErrors.join('\n')}`)
  process.exitCode = 1
} finally {
  await browser.close()
}
