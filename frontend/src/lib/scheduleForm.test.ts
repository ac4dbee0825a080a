import { describe, expect, it } from 'vitest';
import { ApiError } from '../api/client';
import { createBody, describeTiming, EMPTY_FORM, fieldErrors, localErrors, previewBody } from './scheduleForm';

describe('scheduleForm', () => {
  it('asks a preview of a cron or an interval, and nothing while the timing is empty', () => {
    expect(previewBody({ ...EMPTY_FORM, cron: ' 0 3 * * * ', timezone: 'Europe/Berlin' })).toEqual({ cron: '0 3 * * *', timezone: 'Europe/Berlin', count: 5 });
    expect(previewBody({ ...EMPTY_FORM, kind: 'every', everyS: '90', timezone: '' })).toEqual({ every_s: 90, timezone: 'UTC', count: 5 });
    expect(previewBody({ ...EMPTY_FORM, cron: '  ' })).toBeNull();
    expect(previewBody({ ...EMPTY_FORM, kind: 'every', everyS: '' })).toBeNull();
  });

  it('sends cron or every_s, never both, and the tenant only when allowed', () => {
    const form = { ...EMPTY_FORM, name: 'n', type: 't', tenant: 'acme' };
    expect(createBody(form, { withTenant: false })).toEqual({ name: 'n', type: 't', cron: '*/5 * * * *', timezone: 'UTC', catch_up: 'one' });
    expect(createBody({ ...form, kind: 'every', everyS: '30' }, { withTenant: true })).toEqual({
      name: 'n', type: 't', tenant: 'acme', every_s: 30, timezone: 'UTC', catch_up: 'one',
    });
  });

  it('catches bad JSON and a non-integer interval before asking the server', () => {
    expect(localErrors({ ...EMPTY_FORM, payload: '{nope' })).toEqual({ payload: 'Not valid JSON' });
    expect(localErrors({ ...EMPTY_FORM, kind: 'every', everyS: '1.5' })).toEqual({ every_s: 'Whole seconds, e.g. 60' });
    expect(localErrors(EMPTY_FORM)).toEqual({});
  });

  it('puts each 422 message under the field it names', () => {
    const error = new ApiError(422, 'validation_error', 'x', [
      { field: 'cron', message: 'Bad minute' },
      { field: 'timezone', message: 'unknown IANA time zone' },
    ]);
    expect(fieldErrors(error)).toEqual({ fields: { cron: 'Bad minute', timezone: 'unknown IANA time zone' }, rest: null });
    expect(fieldErrors(new ApiError(409, 'conflict', 'exists'))).toEqual({ fields: {}, rest: 'exists' });
    expect(fieldErrors(null)).toEqual({ fields: {}, rest: null });
  });

  it('reads a timing as a person would', () => {
    expect(describeTiming({ cron: '0 3 * * *', every_s: null, timezone: 'UTC' })).toBe('0 3 * * *');
    expect(describeTiming({ cron: '0 3 * * *', every_s: null, timezone: 'Europe/Berlin' })).toBe('0 3 * * * (Europe/Berlin)');
    expect(describeTiming({ cron: null, every_s: 30, timezone: 'UTC' })).toBe('every 30 s');
  });
});
