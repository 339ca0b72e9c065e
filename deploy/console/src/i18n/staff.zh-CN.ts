// zh-CN texts of the finance and analyst pages and the file downloads (merged into zh-CN.ts).
export default {
  files: { csv: '导出 CSV', xlsx: '导出 XLSX', pdf: '下载 PDF' },
  staffNav: {
    financeGroup: '财务', analystGroup: '数据分析', financeDashboard: '财务看板', invoiceReview: '发票审核',
    reports: '财务报表', reconciliations: '对账', auditLog: '操作审计', analystDashboard: '全局看板', analysis: '交叉分析',
  },
  finance: {
    net: '净额', count: '{n} 笔', netHint: '净额 = 充值 − 退款', topCustomers: '本月消费排行', share: '收入占比',
    issue: '开具', invoiceIssued: '发票已开具', invoiceRejectPrompt: '拒绝理由（运营商可见）',
    generate: '生成报表', reportKind: '类型', periodStart: '起始日', generatedAt: '生成时间', files: '文件', failed: '生成失败',
    reportReady: '报表已生成', generatedNote: '已生成{kind}报表：{from} – {to}', notFuture: '不能是未来的日期',
    kinds: { daily: '日报', weekly: '周报', monthly: '月报', yearly: '年报' },
    startRule: { daily: '请选择一天', weekly: '周报须从周一开始', monthly: '月报须从 1 日开始', yearly: '年报须从 1 月 1 日开始' },
    recon: {
      run: '执行对账', billDate: '账单日', done: '对账完成', open: '查看', by: '执行人', at: '执行时间', problems: '差异',
      kind: '结果', allKinds: '全部结果', gatewayTotal: '渠道账单合计', ledgerTotal: '账本合计', gatewayAmount: '渠道金额',
      ledgerAmount: '账本金额', detail: '说明',
      kinds: { matched: '一致', amount_mismatch: '金额不符', missing_in_ledger: '账本缺失', missing_at_gateway: '渠道缺失' },
    },
    audit: {
      time: '时间', actor: '操作人', action: '操作（事件类型）', target: '对象', targetType: '对象类型', targetId: '对象 ID',
      actorId: '操作人 ID', ip: '来源 IP', nameRule: '字母开头，仅字母、数字、下划线（最多 64 个）', idRule: '最多 128 个字符',
    },
  },
  analyst: {
    operatorsTotal: '运营商总数', revenue: '收入', operatorsActive: '有开局的运营商', revenueTrend: '收入趋势', bucket: '周期', total: '合计',
    operatorsWithSpend: '有消费的运营商', categoryNote: '统计本期有消费的全部运营商，按其当前类别归类。',
    tabs: { 'operator-app': '运营商 × 应用', 'site-time': '场地 × 时间', players: '应用 × 人数', category: '运营商类别' },
    players: { upto_2: '1–2 人', '3_4': '3–4 人', '5_8': '5–8 人', '9_plus': '9 人及以上' },
  },
}
