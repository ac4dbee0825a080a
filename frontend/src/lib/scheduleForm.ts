/** The create-schedule form as data: what it sends, and which field an error belongs to. */
import { ApiError } from '../api/client';
import type { CatchUp, Json, PreviewIn, ScheduleIn } from '../api/types';

export type TimingKind = 'cron' | 'every';

export interface ScheduleForm {
  name: string;
  type: string;
  tenant: string;
  kind: TimingKind;
  cron: string;
  everyS: string;
  timezone: string;
  payload: string;
  catchUp: CatchUp;
}

export const EMPTY_FORM: ScheduleForm = {
  name: '',
  type: '',
  tenant: '',
  kind: 'cron',
  cron: '*/5 * * * *',
  everyS: '60',
  timezone: 'UTC',
  payload: '',
  catchUp: 'one',
};

/** Form field -> message. Keys are the API's field names (cron, every_s, timezone, ...). */
export type FieldErrors = Partial<Record<string, string>>;

/** The body of POST /api/schedules/preview, or null while the timing is incomplete. */
export function previewBody(form: ScheduleForm, count = 5): PreviewIn | null {
  const timezone = form.timezone.trim() || 'UTC';
  if (form.kind === 'cron') {
    const cron = form.cron.trim();
    return cron ? { cron, timezone, count } : null;
  }
  const every = Number(form.everyS);
  return form.everyS.trim() && Number.isFinite(every) ? { every_s: every, timezone, count } : null;
}

/** Checks the browser can make before asking the server (which checks everything again). */
export function localErrors(form: ScheduleForm): FieldErrors {
  const errors: FieldErrors = {};
  if (form.payload.trim()) {
    try {
      JSON.parse(form.payload);
    } catch {
      errors.payload = 'Not valid JSON';
    }
  }
  if (form.kind === 'every' && form.everyS.trim() && !/^\d+$/.test(form.everyS.trim())) {
    errors.every_s = 'Whole seconds, e.g. 60';
  }
  return errors;
}

export function createBody(form: ScheduleForm, { withTenant }: { withTenant: boolean }): ScheduleIn {
  const body: ScheduleIn = {
    name: form.name.trim(),
    type: form.type.trim(),
    timezone: form.timezone.trim() || 'UTC',
    catch_up: form.catchUp,
  };
  if (withTenant && form.tenant.trim()) body.tenant = form.tenant.trim();
  if (form.kind === 'cron') body.cron = form.cron.trim();
  else body.every_s = Number(form.everyS);
  if (form.payload.trim()) body.payload = JSON.parse(form.payload) as Json;
  return body;
}

/**
 * Splits a 422 into per-field messages (shown under the field the API named) and the
 * rest; other errors are all "rest".
 */
export function fieldErrors(error: unknown): { fields: FieldErrors; rest: string | null } {
  if (!(error instanceof ApiError)) return { fields: {}, rest: error ? String((error as Error).message ?? error) : null };
  if (error.fields.length === 0) return { fields: {}, rest: error.message };
  const fields: FieldErrors = {};
  for (const f of error.fields) {
    const name = f.field.split('.').pop() ?? f.field;
    fields[name] = fields[name] ? `${fields[name]}; ${f.message}` : f.message;
  }
  return { fields, rest: null };
}

/** "every 90 s" / "0 3 * * * (Europe/Berlin)": how a schedule's timing reads in a table. */
export function describeTiming(s: { cron: string | null; every_s: number | null; timezone: string }): string {
  if (s.cron) return s.timezone === 'UTC' ? s.cron : `${s.cron} (${s.timezone})`;
  return `every ${s.every_s ?? '?'} s`;
}
