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
}

export function Chart ({ data, series, height = 220, title, xSpan }: ChartProps) {
  const el = useRef<HTMLDivElement>(null)
  const plot = useRef<UPlot | null>(null)
  const shape = series.map((s) => s.label).join()
  useEffect(() => {
    const host = el.current
    if (host === null) return
    const opts: UPlot.Options = {
      title,
      width: Math.max(300, host.clientWidth),
      height,
      series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.stroke, width: 2, spanGaps: true }))],
      // One point, or a fixed span: uPlot would otherwise stretch the axis over years.
      scales: { x: { time: true, range: (_u, min, max) => min === max ? [min - 60, max + 60] : [xSpan === undefined ? min : Math.max(min, max - xSpan), max] } },
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
