/** Imported first by the entry point, for its side effect (heap-tuning.ts says why). */
import { tuneHeapForClient } from './heap-tuning.js';

tuneHeapForClient();
