// Server-side pagination of the keyset lists: remembers the cursor of every page visited, so
// "previous" refetches the exact page and "next" passes the last page's `next_cursor`.
import { reactive } from 'vue'
import { ElMessage } from 'element-plus'
import { ApiError } from './api/client'
import type { Page } from './api/types'

export interface Pager {
  state: { limit: number; index: number; loading: boolean }
  first(): Promise<void>
  next(): Promise<void>
  previous(): Promise<void>
  hasNext(): boolean
  hasPrevious(): boolean
}

/** Rows per page unless the user picks another size (the API's default too). */
const DEFAULT_LIMIT = 20

/** `fetchPage(limit, cursor)` loads one page; `onRows` receives its rows. */
export function usePager<T>(
  fetchPage: (limit: number, cursor: string | null) => Promise<Page<T>>,
  onRows: (rows: T[]) => void,
): Pager {
  const state = reactive({ limit: DEFAULT_LIMIT, index: 0, loading: false })
  // cursors[i] is the cursor that loads page i (null for the first page).
  let cursors: (string | null)[] = [null]
  let nextCursor: string | null = null

  async function load(index: number) {
    state.loading = true
    try {
      const page = await fetchPage(state.limit, cursors[index] ?? null)
      state.index = index
      nextCursor = page.next_cursor
      cursors = cursors.slice(0, index + 1)
      onRows(page.items)
    } catch (error) {
      ElMessage.error(error instanceof ApiError ? error.message : String(error))
    } finally {
      state.loading = false
    }
  }

  return {
    state,
    first: () => {
      cursors = [null]
      return load(0)
    },
    next: () => {
      if (!nextCursor) return Promise.resolve()
      cursors[state.index + 1] = nextCursor
      return load(state.index + 1)
    },
    previous: () => (state.index > 0 ? load(state.index - 1) : Promise.resolve()),
    hasNext: () => nextCursor !== null,
    hasPrevious: () => state.index > 0,
  }
}

/** Shows an API failure as a message (the API's own, localized text). */
export function showError(error: unknown): void {
  ElMessage.error(error instanceof ApiError ? error.message : String(error))
}

/** How long a page waits for the read side to show a write it just made. */
const READ_SIDE_WAIT_MS = 10_000
const READ_SIDE_POLL_MS = 300

/**
 * Writes go to the command API; lists come from the read tables, which follow within the
 * projector's lag. After a write, poll `seen` (a read) until it reports the change, so the
 * refreshed list shows it; gives up quietly after READ_SIDE_WAIT_MS.
 */
export async function untilReadSideShows(seen: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + READ_SIDE_WAIT_MS
  while (Date.now() < deadline) {
    try {
      if (await seen()) return
    } catch {
      // Not there yet (e.g. 404 before projection): try again.
    }
    await new Promise((resolve) => setTimeout(resolve, READ_SIDE_POLL_MS))
  }
}
