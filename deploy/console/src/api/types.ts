// Shapes of the API answers the console reads (docs/openapi.yaml). Money and counts that are
// money stay strings: the API sends exactly two decimals and the console never does float
// arithmetic on them.

/** A decimal amount as the API sends it: `"12.50"`, `"-3.00"`. */
export type Money = string
/** RFC 3339 UTC time. */
export type Time = string
/** A local day `YYYY-MM-DD` in the statistics' zone. */
export type LocalDay = string

export type StaffRole =
  | 'super_admin'
  | 'admin'
  | 'finance_specialist'
  | 'finance_manager'
  | 'finance_auditor'
  | 'analyst'
export type Role = 'operator' | StaffRole

/** The error envelope both APIs answer with. */
export interface ErrorBody {
  success: false
  error_code: string
  message: string
  details?: Record<string, unknown>
  request_id?: string
}

export interface Tokens {
  access_token: string
  refresh_token: string
  token_type: 'Bearer'
  expires_in: number
  role: Role
  operator_id?: string
}

/** A keyset-paginated list: pass `next_cursor` back as `cursor`. */
export interface Page<T> {
  items: T[]
  next_cursor: string | null
}

export interface IssuedCredential {
  key_id: string
  secret: string
}

export interface Registered {
  operator: { id: string; username: string; name: string; balance: Money }
  credentials: IssuedCredential
}

export interface Profile {
  id: string
  username: string
  name: string
  phone: string
  email: string
  category: 'vip' | 'standard' | 'trial'
  status: 'active' | 'locked' | 'deactivated'
  locked_at: Time | null
  lock_reason: string | null
  balance: Money
  low_balance_threshold: Money
  total_credited: Money
  total_charged: Money
  total_refunded: Money
  total_invoiced: Money
  invoiceable_amount: Money
  registered_at: Time
}

export interface Site {
  id: string
  name: string
  address: string
  status: 'open' | 'closed'
  opened_at: Time
  closed_at: Time | null
}

export interface AuthorizedApp {
  app_id: string
  name: string
  unit_price: Money
  min_players: number
  max_players: number
  app_status: AppStatus
  granted_at: Time
  expires_at: Time | null
  expired: boolean
}

export type AppStatus = 'active' | 'retired'

/** An app of the catalog (staff). */
export interface App {
  id: string
  name: string
  description: string
  unit_price: Money
  min_players: number
  max_players: number
  status: AppStatus
  created_at: Time
  updated_at: Time
}

/** An operator's grant of an app, with the app's current terms (null when not projected). */
export interface Grant {
  app_id: string
  app_name: string | null
  unit_price: Money | null
  min_players: number | null
  max_players: number | null
  app_status: AppStatus | null
  status: 'active' | 'revoked'
  granted_at: Time
  expires_at: Time | null
  revoked_at: Time | null
  expired: boolean
}

export type ApplicationStatus = 'pending' | 'approved' | 'rejected'

export interface Application {
  id: string
  operator_id: string
  app_id: string
  app_name: string
  reason: string
  status: ApplicationStatus
  review_reason: string | null
  reviewed_by: string | null
  applied_at: Time
  reviewed_at: Time | null
}

/** An application as staff review it, with who applied. */
export interface StaffApplication extends Application {
  operator: { username: string | null; name: string | null }
}

export interface Announcement {
  id: string
  title: string
  body: string
  published_by: string
  published_at: Time
}

export interface UsageRecord {
  authorized_at: Time
  session_id: string
  authorization_token: string
  site_id: string
  site_name: string | null
  app_id: string
  app_name: string
  player_count: number
  unit_price: Money
  total_cost: Money
  balance_after: Money
  ended_at: Time | null
  duration_seconds: number | null
}

export interface Transaction {
  position: number
  kind: string
  amount: Money
  balance_after: Money
  reference: string
  description: string
  occurred_at: Time
}

/** A movement of the global monitor: a transaction with its operator. */
export interface GlobalTransaction extends Transaction {
  operator_id: string
  operator_username: string | null
}

export interface Message {
  id: number
  kind: 'announcement' | 'price_change' | 'low_balance' | 'grant_expiry'
  title: string
  body: string
  created_at: Time
  read_at: Time | null
}

export interface MessagePage extends Page<Message> {
  unread_count: number
}

export type RechargeChannel = 'wechat' | 'alipay'
export type RechargeStatus = 'pending' | 'succeeded' | 'failed' | 'closed' | 'needs_review'

export interface RechargeCreated {
  id: string
  out_trade_no: string
  channel: RechargeChannel
  amount: Money
  status: 'pending'
  code_url?: string
  qr_code?: string
  created_at: Time
}

export interface RechargeOrder {
  id: string
  out_trade_no: string
  channel: RechargeChannel
  amount: Money
  status: RechargeStatus
  reason: string | null
  ordered_at: Time
  paid_at: Time | null
}

export interface StatsFigures {
  sessions: number
  player_times: number
  average_players: string
  spend: Money
}

export interface StatsPeriod {
  time_zone: string
  from: LocalDay
  to: LocalDay
}

export interface StatsTrend extends StatsPeriod {
  period: 'day' | 'week' | 'month'
  points: (StatsFigures & { bucket: LocalDay })[]
}

export interface StatsByApp extends StatsPeriod {
  items: (StatsFigures & { app_id: string; app_name: string })[]
}

export interface StatsBySite extends StatsPeriod {
  items: (StatsFigures & { site_id: string; site_name: string })[]
}

export interface StatsSummary extends StatsPeriod, StatsFigures {
  recharged: Money
  refunded: Money
  today: LocalDay
  today_spend: Money
  month_spend: Money
}

/** `balance` event of the operator's live stream. */
export interface LiveBalance {
  operator_id: string
  balance: Money
  as_of_position: number
}

/** `usage` event of the operator's live stream: one authorized game. */
export interface LiveUsage {
  session_id: string
  app_name: string
  player_count: number
  total_cost: Money
  balance_after: Money
  authorized_at: Time
  position: number
}

export interface OperatorRow {
  id: string
  username: string
  name: string
  phone: string
  email: string
  category: 'vip' | 'standard' | 'trial'
  status: 'active' | 'locked' | 'deactivated'
  balance: Money
  total_credited: Money
  total_charged: Money
  games: number
  registered_at: Time
}

/** One operator as the admin detail shows it. */
export interface OperatorDetail extends OperatorRow {
  locked_at: Time | null
  lock_reason: string | null
  total_refunded: Money
  total_invoiced: Money
  low_balance_threshold: Money
  deactivated_at: Time | null
  sites: Site[]
  grants: Grant[]
}

export interface MoneyDay {
  day: LocalDay
  recharged: Money
  recharges: number
  consumed: Money
  charges: number
  refunded: Money
  refunds: number
  net: Money
}

export interface FinanceDashboard extends MoneyDay {
  time_zone: string
  month_trend: MoneyDay[]
}

export interface StatsOverview extends StatsPeriod {
  operators_total: number
  operators_active: number
  sessions: number
  player_times: number
  average_players: string
  revenue: Money
  recharged: Money
  refunded: Money
}

export interface Refund {
  id: string
  operator_id: string
  status: 'pending' | 'approved' | 'rejected'
  requested_amount: Money
  reason: string
  amount: Money | null
  balance_after: Money | null
  reject_reason: string | null
  requested_at: Time
  reviewed_at: Time | null
}

export interface Credential {
  key_id: string
  fingerprint: string
  issued_at: Time
  ends_at: Time | null
  live: boolean
}

export interface Invoice {
  id: string
  status: 'pending' | 'issued' | 'rejected'
  invoice_type: 'general' | 'special'
  title: string
  tax_number: string
  amount: Money
  invoice_number: string | null
  reject_reason: string | null
  requested_at: Time
  issued_at: Time | null
  pdf_available: boolean
}
