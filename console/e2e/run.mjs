// End-to-end test of the console in real headless Chromium, against a running server with the
// testkit mock upstream. Started by crates/switchyard-server/tests/relay/console_e2e.rs (so
// `cargo test --workspace` runs it), which passes:
//   SWITCHYARD_URL       the server, e.g. http://127.0.0.1:40123
//   ADMIN_USER / ADMIN_PASSWORD   the admin created at start and its one-time password
//   SCREENSHOTS          folder for full-page screenshots
// Exits non-zero on the first failed step, on any page error, any CSP violation, or any
// request to another origin.
import puppeteer from 'puppeteer-core'
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { gzipSync } from 'node:zlib'
import { join } from 'node:path'

const base = process.env.SWITCHYARD_URL
const shots = process.env.SCREENSHOTS ?? 'e2e-screenshots'
const chromium = process.env.CHROMIUM ?? '/usr/bin/chromium'
if (!base || !process.env.ADMIN_PASSWORD) throw new Error('SWITCHYARD_URL and ADMIN_PASSWORD are required')
mkdirSync(shots, { recursive: true })
const origin = new URL(base).origin
const NEW_PASSWORD = 'console-password-42'
const problems = []
let step = 'start'

function fail(message) {
  throw new Error(`[${step}] ${message}`)
}
function log(message) {
  process.stdout.write(`e2e: ${message}\n`)
}

const browser = await puppeteer.launch({
  executablePath: chromium,
  headless: true,
  args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--no-first-run'],
})
const context = browser.defaultBrowserContext()
await context.overridePermissions(origin, ['clipboard-read', 'clipboard-write', 'clipboard-sanitized-write'])
const page = await browser.newPage()
await page.setViewport({ width: 1280, height: 900 })
await page.evaluateOnNewDocument(() => {
  window.__csp = []
  document.addEventListener('securitypolicyviolation', (e) =>
    window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`),
  )
})
page.on('pageerror', (e) => problems.push(`page error: ${e.message}`))
page.on('console', (m) => {
  const text = m.text()
  if (/Content Security Policy|Refused to/i.test(text)) problems.push(`CSP: ${text}`)
})
page.on('request', (r) => {
  const url = r.url()
  if (!url.startsWith(origin) && !url.startsWith('data:') && !url.startsWith('blob:')) {
    problems.push(`request to another origin: ${url}`)
  }
})

async function checkClean() {
  const csp = await page.evaluate(() => window.__csp ?? [])
  if (csp.length) problems.push(...csp.map((c) => `CSP violation: ${c}`))
  if (problems.length) fail(problems.join('\n'))
}
async function shot(name) {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true })
}
async function go(path) {
  await page.goto(`${origin}${path}`, { waitUntil: 'networkidle0' })
}
async function text(selector) {
  return page.$eval(selector, (e) => e.textContent?.trim() ?? '')
}
async function waitText(selector, predicate, what, timeout = 10_000) {
  const end = Date.now() + timeout
  let last = ''
  while (Date.now() < end) {
    last = await page.$eval(selector, (e) => e.textContent?.trim() ?? '').catch(() => '')
    if (predicate(last)) return last
    await new Promise((r) => setTimeout(r, 100))
  }
  fail(`${what}: ${selector} reads "${last}"`)
}
async function fill(selector, value) {
  await page.waitForSelector(selector, { visible: true })
  await page.$eval(selector, (e) => (e.value = ''))
  await page.type(selector, value)
}
// Keyboard only: the page puts the focus on the user name; Tab, Enter.
async function signIn(user, password) {
  await page.waitForSelector('#username')
  await page.waitForFunction(() => document.activeElement?.id === 'username', { timeout: 5_000 }).catch(() =>
    fail('the sign-in page does not focus the user name'),
  )
  await page.keyboard.type(user)
  await page.keyboard.press('Tab')
  await page.keyboard.type(password)
  await page.keyboard.press('Enter')
  await page.waitForFunction(() => !location.pathname.endsWith('/signin'), { timeout: 10_000 }).catch(() => fail('still on sign-in'))
}
async function relay(key) {
  const res = await fetch(`${origin}/v1/messages`, {
    method: 'POST',
    headers: { 'x-api-key': key, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'claude-sonnet-4-20250514', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] }),
  })
  await res.text()
  return res.status
}
async function inPage(path, init) {
  return page.evaluate(
    async (path, init) => {
      const r = await fetch(path, init)
      return { status: r.status, body: await r.text() }
    },
    path,
    init ?? {},
  )
}


// WCAG AA: every visible text against its effective background (4.5:1, or 3:1 for large text).
async function contrastFailures() {
  return page.evaluate(() => {
    const parse = (c) => {
      const m = c.match(/rgba?\(([^)]+)\)/)
      if (!m) return null
      const [r, g, b, a = 1] = m[1].split(/[ ,/]+/).filter(Boolean).map(Number)
      return { r, g, b, a }
    }
    const lum = ({ r, g, b }) => {
      const f = (v) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4)
      return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b)
    }
    const background = (el) => {
      for (let e = el; e; e = e.parentElement) {
        const c = parse(getComputedStyle(e).backgroundColor)
        if (c && c.a > 0.5) return c
      }
      return parse(getComputedStyle(document.documentElement).backgroundColor) ?? { r: 255, g: 255, b: 255 }
    }
    const out = []
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT)
    while (walker.nextNode()) {
      const node = walker.currentNode
      const el = node.parentElement
      if (!el || !node.textContent.trim() || el.closest('svg, option')) continue
      const style = getComputedStyle(el)
      const rect = el.getBoundingClientRect()
      if (style.visibility === 'hidden' || rect.width === 0 || el.closest('button:disabled')) continue
      const fg = parse(style.color)
      if (!fg) continue
      const [l1, l2] = [lum(fg), lum(background(el))].sort((a, b) => b - a)
      const ratio = (l1 + 0.05) / (l2 + 0.05)
      const size = parseFloat(style.fontSize)
      const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700)
      if (ratio < (large ? 3 : 4.5)) out.push(`${node.textContent.trim().slice(0, 30)} (${ratio.toFixed(2)})`)
    }
    return out
  })
}

try {
  step = 'sign in with the one-time password'
  await go('/')
  if (!page.url().includes('/ui/signin')) fail(`/ did not lead to sign-in: ${page.url()}`)
  await shot('01-signin')
  await signIn(process.env.ADMIN_USER ?? 'admin', process.env.ADMIN_PASSWORD)
  await page.waitForSelector('[data-nav=dashboard]')
  await checkClean()

  step = 'first load of the dashboard: time and size'
  {
    const fresh = await browser.createBrowserContext()
    const p2 = await fresh.newPage()
    await p2.goto(`${origin}/ui/signin`, { waitUntil: 'networkidle0' })
    // A fresh browser context: nothing cached. Sign in there, then time a cold load.
    await p2.type('#username', process.env.ADMIN_USER ?? 'admin')
    await p2.type('#password', process.env.ADMIN_PASSWORD)
    await p2.click('button[type=submit]')
    await p2.waitForSelector('#stat-requests')
    await p2.setCacheEnabled(false)
    const t0 = Date.now()
    await p2.goto(`${origin}/ui/`, { waitUntil: 'load' })
    await p2.waitForFunction(() => !document.querySelector('[role=status]') && document.querySelector('#stat-requests'))
    const ms = Date.now() - t0
    const files = await p2.evaluate(() =>
      performance.getEntriesByType('resource').map((r) => r.name).filter((u) => /\.(js|css)$/.test(u)),
    )
    let raw = 0
    let gz = 0
    for (const f of files) {
      const bytes = Buffer.from(await (await fetch(f)).arrayBuffer())
      raw += bytes.length
      gz += gzipSync(bytes, { level: 9 }).length
    }
    await fresh.close()
    log(`dashboard first load ${ms} ms; JS+CSS ${files.length} files, ${raw} B raw, ${gz} B gzip`)
    // The bar is 1 s; the test allows 2 s because `cargo test` runs it beside other tests on
    // shared cores (alone it measures 250–700 ms with 100,000 records in the store).
    if (ms > 2000) fail(`first load took ${ms} ms`)
    if (gz > 350 * 1024) fail(`first screen JS+CSS is ${gz} B compressed`)
  }

  step = 'change the password'
  await go('/ui/password')
  await fill('#pw-current', process.env.ADMIN_PASSWORD)
  await fill('#pw-new', NEW_PASSWORD)
  await fill('#pw-again', NEW_PASSWORD)
  await page.click('button[type=submit]')
  await page.waitForFunction(() => location.pathname.endsWith('/signin'), { timeout: 10_000 })
  await shot('02-password-changed')
  await signIn(process.env.ADMIN_USER ?? 'admin', NEW_PASSWORD)
  await page.waitForSelector('[data-nav=accounts]')
  log('signed in with the new password')

  step = 'add an account through the form'
  await go('/ui/accounts')
  await page.click('#account-add')
  await page.waitForSelector('#acc-kind')
  await page.select('#acc-kind', 'claude')
  await fill('#acc-name', 'ui-claude')
  await fill('#acc-api_key', 'sk-ant-api03-from-the-console')
  if (await page.$('#acc-access_token')) fail('a claude account form shows OAuth fields')
  await page.click('#account-form button[type=submit]')
  await page.waitForSelector('[data-account="ui-claude"]')
  const masked = await text('[data-account="ui-claude"] td')
  if (masked.includes('from-the-console')) fail(`the credential is shown: ${masked}`)
  await shot('03-accounts')
  await checkClean()

  step = 'import a Claude Code credentials file, then delete the account with confirmation'
  const credFile = join(mkdtempSync(join(tmpdir(), 'sy-e2e-')), '.credentials.json')
  writeFileSync(
    credFile,
    JSON.stringify({
      claudeAiOauth: {
        accessToken: 'sk-ant-oat01-E2E-IMPORT',
        refreshToken: 'sk-ant-ort01-E2E-IMPORT',
        expiresAt: Date.now() + 3600_000,
        scopes: ['user:inference', 'user:profile'],
        subscriptionType: 'max',
      },
    }),
  )
  await page.click('#account-onboard')
  await page.click('#onboard-import')
  await fill('#onboard-name', 'imported-max')
  const upload = await page.$('#onboard-file')
  await upload.uploadFile(credFile)
  await page.waitForFunction(() => !document.querySelector('#onboard-import-go')?.disabled)
  await page.click('#onboard-import-go')
  await page.waitForSelector('[data-onboard-done]')
  await page.waitForSelector('[data-account="imported-max"]')
  await shot('03-accounts-imported')
  await page.click('[data-account="imported-max"] [data-action=delete]')
  await page.waitForSelector('dialog.confirm[open]')
  await page.click('dialog.confirm [data-confirm=yes]')
  await page.waitForFunction(() => !document.querySelector('[data-account="imported-max"]'), { timeout: 10_000 })
  log('imported a Claude Code credentials file and deleted the account')

  step = 'create a key with the keyboard only'
  await go('/ui/keys')
  let tabs = 0
  while ((await page.evaluate(() => document.activeElement?.id)) !== 'key-new') {
    if (++tabs > 40) fail('Tab never reaches the create button')
    await page.keyboard.press('Tab')
  }
  await page.keyboard.press('Enter')
  await page.waitForSelector('#key-name')
  if ((await page.evaluate(() => document.activeElement?.id)) !== 'key-name') fail('the form does not take the focus')
  await page.keyboard.type('console-key')
  await page.keyboard.press('Enter')
  await page.waitForSelector('#new-key')
  const key = await text('#new-key')
  if (!key.startsWith('sk-sy-')) fail(`the new key reads "${key}"`)
  if (!(await page.$('[data-snippet="claude-code"]'))) fail('no connection snippets')
  const snippet = await text('[data-snippet="claude-code"] pre')
  if (!snippet.includes(origin) || !snippet.includes(key)) fail(`snippet lacks URL or key: ${snippet}`)
  await page.click('#copy-key')
  const copied = await page.evaluate(() => navigator.clipboard.readText())
  if (copied !== key) fail(`clipboard holds "${copied}"`)
  await shot('04-key-created')
  log(`key created: ${key.slice(0, 12)}…`)

  step = 'send requests through the relay with that key'
  for (let i = 0; i < 3; i++) {
    const status = await relay(key)
    if (status !== 200) fail(`relay answered ${status}`)
  }

  step = 'see them in the usage list, filtered by the key'
  const keyId = JSON.parse((await inPage('/api/admin/keys')).body).find((k) => k.name === 'console-key').id
  let rows = 0
  for (let i = 0; i < 50 && rows < 3; i++) {
    await go('/ui/usage')
    await fill('#u-key', String(keyId))
    await page.click('form button[type=submit]')
    await new Promise((r) => setTimeout(r, 200))
    rows = (await page.$$('[data-request]')).length
  }
  if (rows !== 3) fail(`usage list shows ${rows} rows for the key`)
  await page.click('[data-request] button')
  await shot('05-usage')

  step = 'lists that grow: 10,000 keys and 100,000 usage records'
  {
    let t0 = Date.now()
    await go('/ui/keys')
    await page.waitForSelector('[data-key]')
    const keysMs = Date.now() - t0
    const shown = (await page.$$('[data-key]')).length
    if (shown > 100) fail(`the keys table renders ${shown} rows at once`)
    await fill('#key-search', 'console-key')
    await page.waitForFunction(() => document.querySelectorAll('[data-key]').length === 1)
    t0 = Date.now()
    await go('/ui/usage')
    for (let i = 0; i < 3; i++) {
      const first = await text('[data-request]')
      await page.click('#usage-older')
      await page.waitForFunction((f) => document.querySelector('[data-request]')?.textContent?.trim() !== f, {}, first)
    }
    const usageMs = Date.now() - t0
    await go('/ui/')
    t0 = Date.now()
    await page.select('#dash-range', '30d')
    await page.waitForFunction(() => !document.querySelector('[role=status]'), { timeout: 30_000 })
    const monthMs = Date.now() - t0
    log(`10,000 keys: list ready in ${keysMs} ms (${shown} rows rendered); 100,000 usage rows: 4 pages in ${usageMs} ms; 30-day dashboard in ${monthMs} ms`)
    if (keysMs > 3000 || usageMs > 5000) fail('a long list is slow')
    await shot('05-dashboard-30d')
  }
  await go('/ui/keys')
  await fill('#key-search', 'console-key')
  await waitText('[data-key="console-key"] [data-period="total"]', (t) => /\$0\.0*[1-9]/.test(t), 'key spend in the keys table')
  await shot('05-keys-spend')

  step = 'see them on the dashboard'
  await go('/ui/')
  await waitText('#stat-requests', (t) => Number(t.replace(/\D/g, '')) >= 3, 'dashboard requests')
  await waitText('#top-keys', (t) => t.includes('console-key'), 'top keys by cost today')
  const bars = await page.$$('#chart-requests rect')
  if (bars.length < 1) fail('no bars in the requests chart')
  if ((await page.$$('#chart-classes rect')).length < 1) fail('no bars in the tokens-by-class chart')
  for (const [loc, theme] of [['en', 'light'], ['en', 'dark'], ['zh-CN', 'light'], ['zh-CN', 'dark']]) {
    await page.select('#locale', loc)
    await page.select('#theme', theme)
    await new Promise((r) => setTimeout(r, 150))
    await shot(`06-dashboard-${loc}-${theme}`)
  }
  const zhTitle = await text('h1')
  if (zhTitle !== '仪表盘') fail(`Chinese dashboard title reads "${zhTitle}"`)
  await page.select('#locale', 'en')
  step = 'contrast (WCAG AA) in both themes'
  for (const path of ['/ui/', '/ui/accounts', '/ui/keys', '/ui/settings']) {
    for (const theme of ['light', 'dark']) {
      await go(path)
      await page.select('#theme', theme)
      await new Promise((r) => setTimeout(r, 100))
      const bad = await contrastFailures()
      if (bad.length) fail(`${path} (${theme}): ${bad.join('; ')}`)
    }
  }
  log('contrast: every text passes WCAG AA on dashboard, accounts, keys and settings in light and dark')
  await page.select('#theme', 'light')

  step = 'usable at 375 px, every input labelled'
  await page.setViewport({ width: 375, height: 800 })
  const openForms = { '/ui/accounts': ['#account-add', '#account-onboard'], '/ui/keys': ['#key-new'] }
  let inputs = 0
  for (const path of ['/ui/', '/ui/accounts', '/ui/keys', '/ui/users', '/ui/usage', '/ui/settings', '/ui/password', '/ui/portal']) {
    await go(path)
    for (const button of openForms[path] ?? []) await page.click(button)
    const { count, unlabelled } = await page.evaluate(() => {
      const fields = [...document.querySelectorAll('input, select, textarea')].filter((e) => e.type !== 'hidden')
      const bad = fields.filter((e) => !(e.labels?.length || e.getAttribute('aria-label') || e.getAttribute('aria-labelledby')))
      return { count: fields.length, unlabelled: bad.map((e) => e.id || e.outerHTML.slice(0, 80)) }
    })
    inputs += count
    if (unlabelled.length) fail(`${path}: inputs without a label: ${unlabelled.join(', ')}`)
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
    if (overflow > 0) {
      // Name the widest elements that stick out (the innermost ones).
      const culprits = await page.evaluate(() =>
        [...document.querySelectorAll('body *')]
          .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1 && !e.closest('.table-wrap'))
          .filter((e) => ![...e.children].some((c) => c.getBoundingClientRect().right > window.innerWidth + 1))
          .slice(0, 5)
          .map((e) => `${e.tagName.toLowerCase()}#${e.id}.${e.className} (${Math.round(e.getBoundingClientRect().width)}px)`),
      )
      fail(`${path} is ${overflow}px wider than a 375px screen: ${culprits.join(', ')}`)
    }
  }
  await go('/ui/')
  await shot('06-dashboard-375px')
  await page.setViewport({ width: 1280, height: 900 })
  log(`375 px: no screen scrolls sideways (wide tables scroll inside their card); ${inputs} inputs on 8 screens, all labelled`)
  await checkClean()

  step = 'change the health-check card'
  await go('/ui/settings')
  await fill('#set-account_health_check_interval', '7')
  await page.click('[data-setting="account_health_check_interval"] [data-save]')
  await waitText('[data-interval]', (t) => t === '7', 'interval on the status card')
  const live = JSON.parse((await inPage('/api/admin/health-check')).body)
  if (live.interval_minutes !== 7) fail(`the server uses interval ${live.interval_minutes}`)

  step = 'run a health round from the console'
  const before = await text('[data-last-round]')
  await page.click('#run-round')
  await page.waitForSelector('[data-round-result]', { timeout: 20_000 })
  await waitText('[data-last-round]', (t) => t !== before && t !== '—', 'last round on the status card')
  await shot('07-settings')
  log(`round: ${await text('[data-round-result]')}`)

  step = 'disable the account and see the relay stop using it'
  await go('/ui/accounts')
  // Keyboard only: Tab to the account's Disable button, Enter.
  let presses = 0
  while (!(await page.evaluate(() => document.activeElement?.matches('[data-account="ui-claude"] [data-action=disable]')))) {
    if (++presses > 80) fail('Tab never reaches the Disable button')
    await page.keyboard.press('Tab')
  }
  await page.keyboard.press('Enter')
  await waitText('[data-account="ui-claude"] [data-status]', (t) => t === 'Disabled', 'account status')
  await shot('08-account-disabled')
  let status = 200
  for (let i = 0; i < 40 && status === 200; i++) {
    status = await relay(key)
    if (status === 200) await new Promise((r) => setTimeout(r, 100))
  }
  if (status === 200) fail('the relay still serves with the only account disabled')
  log(`relay answers ${status} with the account disabled`)

  step = 'let users manage their own keys'
  await go('/ui/settings')
  await page.click('#set-user_key_self_service')
  await page.click('[data-setting="user_key_self_service"] button')
  await page.waitForSelector('[data-setting="user_key_self_service"] [role=status]')

  step = 'a user cannot reach admin screens'
  await go('/ui/users')
  await fill('#user-name', 'bob')
  await page.select('#user-role', 'user')
  await fill('#user-password', 'bob-password-1')
  await page.click('#user-form button[type=submit]')
  await page.waitForSelector('[data-user="bob"]')
  await page.click('#signout')
  await page.waitForFunction(() => location.pathname.endsWith('/signin'))
  await signIn('bob', 'bob-password-1')
  if (!page.url().endsWith('/ui/portal')) fail(`a user landed on ${page.url()}`)
  for (const path of ['/ui/accounts', '/ui/keys', '/ui/']) {
    await go(path)
    if (!page.url().endsWith('/ui/portal')) fail(`a user reached ${path}`)
  }
  if (await page.$('[data-nav=accounts]')) fail('a user sees admin navigation')
  const refused = await inPage('/api/admin/accounts')
  if (refused.status !== 403) fail(`the API answered a user with ${refused.status}`)

  step = 'a user creates and revokes its own key in the portal'
  await fill('#my-key-name', 'bob-laptop')
  await page.keyboard.press('Enter')
  await page.waitForSelector('#my-new-key')
  if (!(await text('#my-new-key')).startsWith('sk-sy-')) fail('no key shown')
  await page.waitForSelector('[data-my-key="bob-laptop"] [data-action=revoke]')
  await page.click('[data-my-key="bob-laptop"] [data-action=revoke]')
  await page.click('dialog.confirm [data-confirm=yes]')
  await waitText('[data-my-key="bob-laptop"]', (t) => t.includes('Revoked'), 'revoked own key')

  step = 'the portal shows the key spend'
  await fill('#portal-key', key)
  await page.click('button[type=submit]')
  await page.waitForSelector('#portal-spend')
  const spent = await text('[data-period="total"] [data-spent]')
  if (!/\$\d/.test(spent) || /^\$0\.00$/.test(spent)) fail(`total spend reads "${spent}"`)
  const recent = (await page.$$('#portal-recent tbody tr')).length
  if (recent < 3) fail(`portal lists ${recent} recent requests`)
  const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }))
  if (stored.includes(key)) fail('the key was written to storage')
  await shot('09-portal')
  log(`portal total spend ${spent}`)

  step = 'narrow screen'
  await page.setViewport({ width: 375, height: 800 })
  await go('/ui/portal')
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
  if (overflow > 0) fail(`the portal is ${overflow}px wider than a 375px screen`)
  await shot('10-portal-375px')

  step = 'no CSP violation, page error or foreign request'
  await checkClean()
  log('all steps passed')
} catch (e) {
  await shot('failure').catch(() => {})
  process.stderr.write(`${e.stack ?? e}\n`)
  process.exitCode = 1
} finally {
  await browser.close()
}
