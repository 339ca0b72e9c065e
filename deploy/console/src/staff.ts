// Shared by the finance and analyst pages: who may do what (docs/ACCESS.md), figures loaded
// for a period, and sums and shares of the API's decimal strings (in cents or basis points,
// never through floating point). Lists and actions use forms.ts.
import { ref, watch, type Ref, type WatchSource } from 'vue'
import type { Role } from './api/types'
import { STAFF_ROLES, role } from './auth/session'
import { cents } from './format'
import { showError } from './pager'

/** `refunds:read`, `invoices:read`, `reports:read`, `audit_log:read`: the finance pages. */
export const FINANCE_ROLES: readonly Role[] = ['super_admin', 'finance_specialist', 'finance_manager', 'finance_auditor']
/** `refunds:review`, `invoices:review`, `reports:write`: the auditor only reads. */
export const FINANCE_REVIEW_ROLES: readonly Role[] = ['super_admin', 'finance_specialist', 'finance_manager']
/** `credits:write`: running a reconciliation. */
export const RECONCILE_ROLES: readonly Role[] = ['super_admin', 'finance_manager']
/** `stats:read` (every staff role): the analysis pages. */
export const ANALYST_ROLES: readonly Role[] = STAFF_ROLES

/** True when the logged-in role is one of `roles`. */
export const may = (roles: readonly Role[]): boolean => role.value !== null && roles.includes(role.value)

/** The sum of decimal strings as a two-decimal string ("1.50" + "2" → "3.50"). */
export function sumMoney(values: (string | null | undefined)[]): string {
  let total = 0n
  for (const value of values) total += (value ? cents(value) : null) ?? 0n
  const sign = total < 0n ? '-' : ''
  const magnitude = total < 0n ? -total : total
  return `${sign}${magnitude / 100n}.${String(magnitude % 100n).padStart(2, '0')}`
}

/** A share "0.2500" as "25.00%" (string arithmetic: the API sends four decimals). */
export function percent(share: string): string {
  const match = /^(\d+)\.(\d{4})$/.exec(share)
  if (!match) return share
  const basisPoints = BigInt(match[1] + match[2])
  return `${basisPoints / 100n}.${String(basisPoints % 100n).padStart(2, '0')}%`
}

/** Figures that `load` reads, reloaded whenever one of `sources` changes. */
export function useFigures<T>(load: () => Promise<T>, sources: WatchSource[]): { data: Ref<T | null>; loading: Ref<boolean> } {
  const data = ref(null) as Ref<T | null>
  const loading = ref(false)
  async function reload() {
    loading.value = true
    try {
      data.value = await load()
    } catch (error) {
      showError(error)
    } finally {
      loading.value = false
    }
  }
  watch(sources, reload, { immediate: true })
  return { data, loading }
}

/** `part / whole` as a percentage with two decimals ("25.00%"), from cents; "—" for a zero whole. */
export function shareOf(part: string, whole: string): string {
  const [p, w] = [cents(part), cents(whole)]
  if (p === null || w === null || w === 0n) return '—'
  const basisPoints = (p * 10000n) / w
  return `${basisPoints / 100n}.${String(basisPoints % 100n).padStart(2, '0')}%`
}

/** The keys of `rows` ranked by the sum of their money, most first, at most `limit`. */
export function topKeys<T>(rows: T[], key: (row: T) => string, amount: (row: T) => string, limit: number): string[] {
  const totals = new Map<string, bigint>()
  for (const row of rows) totals.set(key(row), (totals.get(key(row)) ?? 0n) + (cents(amount(row)) ?? 0n))
  return [...totals.entries()].sort((a, b) => (b[1] > a[1] ? 1 : b[1] < a[1] ? -1 : 0)).slice(0, limit).map(([k]) => k)
}
