// English texts of the finance and analyst pages and the file downloads (merged into en.ts).
import type zh from './staff.zh-CN'

const en: typeof zh = {
  files: { csv: 'Export CSV', xlsx: 'Export XLSX', pdf: 'Download PDF' },
  staffNav: {
    financeGroup: 'Finance', analystGroup: 'Analysis', financeDashboard: 'Finance dashboard', invoiceReview: 'Invoice review',
    reports: 'Reports', reconciliations: 'Reconciliation', auditLog: 'Staff audit log', analystDashboard: 'Global dashboard',
    analysis: 'Cross analysis',
  },
  finance: {
    net: 'Net', count: '{n} items', netHint: 'Net = recharged − refunded', topCustomers: 'Top customers this month',
    share: 'Share of revenue', issue: 'Issue', invoiceIssued: 'Invoice issued', invoiceRejectPrompt: 'Why is it rejected? (shown to the operator)',
    generate: 'Generate report', reportKind: 'Kind', periodStart: 'First day', generatedAt: 'Generated', files: 'Files',
    failed: 'Failed', reportReady: 'Report generated', generatedNote: '{kind} report generated: {from} – {to}',
    notFuture: 'Not a future day',
    kinds: { daily: 'Daily', weekly: 'Weekly', monthly: 'Monthly', yearly: 'Yearly' },
    startRule: {
      daily: 'Pick a day', weekly: 'A weekly report starts on a Monday', monthly: 'A monthly report starts on the 1st',
      yearly: 'A yearly report starts on 1 January',
    },
    recon: {
      run: 'Reconcile', billDate: 'Statement day', done: 'Reconciliation done', open: 'Open', by: 'Run by', at: 'Run at',
      problems: 'Differences', kind: 'Result', allKinds: 'All results', gatewayTotal: 'Gateway statement total',
      ledgerTotal: 'Ledger total', gatewayAmount: 'Gateway amount', ledgerAmount: 'Ledger amount', detail: 'Detail',
      kinds: { matched: 'Matched', amount_mismatch: 'Amount differs', missing_in_ledger: 'Not in ledger', missing_at_gateway: 'Not at gateway' },
    },
    audit: {
      time: 'Time', actor: 'Staff member', action: 'Action (event type)', target: 'Target', targetType: 'Target type',
      targetId: 'Target ID', actorId: 'Staff ID', ip: 'Source IP',
      nameRule: 'A letter, then letters, digits or _ (at most 64)', idRule: 'At most 128 characters',
    },
  },
  analyst: {
    operatorsTotal: 'Operators', revenue: 'Revenue', operatorsActive: 'Operators with games', revenueTrend: 'Revenue trend', bucket: 'Period',
    total: 'Total', operatorsWithSpend: 'Operators with spend', categoryNote: 'Every operator with games in the period, in the category it has now.',
    tabs: { 'operator-app': 'Operator × app', 'site-time': 'Site × time', players: 'App × players', category: 'Operator category' },
    players: { upto_2: '1–2 players', '3_4': '3–4 players', '5_8': '5–8 players', '9_plus': '9+ players' },
  },
}

export default en
