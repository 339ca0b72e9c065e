// A small typed client of both APIs. nginx serves the console and both APIs on one origin
// (deploy/nginx/), so paths are relative and the proxy picks the service by method and path.
//
// - Unwraps the envelope `{success, data}` / `{success: false, error_code, message,
//   request_id}`; a failure becomes an `ApiError` carrying the API's (localized) message.
// - Refreshes the access token shortly before it expires and once more on a 401, with one
//   refresh in flight at a time (the API revokes a session whose old refresh token is reused).
import { clearSession, session, setTokens } from '../auth/session'
import { currentLocale } from '../i18n'
import type { ErrorBody, Tokens } from './types'

/** Refresh this long before the access token expires. */
const REFRESH_MARGIN_MS = 30_000

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly requestId?: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message)
  }
}

type QueryValue = string | number | boolean | null | undefined
export type Query = Record<string, QueryValue>

interface Options {
  query?: Query
  body?: unknown
  /** No token: logins, registration, refresh. */
  anonymous?: boolean
}

/** Called when the session cannot be refreshed (the router sends the user to login). */
let onSessionLost: () => void = () => {}
export function whenSessionLost(handler: () => void): void {
  onSessionLost = handler
}

/** `?a=1&b=x`, leaving out empty values (the query API treats them as absent anyway). */
export function queryString(query?: Query): string {
  if (!query) return ''
  const params = new URLSearchParams()
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === '') continue
    params.set(key, String(value))
  }
  const text = params.toString()
  return text ? `?${text}` : ''
}

function acceptLanguage(): string {
  return currentLocale() === 'en' ? 'en, zh-CN;q=0.5' : 'zh-CN, en;q=0.5'
}

let refreshing: Promise<boolean> | null = null

/** Exchanges the refresh token for a new pair; false when the session is gone. */
export function refreshTokens(): Promise<boolean> {
  if (refreshing) return refreshing
  const current = session.value
  if (!current) return Promise.resolve(false)
  refreshing = (async () => {
    try {
      const tokens = await call<Tokens>('POST', '/api/v1/auth/refresh', {
        body: { refresh_token: current.refreshToken },
        anonymous: true,
      })
      setTokens(tokens)
      return true
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) {
        clearSession()
        onSessionLost()
      }
      return false
    } finally {
      refreshing = null
    }
  })()
  return refreshing
}

/** The Authorization header value, refreshing first when the token is about to expire. */
export async function bearer(): Promise<string | undefined> {
  const current = session.value
  if (!current) return undefined
  if (current.expiresAt - Date.now() < REFRESH_MARGIN_MS) await refreshTokens()
  return session.value ? `Bearer ${session.value.accessToken}` : undefined
}

async function send(method: string, path: string, options: Options): Promise<Response> {
  const headers: Record<string, string> = {
    Accept: 'application/json',
    'Accept-Language': acceptLanguage(),
  }
  if (options.body !== undefined) headers['Content-Type'] = 'application/json'
  if (!options.anonymous) {
    const auth = await bearer()
    if (auth) headers.Authorization = auth
  }
  return fetch(path + queryString(options.query), {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  })
}

/** An `ApiError` from a failed response (a proxy's HTML error page included). */
export async function errorOf(response: Response): Promise<ApiError> {
  const text = await response.text()
  try {
    const body = JSON.parse(text) as ErrorBody
    if (body && body.success === false) {
      return new ApiError(response.status, body.error_code, body.message, body.request_id, body.details)
    }
  } catch {
    // Not JSON: fall through to a generic message.
  }
  const generic =
    currentLocale() === 'en'
      ? `The server answered HTTP ${response.status}`
      : `服务器返回 HTTP ${response.status}`
  return new ApiError(response.status, 'HTTP_ERROR', generic)
}

/** Sends a request and returns the response after one refresh-and-retry on 401. */
export async function fetchAuthorized(method: string, path: string, options: Options = {}): Promise<Response> {
  let response = await send(method, path, options)
  if (response.status === 401 && !options.anonymous && session.value) {
    if (await refreshTokens()) response = await send(method, path, options)
  }
  return response
}

/** Calls an API route and returns its `data`; throws `ApiError` with the API's message. */
export async function call<T>(method: string, path: string, options: Options = {}): Promise<T> {
  let response: Response
  try {
    response = await fetchAuthorized(method, path, options)
  } catch {
    throw new ApiError(0, 'NETWORK', currentLocale() === 'en' ? 'The server cannot be reached' : '无法连接服务器')
  }
  if (!response.ok) throw await errorOf(response)
  const body = (await response.json()) as { success: boolean; data: T }
  return body.data
}

export const get = <T>(path: string, query?: Query) => call<T>('GET', path, { query })
export const post = <T>(path: string, body?: unknown) => call<T>('POST', path, { body: body ?? {} })

/** Downloads a file route (CSV/XLSX/PDF) with the token and saves it under the server's name. */
export async function download(path: string, query: Query, fallbackName: string): Promise<string> {
  const response = await fetchAuthorized('GET', path, { query })
  if (!response.ok) throw await errorOf(response)
  const disposition = response.headers.get('Content-Disposition') ?? ''
  const name = /filename="?([^";]+)"?/.exec(disposition)?.[1] ?? fallbackName
  const url = URL.createObjectURL(await response.blob())
  const link = document.createElement('a')
  link.href = url
  link.download = name
  document.body.appendChild(link)
  link.click()
  link.remove()
  // Give the browser time to start the download before the blob goes away.
  setTimeout(() => URL.revokeObjectURL(url), 10_000)
  return name
}
