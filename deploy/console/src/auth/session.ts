// The login session of this browser tab's user: tokens from a login, kept in localStorage so
// a reload stays logged in. The role used by the router comes from the access token's claims
// (the API decides for real; the console only hides what the role may not open).
import { computed, ref } from 'vue'
import type { Role, StaffRole, Tokens } from '../api/types'

const STORAGE_KEY = 'mrledger.session'

export interface Session {
  accessToken: string
  refreshToken: string
  role: Role
  /** Operator logins only. */
  operatorId?: string
  /** Epoch milliseconds when the access token expires. */
  expiresAt: number
}

interface TokenClaims {
  sub: string
  role: Role
  exp: number
}

/** The claims of a JWT (not verified: the API verifies; the console only reads them). */
export function claimsOf(token: string): TokenClaims | null {
  const payload = token.split('.')[1]
  if (!payload) return null
  try {
    const base64 = payload.replace(/-/g, '+').replace(/_/g, '/')
    const json = new TextDecoder().decode(Uint8Array.from(atob(base64), (c) => c.charCodeAt(0)))
    return JSON.parse(json) as TokenClaims
  } catch {
    return null
  }
}

function load(): Session | null {
  try {
    const raw = localStorage.getItem(STORAGE_KEY)
    return raw ? (JSON.parse(raw) as Session) : null
  } catch {
    return null
  }
}

export const session = ref<Session | null>(load())

export const role = computed<Role | null>(() => session.value?.role ?? null)
export const isOperator = computed(() => role.value === 'operator')

/** Stores the tokens of a login or refresh. */
export function setTokens(tokens: Tokens): void {
  const claims = claimsOf(tokens.access_token)
  const next: Session = {
    accessToken: tokens.access_token,
    refreshToken: tokens.refresh_token,
    // The token's own claim wins over the answer's field: it is what the API checks.
    role: claims?.role ?? tokens.role,
    operatorId: tokens.operator_id ?? (claims?.role === 'operator' ? claims.sub : undefined),
    expiresAt: Date.now() + tokens.expires_in * 1000,
  }
  session.value = next
  localStorage.setItem(STORAGE_KEY, JSON.stringify(next))
}

export function clearSession(): void {
  session.value = null
  localStorage.removeItem(STORAGE_KEY)
}

export const STAFF_ROLES: readonly StaffRole[] = [
  'super_admin',
  'admin',
  'finance_specialist',
  'finance_manager',
  'finance_auditor',
  'analyst',
]

/** Roles that may open the admin pages (those holding `operators:read`, see docs/ACCESS.md). */
export const ADMIN_PAGE_ROLES: readonly Role[] = STAFF_ROLES

/** Roles that may open the refund review (those holding `refunds:read`). */
export const REFUND_ROLES: readonly Role[] = ['super_admin', 'finance_specialist', 'finance_manager', 'finance_auditor']

/** Roles holding the admin's write and review scopes (`catalog:write`, `operators:write`,
 * `applications:review`, `announcements:write`): the only ones that may open the
 * applications review and announcements, and that see write buttons elsewhere. */
export const ADMIN_WRITE_ROLES: readonly Role[] = ['super_admin', 'admin']

/** Where a role lands after login: its own dashboard. */
export function homeOf(r: Role): string {
  if (r === 'operator') return '/operator/dashboard'
  if (r === 'analyst') return '/analyst/dashboard'
  if (r.startsWith('finance_')) return '/finance/dashboard'
  return '/admin/dashboard'
}
