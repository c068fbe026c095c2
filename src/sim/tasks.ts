/**
 * Task lifecycle (xen-api ocaml/xapi/xapi_task.ml, taskHelper.ml): creation, progress,
 * completion (progress 1.0, finished, allowed_operations cleared, then status),
 * cancellation (status cancelled, error_info [TASK_CANCELLED, ref], an AbortSignal for
 * whoever runs the work), destruction (a pending task is only marked, and removed when it
 * completes).
 */
import { ApiFailure } from './api-error.js';
import { serializeValue, XmlRpcDateTime, type XmlRpcValue } from './codec.js';
import type { Ref, SimDb } from './db.js';
import type { HandlerTask } from './http-route.js';

export function nowStamp(): string {
  return XmlRpcDateTime.fromDate(new Date()).text;
}

export interface CreateTaskOptions {
  description?: string;
  /** Whether task.cancel is allowed while pending (default true). */
  cancellable?: boolean;
  /** host the task runs on (resident_on). */
  residentOn?: Ref;
  subtaskOf?: Ref;
}

export class TaskManager {
  private readonly aborts = new Map<Ref, AbortController>();
  private readonly destroyOnCompletion = new Set<Ref>();

  constructor(private readonly db: SimDb) {}

  create(label: string, opts: CreateTaskOptions = {}): Ref {
    const cancellable = opts.cancellable ?? true;
    const ref = this.db.create('task', {
      name_label: label,
      name_description: opts.description ?? '',
      allowed_operations: cancellable ? ['cancel'] : [],
      created: nowStamp(),
      status: 'pending',
      progress: 0,
      ...(opts.residentOn !== undefined && { resident_on: opts.residentOn }),
      ...(opts.subtaskOf !== undefined && { subtask_of: opts.subtaskOf }),
    });
    this.aborts.set(ref, new AbortController());
    return ref;
  }

  /** The signal aborted when the task is cancelled (an already-aborted one for unknown tasks). */
  signal(ref: Ref): AbortSignal {
    return this.aborts.get(ref)?.signal ?? AbortSignal.abort();
  }

  isPending(ref: Ref): boolean {
    const t = this.db.tryGet('task', ref);
    return t !== undefined && t.status === 'pending';
  }

  setProgress(ref: Ref, fraction: number): void {
    if (!this.isPending(ref)) return;
    const p = Number.isFinite(fraction) ? Math.min(1, Math.max(-1, fraction)) : 0;
    this.db.set('task', ref, 'progress', p);
  }

  /** Success with an already serialised result string ("" for resultless handlers). */
  succeedRaw(ref: Ref, result: string, type = ''): void {
    this.complete(ref, { status: 'success', result, type });
  }

  /** Success with a value, serialised as an XML-RPC `<value>` string, as XAPI's task result is. */
  succeed(ref: Ref, value: XmlRpcValue, type = ''): void {
    this.succeedRaw(ref, serializeValue(value), type);
  }

  fail(ref: Ref, errorInfo: readonly string[]): void {
    this.complete(ref, { status: 'failure', error_info: [...errorInfo] });
  }

  /** task.cancel: OPERATION_NOT_ALLOWED unless 'cancel' is allowed; then cancelled at once. */
  cancel(ref: Ref): void {
    const t = this.db.get('task', ref);
    if (!t.allowed_operations.includes('cancel')) {
      throw new ApiFailure('OPERATION_NOT_ALLOWED', [`Task ${ref} is not cancellable`]);
    }
    this.complete(ref, { status: 'cancelled', error_info: ['TASK_CANCELLED', ref] });
  }

  /** task.destroy: removes a finished task; a pending one goes when it completes. */
  destroy(ref: Ref): void {
    const t = this.db.get('task', ref);
    if (t.status === 'pending') {
      this.destroyOnCompletion.add(ref);
      return;
    }
    this.forget(ref);
  }

  /** The view of a task given to an HTTP handler. */
  handlerTask(ref: Ref, createdByServer: boolean): HandlerTask {
    const self = this;
    return {
      ref,
      createdByServer,
      get done() {
        return !self.isPending(ref);
      },
      signal: this.signal(ref),
      progress(fraction: number) {
        self.setProgress(ref, fraction);
      },
      succeed(result?: XmlRpcValue) {
        if (result === undefined) self.succeedRaw(ref, '');
        else self.succeed(ref, result, typeof result === 'string' ? (self.db.classOf(result) ?? '') : '');
      },
      fail(code: string, params: readonly string[] = []) {
        self.fail(ref, [code, ...params]);
      },
    };
  }

  private complete(ref: Ref, fields: { status: 'success' | 'failure' | 'cancelled'; result?: string; type?: string; error_info?: string[] }): void {
    if (!this.isPending(ref)) return;
    this.db.update('task', ref, {
      progress: 1,
      finished: nowStamp(),
      allowed_operations: [],
      ...(fields.result !== undefined && { result: fields.result }),
      ...(fields.type !== undefined && { type: fields.type }),
      ...(fields.error_info !== undefined && { error_info: fields.error_info }),
    });
    this.db.set('task', ref, 'status', fields.status);
    if (fields.status === 'cancelled') this.aborts.get(ref)?.abort(new ApiFailure('TASK_CANCELLED', [ref]));
    if (this.destroyOnCompletion.has(ref)) this.forget(ref);
  }

  private forget(ref: Ref): void {
    this.destroyOnCompletion.delete(ref);
    this.aborts.delete(ref);
    if (this.db.exists('task', ref)) this.db.destroy('task', ref);
  }
}
