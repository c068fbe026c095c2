/** system.listMethods (XML-RPC introspection; XAPI answers it without a session). */
import type { MethodRegistry } from '../rpc-dispatch.js';

export function registerSystemMethods(reg: MethodRegistry): void {
  reg.add({ name: 'system.listMethods', session: false, params: [], hidden: true, impl: () => reg.listMethods() });
}
