import { html } from 'htm/preact'
import { useEffect, useRef } from 'preact/hooks'
import UPlot from 'uplot'
import 'uplot/dist/uPlot.min.css'

// A uPlot chart that follows its data: created once, given new data with setData.

export interface ChartProps {
  /** x in seconds since the epoch, then one array per series. */
  data: UPlot.AlignedData
  series: Array<{ label: string, stroke: string }>
  height?: number
  title?: string
  /** Show at most the last `xSpan` seconds up to the newest point (default: all the data). */
  xSpan?: number
  /** Show exactly this time range (seconds), whatever the data. */
  xRange?: [number, number]
}

function xAxis (xs: ArrayLike<number>, fixed: [number, number] | undefined, span: number | undefined): [number, number] {
  if (fixed !== undefined) return fixed
  const first = xs[0]
  const last = xs[xs.length - 1]
  if (first === undefined || last === undefined) { const now = Date.now() / 1000; return [now - 60, now] }
  const from = span === undefined ? first : Math.max(first, last - span)
  return from === last ? [last - 60, last] : [from, last]
}

export function Chart ({ data, series, height = 220, title, xSpan, xRange }: ChartProps) {
  const el = useRef<HTMLDivElement>(null)
  const plot = useRef<UPlot | null>(null)
  const range = useRef(xRange)
  range.current = xRange
  const shape = series.map((s) => s.label).join()
  useEffect(() => {
    const host = el.current
    if (host === null) return
    const opts: UPlot.Options = {
      title,
      width: Math.max(300, host.clientWidth),
      height,
      series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.stroke, width: 2, spanGaps: true }))],
      // From the data, not uPlot's guess: it stretches a single point's axis over a day or more.
      scales: { x: { time: true, range: (u) => xAxis(u.data[0], range.current, xSpan) } },
      axes: [{}, { size: 60 }],
      legend: { live: true }
    }
    plot.current = new UPlot(opts, data, host)
    const resize = new ResizeObserver(() => plot.current?.setSize({ width: Math.max(300, host.clientWidth), height }))
    resize.observe(host)
    return () => { resize.disconnect(); plot.current?.destroy(); plot.current = null }
  }, [shape, height, title, xSpan])
  useEffect(() => { plot.current?.setData(data) }, [data])
  return html`<div class="chart" ref=${el} data-samples=${data[0].length}></div>`
}
