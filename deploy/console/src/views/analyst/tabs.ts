// The cross-analysis charts, in the order of their tabs (the `tab` query of /analyst/analysis).
export const ANALYSIS_TABS = ['operator-app', 'site-time', 'players', 'category'] as const
export type AnalysisTab = (typeof ANALYSIS_TABS)[number]
