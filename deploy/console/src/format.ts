// Display rules: money with exactly two decimals (from the API's decimal strings, never
// through floating point), times in the viewer's own time zone.
import { currentLocale } from './i18n'

const MONEY_INPUT = /^\d{1,16}(\.\d{1,2})?$/
const SIGNED_MONEY = /^(-?)(\d+)(?:\.(\d{1,2}))?$/

/** "1234.5" → "¥1,234.50"; "-3.00" → "-¥3.00". Anything that is not a decimal is shown as is. */
export function money(value: string | null | undefined): string {
  if (value === null || value === undefined) return '—'
  const match = SIGNED_MONEY.exec(value.trim())
  if (!match) return value
  const [, sign, whole, fraction = ''] = match
  const grouped = whole.replace(/^0+(?=\d)/, '').replace(/\B(?=(\d{3})+(?!\d))/g, ',')
  return `${sign}¥${grouped}.${fraction.padEnd(2, '0')}`
}

/** An amount in cents as a BigInt, for comparisons (`"12.5"` → 1250n); null when malformed. */
export function cents(value: string): bigint | null {
  const match = SIGNED_MONEY.exec(value.trim())
  if (!match) return null
  const [, sign, whole, fraction = ''] = match
  const magnitude = BigInt(whole) * 100n + BigInt(fraction.padEnd(2, '0'))
  return sign ? -magnitude : magnitude
}

/** True when `value` is an amount the API accepts as input (at most two decimals). */
export function isMoneyInput(value: string): boolean {
  return MONEY_INPUT.test(value.trim())
}

/** Chart values: ECharts plots numbers. Only for drawing; labels show the API's strings. */
export function plotValue(value: string): number {
  return Number(value)
}

/** The viewer's time zone, e.g. "Asia/Shanghai". */
export function viewerZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone
}

/** An RFC 3339 time in the viewer's zone and language. */
export function dateTime(value: string | null | undefined): string {
  if (!value) return '—'
  const date = new Date(value)
  if (Number.isNaN(date.getTime())) return value
  return new Intl.DateTimeFormat(currentLocale() === 'en' ? 'en-GB' : 'zh-CN', {
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hour12: false,
  }).format(date)
}

/** A local calendar day `YYYY-MM-DD` of a Date in the viewer's zone. */
export function localDay(date: Date): string {
  const y = date.getFullYear()
  const m = String(date.getMonth() + 1).padStart(2, '0')
  const d = String(date.getDate()).padStart(2, '0')
  return `${y}-${m}-${d}`
}

/** First and last day of the current month, as local days. */
export function currentMonth(): [string, string] {
  const now = new Date()
  return [
    localDay(new Date(now.getFullYear(), now.getMonth(), 1)),
    localDay(new Date(now.getFullYear(), now.getMonth() + 1, 0)),
  ]
}

/** Seconds as "12m 05s". */
export function duration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return '—'
  const m = Math.floor(seconds / 60)
  const s = String(seconds % 60).padStart(2, '0')
  return m > 0 ? `${m}m ${s}s` : `${s}s`
}
