// Shapes of the finance and analytics answers the console reads (docs/openapi.yaml). Money
// stays the API's decimal strings; shares and averages too.
import type { LocalDay, Money, MoneyDay, Refund, Invoice, StatsFigures, StatsPeriod, Time } from './types'

/** The operator as the finance lists embed it (null fields before it is projected). */
export interface OperatorRef {
  username: string | null
  name: string | null
}

/** A refund request with the operator's money now (recharged, spent, balance). */
export interface FinanceRefund extends Refund {
  operator: OperatorRef & { total_credited: Money | null; total_charged: Money | null; balance: Money | null }
}

export interface FinanceInvoice extends Invoice {
  operator_id: string
  operator: OperatorRef
}

export interface TopCustomers extends StatsPeriod {
  revenue: Money
  items: {
    operator_id: string
    username: string
    name: string
    category: 'vip' | 'standard' | 'trial'
    vip: boolean
    spend: Money
    share_of_revenue: string
  }[]
}

export type ReportKind = 'daily' | 'weekly' | 'monthly' | 'yearly'

export interface FinanceReport {
  id: string
  kind: ReportKind
  period_start: LocalDay
  period_end: LocalDay
  time_zone: string
  status: 'ready' | 'failed'
  error: string | null
  /** `{}` for a failed report. */
  totals: Partial<{
    recharged: Money
    consumed: Money
    refunded: Money
    net: Money
    sessions: number
    player_times: number
  }>
  generated_at: Time
  requested_by: string | null
}

export type Channel = 'wechat' | 'alipay'
export type ReconciliationKind = 'matched' | 'missing_in_ledger' | 'missing_at_gateway' | 'amount_mismatch'

export interface ReconciliationRun {
  id: string
  channel: Channel
  bill_date: LocalDay
  created_by: string
  created_at: Time
  matched: number
  missing_in_ledger: number
  missing_at_gateway: number
  amount_mismatch: number
  gateway_count: number
  gateway_total: Money
  ledger_count: number
  ledger_total: Money
}

/** One run with a page of its items. */
export interface ReconciliationDetail extends ReconciliationRun {
  items: { items: ReconciliationItem[]; next_cursor: string | null }
}

export interface ReconciliationItem {
  line: number
  kind: ReconciliationKind
  out_trade_no: string
  transaction_id: string | null
  gateway_amount: Money | null
  ledger_amount: Money | null
  detail: string | null
}

export interface StaffAction {
  position: number
  actor_id: string
  actor_username: string | null
  actor_role: string
  action: string
  target: { type: string; id: string }
  details: Record<string, unknown>
  source_ip: string
  request_id: string
  occurred_at: Time
}

export interface StatsOperatorApp extends StatsPeriod {
  items: (StatsFigures & { operator_id: string; username: string; operator_name: string; app_id: string; app_name: string })[]
}

export interface StatsByCategory extends StatsPeriod {
  items: (StatsFigures & { category: 'vip' | 'standard' | 'trial'; operators: number })[]
}

export interface StatsSiteTime extends StatsPeriod {
  period: 'day' | 'week' | 'month'
  items: (StatsFigures & { operator_id: string; site_id: string; site_name: string; bucket: LocalDay })[]
}

export interface PlayerBuckets {
  sessions: number
  upto_2: number
  '3_4': number
  '5_8': number
  '9_plus': number
}

export interface StatsPlayerDistribution extends StatsPeriod {
  items: (PlayerBuckets & { app_id: string; app_name: string })[]
  total: PlayerBuckets
}

/** `today` event of the finance live stream. */
export type LiveToday = Pick<MoneyDay, 'day' | 'recharged' | 'consumed' | 'refunded' | 'net'> & {
  time_zone: string
  computed_at: Time
}
