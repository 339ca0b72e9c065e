// The operator's live state shared by the layout (unread badge) and the dashboard (balance,
// new games): one SSE connection to /api/v1/operator/live while the operator pages are open.
import { reactive } from 'vue'
import { get } from './client'
import { openLive, type LiveStream } from './sse'
import type { LiveBalance, LiveUsage } from './types'

/** New games kept for the dashboard's live list. */
const RECENT_GAMES = 10

export const live = reactive({
  connected: false,
  balance: null as string | null,
  /** Position of the event behind `balance`: an older balance never replaces a newer one. */
  balancePosition: -1,
  unreadCount: 0,
  recentGames: [] as LiveUsage[],
  /** Bumped on `resync` and on each game, so pages showing lists refetch. */
  revision: 0,
})

let stream: LiveStream | null = null

export function setBalance(balance: string, position: number): void {
  if (position < live.balancePosition) return
  live.balance = balance
  live.balancePosition = position
}

export async function refreshUnread(): Promise<void> {
  try {
    const data = await get<{ unread_count: number }>('/api/v1/operator/messages/unread-count')
    live.unreadCount = data.unread_count
  } catch {
    // The badge keeps its last value; the stream's `messages` events correct it.
  }
}

export function startLive(): void {
  if (stream) return
  void refreshUnread()
  stream = openLive(
    '/api/v1/operator/live',
    (event, data) => {
      switch (event) {
        case 'balance': {
          const b = data as LiveBalance
          setBalance(b.balance, b.as_of_position)
          break
        }
        case 'usage': {
          const u = data as LiveUsage
          setBalance(u.balance_after, u.position)
          live.recentGames = [u, ...live.recentGames].slice(0, RECENT_GAMES)
          live.revision++
          break
        }
        case 'messages':
          live.unreadCount = (data as { unread_count: number }).unread_count
          break
        case 'resync':
          live.revision++
          void refreshUnread()
          break
      }
    },
    (connected) => {
      live.connected = connected
    },
  )
}

export function stopLive(): void {
  stream?.close()
  stream = null
  live.connected = false
  live.balance = null
  live.balancePosition = -1
  live.recentGames = []
}
