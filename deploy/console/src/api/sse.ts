// Server-Sent Events over fetch: the live routes need `Authorization: Bearer`, which
// EventSource cannot send. Parses the `event:`/`data:` frames, honours `retry:`, reconnects
// after a drop (refreshing the token on a 401) until closed.
import { bearer, refreshTokens } from './client'

export type LiveHandler = (event: string, data: unknown) => void

/** First reconnect delay until the stream's `retry:` says otherwise. */
const DEFAULT_RETRY_MS = 3000

export interface LiveStream {
  close(): void
}

export function openLive(path: string, onEvent: LiveHandler, onState?: (connected: boolean) => void): LiveStream {
  const abort = new AbortController()
  let retryMs = DEFAULT_RETRY_MS
  let closed = false

  const dispatch = (frame: string) => {
    let event = 'message'
    const data: string[] = []
    for (const line of frame.split('\n')) {
      if (line.startsWith(':')) continue
      const colon = line.indexOf(':')
      const field = colon < 0 ? line : line.slice(0, colon)
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '')
      if (field === 'event') event = value
      else if (field === 'data') data.push(value)
      else if (field === 'retry' && /^\d+$/.test(value)) retryMs = Number(value)
    }
    if (data.length === 0) return
    try {
      onEvent(event, JSON.parse(data.join('\n')))
    } catch {
      onEvent(event, data.join('\n'))
    }
  }

  const connectOnce = async () => {
    const auth = await bearer()
    const response = await fetch(path, {
      headers: { Accept: 'text/event-stream', ...(auth ? { Authorization: auth } : {}) },
      signal: abort.signal,
    })
    if (response.status === 401) {
      await refreshTokens()
      return
    }
    if (!response.ok || !response.body) return
    onState?.(true)
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader()
    let buffer = ''
    for (;;) {
      const { value, done } = await reader.read()
      if (done) break
      buffer += value.replace(/\r\n?/g, '\n')
      let end: number
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        dispatch(buffer.slice(0, end))
        buffer = buffer.slice(end + 2)
      }
    }
  }

  void (async () => {
    while (!closed) {
      try {
        await connectOnce()
      } catch {
        // Dropped or aborted: reconnect below unless closed.
      }
      onState?.(false)
      if (closed) break
      await new Promise((resolve) => setTimeout(resolve, retryMs))
    }
  })()

  return {
    close() {
      closed = true
      abort.abort()
    },
  }
}
