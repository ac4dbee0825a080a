import { describe, expect, it } from 'vitest';
import { bucketFor, toLatencyRows, toThroughputRows } from './chartData';

describe('chart data', () => {
  it('computes a failure rate per bucket and leaves idle buckets empty', () => {
    const rows = toThroughputRows(
      [
        { t: '2026-01-01T00:00:00Z', submitted: 10, succeeded: 3, failed: 1, dead: 0 },
        { t: '2026-01-01T00:01:00Z', submitted: 0, succeeded: 0, failed: 0, dead: 0 },
      ],
      (iso) => iso.slice(11, 16),
    );
    expect(rows).toEqual([
      { time: '00:00', submitted: 10, succeeded: 3, failed: 1, dead: 0, failureRate: 25 },
      { time: '00:01', submitted: 0, succeeded: 0, failed: 0, dead: 0, failureRate: null },
    ]);
  });

  it('lays latency percentiles side by side', () => {
    expect(
      toLatencyRows({ queue_wait_ms: { p50: 1, p95: 2, p99: null }, run_time_ms: { p50: 10, p95: 20, p99: 30 } }),
    ).toEqual([
      { percentile: 'p50', queueWait: 1, runTime: 10 },
      { percentile: 'p95', queueWait: 2, runTime: 20 },
      { percentile: 'p99', queueWait: 0, runTime: 30 },
    ]);
  });

  it('picks a bucket size per window', () => {
    expect(bucketFor(3600)).toBe(60);
    expect(bucketFor(7200)).toBe(120);
  });
});
