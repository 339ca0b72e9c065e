// Chart options of the finance and analyst pages. Bars and lines plot the numeric value of the
// API's strings; tooltips show the strings themselves (two decimals, never re-rounded).
import { money, plotValue } from './format'

export interface ChartSeries {
  name: string
  type: 'bar' | 'line'
  /** Money strings (`money: true`) or counts. */
  values: (string | number)[]
  money?: boolean
  /** 1: the right-hand axis (counts beside money). */
  axis?: 0 | 1
  stack?: string
}

interface TooltipParam {
  dataIndex: number
  seriesIndex: number
  seriesName: string
  marker: string
}

const shown = (series: ChartSeries, index: number) => {
  const value = series.values[index]
  return series.money ? money(String(value)) : String(value)
}

/** Bars and lines over categories (days, apps, operators…); `horizontal` for rankings. */
export function categoryOption(labels: string[], series: ChartSeries[], options: { horizontal?: boolean; countAxis?: string } = {}) {
  const moneyAxis = { type: 'value', name: '¥' }
  const valueAxes = series.some((s) => s.axis === 1)
    ? [moneyAxis, { type: 'value', name: options.countAxis ?? '', minInterval: 1 }]
    : [series.every((s) => !s.money) ? { type: 'value', minInterval: 1 } : moneyAxis]
  const categoryAxis = { type: 'category', data: labels, inverse: options.horizontal === true, axisLabel: { interval: 0, hideOverlap: true } }
  return {
    animation: false,
    tooltip: {
      trigger: 'axis',
      formatter: (params: TooltipParam[]) =>
        [labels[params[0].dataIndex], ...params.map((p) => `${p.marker}${p.seriesName}: ${shown(series[p.seriesIndex], p.dataIndex)}`)].join('<br/>'),
    },
    legend: { top: 0, data: series.map((s) => s.name) },
    grid: { left: options.horizontal ? 140 : 64, right: valueAxes.length > 1 ? 64 : 32, bottom: 40, top: 48 },
    xAxis: options.horizontal ? valueAxes[0] : categoryAxis,
    yAxis: options.horizontal ? categoryAxis : valueAxes,
    series: series.map((s) => ({
      name: s.name,
      type: s.type,
      stack: s.stack,
      barMaxWidth: 56,
      yAxisIndex: options.horizontal ? undefined : (s.axis ?? 0),
      data: s.values.map((v) => (typeof v === 'number' ? v : plotValue(v))),
    })),
  }
}

/** Shares of a whole (money strings): a ring with the amounts in the tooltip. */
export function pieOption(slices: { name: string; value: string }[]) {
  return {
    animation: false,
    tooltip: {
      trigger: 'item',
      formatter: (p: { dataIndex: number; percent: number; marker: string }) =>
        `${p.marker}${slices[p.dataIndex].name}: ${money(slices[p.dataIndex].value)} (${p.percent}%)`,
    },
    legend: { bottom: 0 },
    series: [
      {
        type: 'pie',
        radius: ['40%', '68%'],
        label: { formatter: '{b}: {d}%' },
        data: slices.map((s) => ({ name: s.name, value: plotValue(s.value) })),
      },
    ],
  }
}
