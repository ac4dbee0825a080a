/** Shapes API series into chart rows; pure, so it is tested without rendering charts. */
import type { AnalyticsSummary, ThroughputPoint } from '../api/types';
import { formatTime } from './format';

export interface ThroughputRow {
  time: string;
  submitted: number;
  succeeded: number;
  failed: number;
  dead: number;
  /** Failed attempts as a share of finished attempts in the bucket, in percent; null when idle. */
  failureRate: number | null;
}

export function toThroughputRows(points: ThroughputPoint[], label: (iso: string) => string = formatTime): ThroughputRow[] {
  return points.map((p) => {
    const finished = p.succeeded + p.failed;
    return {
      time: label(p.t),
      submitted: p.submitted,
      succeeded: p.succeeded,
      failed: p.failed,
      dead: p.dead,
      failureRate: finished > 0 ? Math.round((p.failed / finished) * 1000) / 10 : null,
    };
  });
}

export interface LatencyRow {
  percentile: string;
  queueWait: number;
  runTime: number;
}

export function toLatencyRows(summary: Pick<AnalyticsSummary, 'queue_wait_ms' | 'run_time_ms'>): LatencyRow[] {
  return (['p50', 'p95', 'p99'] as const).map((p) => ({
    percentile: p,
    queueWait: summary.queue_wait_ms?.[p] ?? 0,
    runTime: summary.run_time_ms?.[p] ?? 0,
  }));
}

/** Windows offered on the analytics page, with a bucket size that gives 30-60 points. */
export const WINDOWS = [
  { value: '900', label: '15 min', bucket: 30 },
  { value: '3600', label: '1 hour', bucket: 60 },
  { value: '21600', label: '6 hours', bucket: 600 },
  { value: '86400', label: '24 hours', bucket: 1800 },
  { value: '604800', label: '7 days', bucket: 3 * 3600 },
] as const;

export function bucketFor(windowS: number): number {
  return WINDOWS.find((w) => Number(w.value) === windowS)?.bucket ?? Math.max(30, Math.round(windowS / 60));
}

/** Time labels: hours and minutes within a day, the date beyond. */
export function labelFor(windowS: number): (iso: string) => string {
  if (windowS <= 86400) return formatTime;
  return (iso) => {
    const d = new Date(iso);
    return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(undefined, { month: 'short', day: '2-digit', hour: '2-digit' });
  };
}
