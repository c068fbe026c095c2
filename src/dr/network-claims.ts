/**
 * Keeps concurrent imports from creating the same network twice. XAPI's import matches a
 * VIF's network by name_label, else by bridge, and creates it from the export when neither
 * matches (xen-api ocaml/xapi/import.ml). Imported one after another (stock), the second VM
 * on a missing network finds the one the first created; imported side by side, both would
 * create one.
 * So an import that needs a network nobody has yet claims it, and an import that needs a
 * claimed network waits for the claimer to finish first.
 */
export interface NetworkRef {
  name: string;
  bridge: string;
}

interface Claim extends NetworkRef {
  done: Promise<void>;
}

export class NetworkClaims {
  private readonly names = new Set<string>();
  private readonly bridges = new Set<string>();
  private readonly claims = new Set<Claim>();

  constructor(existing: Iterable<NetworkRef>) {
    for (const n of existing) this.add(n);
  }

  private add(n: NetworkRef): void {
    this.names.add(n.name);
    this.bridges.add(n.bridge);
  }

  private exists(n: NetworkRef): boolean {
    return this.names.has(n.name) || this.bridges.has(n.bridge);
  }

  /**
   * Runs `importVm` once no other import is creating a network it needs, holding claims on
   * the networks it will create itself. Once it succeeded its networks exist; after a failure
   * XAPI removed what it created, so a waiting import becomes the creator.
   */
  async run<T>(networks: readonly NetworkRef[], importVm: () => Promise<T>): Promise<T> {
    for (;;) {
      const missing = networks.filter((n) => !this.exists(n));
      const blocking = [...this.claims].filter((c) => missing.some((n) => n.name === c.name || n.bridge === c.bridge));
      if (blocking.length === 0) break;
      await Promise.all(blocking.map((c) => c.done));
    }
    const mine: Claim[] = [];
    let release!: () => void;
    const done = new Promise<void>((r) => (release = r));
    for (const n of networks) if (!this.exists(n)) mine.push({ ...n, done });
    for (const c of mine) this.claims.add(c);
    let ok = false;
    try {
      const result = await importVm();
      ok = true;
      return result;
    } finally {
      for (const c of mine) {
        this.claims.delete(c);
        if (ok) this.add(c);
      }
      release();
    }
  }
}
