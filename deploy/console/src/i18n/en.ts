// English. Same keys as zh-CN.ts.
import type zh from './zh-CN'

const en: typeof zh = {
  app: { title: 'MR Ledger Console', logout: 'Log out', language: '中文', zone: 'Time zone' },
  common: {
    search: 'Search', reset: 'Reset', export: 'Export CSV', refresh: 'Refresh', prev: 'Previous', next: 'Next',
    page: 'Page {n}', perPage: 'Per page', all: 'All', empty: 'No data', loading: 'Loading…', save: 'Save',
    submit: 'Submit', cancel: 'Cancel', from: 'From', to: 'To', status: 'Status', actions: 'Actions',
    dateRange: 'Period', exported: 'Exported {name}',
  },
  auth: {
    login: 'Log in', operatorLogin: 'Operator', staffLogin: 'Staff', username: 'Username', password: 'Password',
    register: 'Register an operator account', haveAccount: 'Have an account? Log in', noAccount: 'No account yet? Register',
    name: 'Company / name', phone: 'Phone', email: 'Email', confirmPassword: 'Confirm password',
    registered: 'Registered. Save the API key now: it is shown only once.', keyId: 'Key ID', secret: 'Secret',
    copy: 'Copy', copied: 'Copied', goLogin: 'Saved, go to login',
    rules: {
      username: '3–20 letters, digits or _', password: '8–128 characters with an upper-case letter, a lower-case letter and a digit',
      required: 'Required', email: 'Not an email address', phone: 'Not a phone number', mismatch: 'The passwords differ',
    },
  },
  nav: {
    dashboard: 'Dashboard', recharge: 'Recharge', usage: 'Usage records', statistics: 'Statistics', transactions: 'Transactions',
    messages: 'Messages', operators: 'Operators', adminDashboard: 'Admin dashboard',
    invoices: 'Invoices', refunds: 'Refunds', sites: 'Sites', credentials: 'API keys', profile: 'Profile', refundReview: 'Refund review',
  },
  dashboard: {
    balance: 'Balance', todaySpend: "Today's spend", monthSpend: "This month's spend", live: 'Live', offline: 'Reconnecting',
    lowBalance: 'Balance {balance} is below the alert threshold {threshold}. Please recharge.', rechargeNow: 'Recharge now',
    recentGames: 'Live games', noGames: 'No new game authorizations yet', totalCredited: 'Total recharged', totalCharged: 'Total spent',
    status: 'Account status', locked: 'The account is locked: {reason}',
  },
  recharge: {
    title: 'Online recharge', amount: 'Amount (CNY)', channel: 'Channel', wechat: 'WeChat Pay', alipay: 'Alipay',
    create: 'Create payment QR code', scan: 'Scan with {channel} to pay', orderNo: 'Order no.', waiting: 'Waiting for payment…',
    amountRule: '1.00 – 50000.00, at most two decimals', history: 'Recharge orders', again: 'Recharge again',
    statuses: { pending: 'Pending', succeeded: 'Paid', failed: 'Failed', closed: 'Closed', needs_review: 'Needs review' },
    paid: 'Paid: {amount} credited',
  },
  usage: {
    time: 'Authorized at', site: 'Site', app: 'App', players: 'Players', unitPrice: 'Unit price', total: 'Cost',
    balanceAfter: 'Balance after', session: 'Session ID', duration: 'Duration', allSites: 'All sites', allApps: 'All apps',
  },
  stats: {
    trend: 'Spend trend', byApp: 'By app', bySite: 'By site', day: 'Day', week: 'Week', month: 'Month',
    sessions: 'Games', playerTimes: 'Player-times', averagePlayers: 'Avg. players', spend: 'Spend', zone: 'Statistics zone: {zone}',
  },
  tx: {
    kind: 'Kind', amount: 'Amount', balanceAfter: 'Balance', reference: 'Reference', description: 'Description', time: 'Time',
    kinds: { recharge: 'Online recharge', credit: 'Manual credit', charge: 'Game charge', refund: 'Refund' },
  },
  messages: {
    unreadOnly: 'Unread only', markRead: 'Mark read', markAllRead: 'Mark all read', unread: 'Unread', read: 'Read',
    kinds: { announcement: 'Announcement', price_change: 'Price change', low_balance: 'Low balance', grant_expiry: 'Grant expiry' },
  },
  admin: {
    operatorsTotal: 'Operators', operatorsActive: 'Active this month', sessions: 'Games this month',
    revenue: 'Revenue this month', todayRecharged: 'Recharged today', todayConsumed: 'Consumed today', todayRefunded: 'Refunded today',
    todayNet: 'Net today', monthTrend: 'This month', recharged: 'Recharged', consumed: 'Consumed', refunded: 'Refunded',
    searchHint: 'Username, name, phone or email', category: 'Category', balance: 'Balance', games: 'Games',
    registeredAt: 'Registered', includeDeactivated: 'Include deactivated',
    categories: { vip: 'VIP', standard: 'Standard', trial: 'Trial' },
    statuses: { active: 'Active', locked: 'Locked', deactivated: 'Deactivated' },
  },
  refunds: {
    request: 'Request a refund', reason: 'Reason', refundable: 'Refundable balance', requestedAmount: 'Balance at request', amount: 'Refunded',
    requestedAt: 'Requested', reviewedAt: 'Reviewed', rejectReason: 'Rejection reason', submitted: 'Refund requested',
    hint: 'Only the current balance is refundable; finance refunds the balance at approval (spending meanwhile reduces it).',
    statuses: { pending: 'Pending', approved: 'Refunded', rejected: 'Rejected' },
    operator: 'Operator', totals: 'Recharged / spent / balance', approve: 'Approve', reject: 'Reject', approved: 'Refund approved',
    rejected: 'Rejected', rejectPrompt: 'Why is it rejected?',
  },
  invoices: {
    request: 'Request an invoice', type: 'Type', types: { general: 'General invoice', special: 'Special VAT invoice' }, title: 'Buyer',
    taxNumber: 'Tax number', amount: 'Amount', invoiceable: 'Invoiceable amount', number: 'Invoice no.', requestedAt: 'Requested',
    issuedAt: 'Issued', download: 'Download PDF', submitted: 'Invoice requested', rejectReason: 'Rejection reason',
    taxRule: '15–20 digits or capital letters', amountRule: 'Above 0, at most two decimals, within the invoiceable amount',
    statuses: { pending: 'Pending', issued: 'Issued', rejected: 'Rejected' },
  },
  sites: {
    create: 'New site', edit: 'Edit', close: 'Close', name: 'Site name', address: 'Address', openedAt: 'Opened',
    statuses: { open: 'Open', closed: 'Closed' }, includeClosed: 'Include closed', confirmClose: 'Close the site "{name}"? Its history stays.',
    saved: 'Saved',
  },
  credentials: {
    keyId: 'Key ID', fingerprint: 'Fingerprint (SHA-256)', issuedAt: 'Issued', endsAt: 'Ends', live: 'Live', ended: 'Ended',
    rotate: 'Rotate key', confirmRotate: 'The old key stops working at once; headset servers must use the new one. Go on?', issued: 'New key (shown only once)',
  },
  profile: {
    save: 'Save profile', saved: 'Profile saved', password: 'Change password', current: 'Current password', newPassword: 'New password',
    changed: 'Password changed', category: 'Category', threshold: 'Low-balance threshold', registeredAt: 'Registered',
  },
  errors: {
    forbidden: 'You may not open this page', forbiddenHint: 'This account ({role}) cannot open that page.', backHome: 'Back to my home page',
    notFound: 'Page not found',
  },
  roles: {
    operator: 'Operator', super_admin: 'Super admin', admin: 'Admin', finance_specialist: 'Finance specialist',
    finance_manager: 'Finance manager', finance_auditor: 'Finance auditor', analyst: 'Analyst',
  },
}

export default en
