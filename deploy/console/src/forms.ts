// What the list and form pages share, so each page keeps only its own columns and fields:
// a server-paginated list with its rows, write actions with a busy flag and the API's error
// message, form rules that match the API's (docs/openapi.yaml), and the confirm / reason
// prompts of reviews.
import { reactive, ref, type Ref } from 'vue'
import { ElMessage, ElMessageBox, type FormInstance, type FormItemRule } from 'element-plus'
import { i18n } from './i18n'
import { isMoneyInput, cents } from './format'
import { showError, usePager, type Pager } from './pager'
import type { Page } from './api/types'

const t = (key: string, values: Record<string, unknown> = {}) => i18n.global.t(key, values)

/** Longest review or lock reason the API takes (characters). */
export const REASON_MAX = 500
/** Most players an app may allow (ledger-core `MAX_PLAYERS_CEILING`). */
export const PLAYERS_MAX = 100
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** The rows of one server-paginated list and its pager. */
export function usePagedRows<T>(fetchPage: (limit: number, cursor: string | null) => Promise<Page<T>>): {
  rows: Ref<T[]>
  pager: Pager
} {
  const rows = ref([]) as Ref<T[]>
  const pager = usePager<T>(fetchPage, (items) => (rows.value = items))
  return { rows, pager }
}

/**
 * Write actions of a page: `run(key, action, success)` marks `key` busy while the action
 * runs (the button shows its loading state), shows `success` after it or the API's own error
 * message when it fails, and answers whether it succeeded.
 */
export function useBusy() {
  const state = reactive({ key: null as string | null })
  async function run(key: string, action: () => Promise<unknown>, success?: string): Promise<boolean> {
    state.key = key
    try {
      await action()
      if (success) ElMessage.success(success)
      return true
    } catch (error) {
      showError(error)
      return false
    } finally {
      state.key = null
    }
  }
  return { is: (key: string) => state.key === key, any: () => state.key !== null, run }
}

/** Checks a form's rules before anything is sent; false when one fails (the form says which). */
export async function validated(form: FormInstance | undefined): Promise<boolean> {
  if (!form) return false
  return form.validate().then(
    () => true,
    () => false,
  )
}

/** Asks to go on with `text`; false when the user cancels. */
export async function confirmed(text: string): Promise<boolean> {
  return ElMessageBox.confirm(text, { type: 'warning' }).then(
    () => true,
    () => false,
  )
}

/** Asks for a reason (1–REASON_MAX characters); null when the user cancels. */
export async function askReason(prompt: string): Promise<string | null> {
  try {
    const answer = await ElMessageBox.prompt(prompt, {
      inputValidator: (value: string) => {
        const length = value?.trim().length ?? 0
        return length > 0 && length <= REASON_MAX
      },
      inputErrorMessage: t('forms.reason', { max: REASON_MAX }),
    })
    return answer.value.trim()
  } catch {
    return null
  }
}

/** A rule from a predicate over the trimmed text value. */
function check(ok: (value: string) => boolean, message: () => string): FormItemRule {
  return {
    trigger: 'blur',
    validator: (_rule, value: unknown, done) => {
      const text = value === null || value === undefined ? '' : String(value).trim()
      if (text === '' || ok(text)) done()
      else done(new Error(message()))
    },
  }
}

/** Form rules shared by the pages; each mirrors what the API checks. */
export const rules = {
  required: (): FormItemRule => ({ required: true, message: () => t('auth.rules.required'), trigger: 'blur' }),
  /** Required text of at most `max` characters. */
  text: (max: number): FormItemRule[] => [
    rules.required(),
    check((v) => v.length <= max, () => t('forms.maxLength', { max })),
  ],
  /** A price: above zero, at most two decimals. */
  price: (): FormItemRule[] => [
    rules.required(),
    check((v) => isMoneyInput(v) && (cents(v) ?? 0n) > 0n, () => t('forms.price')),
  ],
  uuid: (): FormItemRule[] => [rules.required(), check((v) => UUID.test(v), () => t('forms.uuid'))],
  /** Player counts 1–PLAYERS_MAX, with `min()` ≤ `max()` across the two fields. */
  players: (min: () => number | undefined, max: () => number | undefined): FormItemRule[] => [
    rules.required(),
    check(
      (v) => /^\d+$/.test(v) && Number(v) >= 1 && Number(v) <= PLAYERS_MAX,
      () => t('forms.players', { max: PLAYERS_MAX }),
    ),
    check(() => {
      const [lo, hi] = [min(), max()]
      return lo === undefined || hi === undefined || lo <= hi
    }, () => t('forms.playerRange')),
  ],
}
