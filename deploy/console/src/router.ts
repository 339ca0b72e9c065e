// Pages and who may open them. The guard reads the role from the session's token: an operator
// never reaches an admin page (even by typing its URL) and staff never an operator page; the
// API refuses such calls anyway (403), this only keeps the pages out of reach.
import { createRouter, createWebHistory, type RouteRecordRaw } from 'vue-router'
import { ADMIN_PAGE_ROLES, ADMIN_WRITE_ROLES, REFUND_ROLES, homeOf, session } from './auth/session'
import type { Role } from './api/types'
import { whenSessionLost } from './api/client'
import { ANALYST_ROLES, FINANCE_ROLES } from './staff'

declare module 'vue-router' {
  interface RouteMeta {
    /** Roles that may open the page; absent: anyone (login, register). */
    roles?: readonly Role[]
  }
}

const OPERATOR: readonly Role[] = ['operator']

const routes: RouteRecordRaw[] = [
  { path: '/', redirect: () => (session.value ? homeOf(session.value.role) : '/login') },
  { path: '/login', component: () => import('./views/auth/LoginPage.vue') },
  { path: '/register', component: () => import('./views/auth/RegisterPage.vue') },
  {
    path: '/operator',
    component: () => import('./layouts/OperatorLayout.vue'),
    meta: { roles: OPERATOR },
    children: [
      { path: '', redirect: '/operator/dashboard' },
      { path: 'dashboard', component: () => import('./views/operator/DashboardPage.vue'), meta: { roles: OPERATOR } },
      { path: 'recharge', component: () => import('./views/operator/RechargePage.vue'), meta: { roles: OPERATOR } },
      { path: 'usage', component: () => import('./views/operator/UsagePage.vue'), meta: { roles: OPERATOR } },
      { path: 'statistics', component: () => import('./views/operator/StatisticsPage.vue'), meta: { roles: OPERATOR } },
      { path: 'transactions', component: () => import('./views/operator/TransactionsPage.vue'), meta: { roles: OPERATOR } },
      { path: 'messages', component: () => import('./views/operator/MessagesPage.vue'), meta: { roles: OPERATOR } },
      { path: 'refunds', component: () => import('./views/operator/RefundsPage.vue'), meta: { roles: OPERATOR } },
      { path: 'invoices', component: () => import('./views/operator/InvoicesPage.vue'), meta: { roles: OPERATOR } },
      { path: 'sites', component: () => import('./views/operator/SitesPage.vue'), meta: { roles: OPERATOR } },
      { path: 'apps', component: () => import('./views/operator/AppsPage.vue'), meta: { roles: OPERATOR } },
      { path: 'credentials', component: () => import('./views/operator/CredentialsPage.vue'), meta: { roles: OPERATOR } },
      { path: 'profile', component: () => import('./views/operator/ProfilePage.vue'), meta: { roles: OPERATOR } },
    ],
  },
  {
    path: '/admin',
    component: () => import('./layouts/StaffLayout.vue'),
    meta: { roles: ADMIN_PAGE_ROLES },
    children: [
      { path: '', redirect: '/admin/dashboard' },
      { path: 'dashboard', component: () => import('./views/admin/DashboardPage.vue'), meta: { roles: ADMIN_PAGE_ROLES } },
      { path: 'operators', component: () => import('./views/admin/OperatorsPage.vue'), meta: { roles: ADMIN_PAGE_ROLES } },
      { path: 'refunds', component: () => import('./views/admin/RefundReviewPage.vue'), meta: { roles: REFUND_ROLES } },
      { path: 'apps', component: () => import('./views/admin/AppsPage.vue'), meta: { roles: ADMIN_PAGE_ROLES } },
      { path: 'applications', component: () => import('./views/admin/ApplicationsPage.vue'), meta: { roles: ADMIN_WRITE_ROLES } },
      { path: 'announcements', component: () => import('./views/admin/AnnouncementsPage.vue'), meta: { roles: ADMIN_WRITE_ROLES } },
      { path: 'transactions', component: () => import('./views/admin/TransactionsPage.vue'), meta: { roles: ADMIN_PAGE_ROLES } },
    ],
  },
  {
    path: '/finance',
    component: () => import('./layouts/StaffLayout.vue'),
    meta: { roles: FINANCE_ROLES },
    children: [
      { path: '', redirect: '/finance/dashboard' },
      { path: 'dashboard', component: () => import('./views/finance/FinanceDashboardPage.vue'), meta: { roles: FINANCE_ROLES } },
      { path: 'invoices', component: () => import('./views/finance/InvoiceReviewPage.vue'), meta: { roles: FINANCE_ROLES } },
      { path: 'reports', component: () => import('./views/finance/ReportsPage.vue'), meta: { roles: FINANCE_ROLES } },
      { path: 'reconciliations', component: () => import('./views/finance/ReconciliationsPage.vue'), meta: { roles: FINANCE_ROLES } },
      { path: 'audit-log', component: () => import('./views/finance/AuditLogPage.vue'), meta: { roles: FINANCE_ROLES } },
    ],
  },
  {
    path: '/analyst',
    component: () => import('./layouts/StaffLayout.vue'),
    meta: { roles: ANALYST_ROLES },
    children: [
      { path: '', redirect: '/analyst/dashboard' },
      { path: 'dashboard', component: () => import('./views/analyst/AnalystDashboardPage.vue'), meta: { roles: ANALYST_ROLES } },
      { path: 'analysis', component: () => import('./views/analyst/AnalysisPage.vue'), meta: { roles: ANALYST_ROLES } },
    ],
  },
  { path: '/forbidden', component: () => import('./views/ForbiddenPage.vue') },
  { path: '/:rest(.*)*', component: () => import('./views/NotFoundPage.vue') },
]

export const router = createRouter({ history: createWebHistory(), routes })

router.beforeEach((to) => {
  // Every matched record must allow the role (a child cannot widen its parent).
  const required = to.matched.map((record) => record.meta.roles).filter((roles) => roles !== undefined)
  if (required.length === 0) return true
  const current = session.value
  if (!current) return { path: '/login', query: { redirect: to.fullPath } }
  if (required.every((roles) => roles.includes(current.role))) return true
  return { path: '/forbidden', query: { from: to.fullPath } }
})

whenSessionLost(() => {
  void router.push({ path: '/login', query: { redirect: router.currentRoute.value.fullPath } })
})
