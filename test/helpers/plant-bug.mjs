// Preloaded (node --import) into a CLI run by the failure parity test: a programming error
// planted where the program cannot expect one. The backup's lock asks node:os for this
// machine's name; here that throws the TypeError a slip in our own code would throw, with
// the message in XSDR_TEST_PLANTED_BUG. The product is not touched: only what Node's os
// module answers in this one process.
import os from 'node:os';
import { syncBuiltinESMExports } from 'node:module';

const message = process.env['XSDR_TEST_PLANTED_BUG'] ?? 'planted';
os.hostname = () => {
  throw new TypeError(message);
};
syncBuiltinESMExports();
