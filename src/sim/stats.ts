/**
 * Counters the tests and the benchmark read: XML-RPC calls per method, and per HTTP route
 * the number of requests and the body bytes received and sent.
 */

export interface RouteStats {
  requests: number;
  bytesIn: number;
  bytesOut: number;
}

export interface StatsSnapshot {
  totalCalls: number;
  /** method name as called (e.g. "VM.get_record", "Async.VBD.plug") → count */
  calls: Record<string, number>;
  /** route path (e.g. "/export_raw_vdi") → counters */
  routes: Record<string, RouteStats>;
}

export class SimStats {
  private calls = new Map<string, number>();
  private routes = new Map<string, RouteStats>();
  private total = 0;

  recordCall(method: string): void {
    this.total++;
    this.calls.set(method, (this.calls.get(method) ?? 0) + 1);
  }

  recordRequest(route: string): void {
    this.route(route).requests++;
  }

  addBytesIn(route: string, n: number): void {
    this.route(route).bytesIn += n;
  }

  addBytesOut(route: string, n: number): void {
    this.route(route).bytesOut += n;
  }

  /** Calls of one method so far. */
  callCount(method: string): number {
    return this.calls.get(method) ?? 0;
  }

  get totalCalls(): number {
    return this.total;
  }

  routeStats(route: string): RouteStats {
    return { ...this.route(route) };
  }

  snapshot(): StatsSnapshot {
    const routes: Record<string, RouteStats> = {};
    for (const [k, v] of this.routes) routes[k] = { ...v };
    return { totalCalls: this.total, calls: Object.fromEntries(this.calls), routes };
  }

  reset(): void {
    this.calls.clear();
    this.routes.clear();
    this.total = 0;
  }

  private route(route: string): RouteStats {
    let r = this.routes.get(route);
    if (!r) {
      r = { requests: 0, bytesIn: 0, bytesOut: 0 };
      this.routes.set(route, r);
    }
    return r;
  }
}
