// 简体中文（默认语言）。键与 en.ts 一一对应。
import staff from './staff.zh-CN'

export default {
  ...staff,
  app: { title: 'MR Ledger 控制台', logout: '退出登录', language: 'English', zone: '时区' },
  common: {
    search: '查询', reset: '重置', export: '导出 CSV', refresh: '刷新', prev: '上一页', next: '下一页',
    page: '第 {n} 页', perPage: '每页', all: '全部', empty: '暂无数据', loading: '加载中…', save: '保存',
    submit: '提交', cancel: '取消', from: '开始', to: '结束', status: '状态', actions: '操作',
    dateRange: '时间范围', exported: '已导出 {name}',
  },
  auth: {
    login: '登录', operatorLogin: '运营商登录', staffLogin: '员工登录', username: '用户名', password: '密码',
    register: '注册运营商账号', haveAccount: '已有账号？去登录', noAccount: '还没有账号？立即注册',
    name: '公司 / 姓名', phone: '手机号', email: '邮箱', confirmPassword: '确认密码',
    registered: '注册成功，请保存 API 密钥（只显示这一次）', keyId: 'Key ID', secret: 'Secret',
    copy: '复制', copied: '已复制', goLogin: '已保存，去登录',
    rules: {
      username: '3–20 位字母、数字或下划线', password: '8–128 位，需包含大写字母、小写字母和数字',
      required: '必填', email: '邮箱格式不正确', phone: '手机号格式不正确', mismatch: '两次输入的密码不一致',
    },
  },
  nav: {
    dashboard: '概览', recharge: '充值', usage: '使用记录', statistics: '统计分析', transactions: '交易流水',
    messages: '消息中心', operators: '运营商', adminDashboard: '管理概览',
    invoices: '发票', refunds: '退款', sites: '场地', credentials: 'API 密钥', profile: '账户资料', refundReview: '退款审核',
  },
  dashboard: {
    balance: '账户余额', todaySpend: '今日消费', monthSpend: '本月消费', live: '实时', offline: '重连中',
    lowBalance: '余额 {balance} 低于提醒阈值 {threshold}，请及时充值。', rechargeNow: '立即充值',
    recentGames: '实时游戏', noGames: '暂无新的游戏授权', totalCredited: '累计充值', totalCharged: '累计消费',
    status: '账户状态', locked: '账户已被锁定：{reason}',
  },
  recharge: {
    title: '在线充值', amount: '金额（元）', channel: '支付方式', wechat: '微信支付', alipay: '支付宝',
    create: '生成支付二维码', scan: '请使用{channel}扫码支付', orderNo: '订单号', waiting: '等待支付…',
    amountRule: '金额为 1.00 – 50000.00 元，最多两位小数', history: '充值记录', again: '再充一笔',
    statuses: { pending: '待支付', succeeded: '已支付', failed: '支付失败', closed: '已关闭', needs_review: '待人工核查' },
    paid: '支付成功，已入账 {amount}',
  },
  usage: {
    time: '授权时间', site: '场地', app: '应用', players: '人数', unitPrice: '单价', total: '费用',
    balanceAfter: '扣费后余额', session: '会话 ID', duration: '时长', allSites: '全部场地', allApps: '全部应用',
  },
  stats: {
    trend: '消费趋势', byApp: '按应用', bySite: '按场地', day: '按日', week: '按周', month: '按月',
    sessions: '游戏场次', playerTimes: '人次', averagePlayers: '平均人数', spend: '消费', zone: '统计时区：{zone}',
  },
  tx: {
    kind: '类型', amount: '金额', balanceAfter: '余额', reference: '关联单号', description: '说明', time: '时间',
    kinds: { recharge: '在线充值', credit: '人工入账', charge: '游戏扣费', refund: '退款' },
  },
  messages: {
    unreadOnly: '只看未读', markRead: '标为已读', markAllRead: '全部已读', unread: '未读', read: '已读',
    kinds: { announcement: '公告', price_change: '价格调整', low_balance: '余额不足', grant_expiry: '授权到期' },
  },
  admin: {
    operatorsTotal: '运营商总数', operatorsActive: '本月活跃运营商', sessions: '本月游戏场次',
    revenue: '本月收入', todayRecharged: '今日充值', todayConsumed: '今日消费', todayRefunded: '今日退款',
    todayNet: '今日净额', monthTrend: '本月资金趋势', recharged: '充值', consumed: '消费', refunded: '退款',
    searchHint: '用户名、名称、手机号或邮箱', category: '类别', balance: '余额', games: '游戏数',
    registeredAt: '注册时间', includeDeactivated: '含已注销',
    categories: { vip: 'VIP', standard: '标准', trial: '试用' },
    statuses: { active: '正常', locked: '已锁定', deactivated: '已注销' },
  },
  refunds: {
    request: '申请退款', reason: '退款原因', refundable: '可退余额', requestedAmount: '申请时余额', amount: '实退金额',
    requestedAt: '申请时间', reviewedAt: '审核时间', rejectReason: '驳回原因', submitted: '退款申请已提交',
    hint: '只可退当前余额；财务审核通过时按当时余额退款（审核期间的消费会减少退款金额）。',
    statuses: { pending: '待审核', approved: '已退款', rejected: '已驳回' },
    operator: '运营商', totals: '累计充值 / 累计消费 / 当前余额', approve: '通过', reject: '驳回', approved: '已通过退款',
    rejected: '已驳回', rejectPrompt: '请输入驳回原因',
  },
  invoices: {
    request: '申请开票', type: '发票类型', types: { general: '普通发票', special: '增值税专用发票' }, title: '发票抬头',
    taxNumber: '税号', amount: '开票金额', invoiceable: '可开票金额', number: '发票号码', requestedAt: '申请时间',
    issuedAt: '开具时间', download: '下载 PDF', submitted: '开票申请已提交', rejectReason: '驳回原因',
    taxRule: '15–20 位数字或大写字母', amountRule: '大于 0，最多两位小数，且不超过可开票金额',
    statuses: { pending: '待审核', issued: '已开具', rejected: '已驳回' },
  },
  sites: {
    create: '新增场地', edit: '编辑', close: '关闭', name: '场地名称', address: '地址', openedAt: '开业时间',
    statuses: { open: '营业中', closed: '已关闭' }, includeClosed: '含已关闭', confirmClose: '确定关闭场地“{name}”？历史记录会保留。',
    saved: '已保存',
  },
  credentials: {
    keyId: 'Key ID', fingerprint: '指纹 (SHA-256)', issuedAt: '签发时间', endsAt: '失效时间', live: '有效', ended: '已失效',
    rotate: '轮换密钥', confirmRotate: '轮换后旧密钥立即失效，头显服务器需改用新密钥。继续？', issued: '新密钥（只显示这一次）',
  },
  profile: {
    save: '保存资料', saved: '资料已保存', password: '修改密码', current: '当前密码', newPassword: '新密码',
    changed: '密码已修改', category: '类别', threshold: '低余额提醒阈值', registeredAt: '注册时间',
  },
  forms: {
    maxLength: '最多 {max} 个字符', price: '大于 0 的金额，最多两位小数', uuid: '不是有效的 ID（形如 xxxxxxxx-xxxx-…）',
    players: '1–{max} 之间的整数', playerRange: '最少人数不能大于最多人数', reason: '请填写原因（最多 {max} 个字符）',
  },
  apps: {
    title: '应用管理', create: '新建应用', edit: '编辑', retire: '下架', name: '应用名称', description: '说明',
    unitPrice: '单价（每人次）', players: '玩家人数', minPlayers: '最少人数', maxPlayers: '最多人数', id: '应用 ID',
    updatedAt: '更新时间', saved: '应用已保存', retiredDone: '应用已下架', copyId: '复制 ID',
    confirmRetire: '下架应用「{name}」？已授权的运营商将无法再用它开局。',
    priceHint: '改价从下一次授权起生效，已授权该应用的运营商会收到改价消息。',
    statuses: { active: '上架中', retired: '已下架' },
  },
  ownApps: {
    catalog: '可申请的应用', description: '简介', listPrice: '标价（每人次）', applyFor: '申请',
    title: '应用', granted: '可用的应用', expiresAt: '授权到期', permanent: '永久', expired: '已过期', valid: '有效',
    retired: '已下架', apply: '申请应用', appId: '应用 ID', appIdHint: '在上方目录中点「申请」，或填写平台给的应用 ID', reason: '申请理由',
    applied: '申请已提交，等待审核', applications: '我的申请', reapply: '重新申请', reviewReason: '审核意见',
    appliedAt: '申请时间', reviewedAt: '审核时间',
  },
  applications: {
    title: '应用审核', operator: '运营商', app: '应用', reason: '申请理由', approve: '通过', reject: '拒绝',
    rejectPrompt: '拒绝理由（运营商可见）', approved: '已通过，应用已授权', rejected: '已拒绝', reviewReason: '审核意见',
    approveTitle: '通过申请：{app}', expiresAt: '授权到期（留空为永久）', grantsTab: '运营商授权', reviewTab: '待审申请',
    statuses: { pending: '待审核', approved: '已通过', rejected: '已拒绝' },
  },
  grants: {
    pickOperator: '搜索并选择运营商', grant: '授权应用', revoke: '撤销', app: '应用', grantedAt: '授权时间',
    expiresAt: '到期时间', granted: '已授权', revoked: '授权已撤销', confirmRevoke: '撤销「{name}」的授权？运营商将无法再用它开局。',
    statuses: { active: '有效', revoked: '已撤销' },
  },
  announcements: {
    title: '公告', publish: '发布公告', subject: '标题', body: '内容', publishedAt: '发布时间', published: '公告已发布',
    confirmPublish: '公告会发到所有运营商的消息中心，确定发布？',
  },
  globalTx: { title: '全局交易', operator: '运营商', allOperators: '全部运营商' },
  operatorAdmin: {
    detail: '详情', lock: '锁定', unlock: '解锁', lockPrompt: '锁定原因（运营商可见）', locked: '账号已锁定', unlocked: '账号已解锁',
    lockReason: '锁定原因', categorySaved: '类别已修改', rotate: '重置 API 密钥', overlap: '旧密钥继续有效（秒，0 为立即失效）',
    rotated: '新密钥（只显示这一次）', credentials: 'API 密钥', sites: '场地', grants: '已授权应用', threshold: '余额预警线',
    totalRefunded: '累计退款', totalInvoiced: '累计开票', totals: '累计充值 / 消费', transactions: '交易记录',
  },
  errors: {
    forbidden: '无权访问此页面', forbiddenHint: '当前账号（{role}）不能打开该页面。', backHome: '返回首页',
    notFound: '页面不存在',
  },
  roles: {
    operator: '运营商', super_admin: '超级管理员', admin: '管理员', finance_specialist: '财务专员',
    finance_manager: '财务经理', finance_auditor: '财务审计', analyst: '数据分析师',
  },
}
