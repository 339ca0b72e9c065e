// English. Same keys as zh-CN.ts.
import type zh from './zh-CN'
import staff from './staff.en'

const en: typeof zh = {
  ...staff,
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
  forms: {
    maxLength: 'At most {max} characters', price: 'An amount above 0 with at most two decimals', uuid: 'Not a valid ID (xxxxxxxx-xxxx-…)',
    players: 'A whole number from 1 to {max}', playerRange: 'The minimum cannot exceed the maximum', reason: 'Give a reason (at most {max} characters)',
  },
  apps: {
    title: 'Apps', create: 'New app', edit: 'Edit', retire: 'Retire', name: 'App name', description: 'Description',
    unitPrice: 'Price per player', players: 'Players', minPlayers: 'Min players', maxPlayers: 'Max players', id: 'App ID',
    updatedAt: 'Updated', saved: 'App saved', retiredDone: 'App retired', copyId: 'Copy ID',
    confirmRetire: 'Retire the app "{name}"? Operators holding it can no longer start games with it.',
    priceHint: 'A new price applies from the next authorization; operators holding the app get a price-change message.',
    statuses: { active: 'Active', retired: 'Retired' },
  },
  ownApps: {
    catalog: 'Apps you can apply for', description: 'Description', listPrice: 'List price (per player)', applyFor: 'Apply',
    title: 'Apps', granted: 'Apps you may use', expiresAt: 'Grant expires', permanent: 'Permanent', expired: 'Expired', valid: 'Valid',
    retired: 'Retired', apply: 'Apply for an app', appId: 'App ID', appIdHint: 'Pick "Apply" in the catalog above, or enter the ID the platform gave you', reason: 'Reason',
    applied: 'Applied; waiting for review', applications: 'My applications', reapply: 'Apply again', reviewReason: 'Review note',
    appliedAt: 'Applied', reviewedAt: 'Reviewed',
  },
  applications: {
    title: 'App applications', operator: 'Operator', app: 'App', reason: 'Reason', approve: 'Approve', reject: 'Reject',
    rejectPrompt: 'Why is it rejected? (the operator sees this)', approved: 'Approved; the app is granted', rejected: 'Rejected', reviewReason: 'Review note',
    approveTitle: 'Approve: {app}', expiresAt: 'Grant expires (empty: permanent)', grantsTab: 'Grants per operator', reviewTab: 'Applications',
    statuses: { pending: 'Pending', approved: 'Approved', rejected: 'Rejected' },
  },
  grants: {
    pickOperator: 'Search and pick an operator', grant: 'Grant an app', revoke: 'Revoke', app: 'App', grantedAt: 'Granted',
    expiresAt: 'Expires', granted: 'Granted', revoked: 'Grant revoked', confirmRevoke: 'Revoke the grant of "{name}"? The operator can no longer start games with it.',
    statuses: { active: 'Active', revoked: 'Revoked' },
  },
  announcements: {
    title: 'Announcements', publish: 'Publish', subject: 'Title', body: 'Text', publishedAt: 'Published', published: 'Announcement published',
    confirmPublish: "The announcement goes to every operator's messages. Publish it?",
  },
  globalTx: { title: 'All transactions', operator: 'Operator', allOperators: 'All operators' },
  operatorAdmin: {
    detail: 'Details', lock: 'Lock', unlock: 'Unlock', lockPrompt: 'Why is it locked? (the operator sees this)', locked: 'Account locked', unlocked: 'Account unlocked',
    lockReason: 'Lock reason', categorySaved: 'Category changed', rotate: 'Rotate API key', overlap: 'Old key stays valid for (seconds, 0: stops at once)',
    rotated: 'New key (shown only once)', credentials: 'API keys', sites: 'Sites', grants: 'Granted apps', threshold: 'Low-balance threshold',
    totalRefunded: 'Total refunded', totalInvoiced: 'Total invoiced', totals: 'Total recharged / spent', transactions: 'Transactions',
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
