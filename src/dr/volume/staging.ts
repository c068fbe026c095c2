/**
 * A stream gathered into one buffer that is reused: every chunk is copied in, and the
 * buffer is handed on each time it is full. Keeping a buffer per chunk (or concatenating)
 * made hundreds of MB of short-lived buffers for a large dump or VDI, which the process
 * kept as RSS.
 */

/**
 * Copies the chunks of `stream` into `buffer`; `flush(filled, last)` gets it each time it is
 * full (and what is left at the end, with last = true) and must be done with it when it
 * resolves. Once `wanted()` is false no more bytes are copied; the rest of the stream is
 * counted, or with `leaveEarly` left at once (which destroys it: a cancelled transfer).
 * Returns the bytes received.
 */
export async function stageStream(
  stream: AsyncIterable<Buffer>,
  buffer: Buffer,
  flush: (filled: Buffer, last: boolean) => Promise<void>,
  opts: { wanted?: () => boolean; leaveEarly?: boolean } = {},
): Promise<number> {
  const wanted = opts.wanted ?? (() => true);
  let held = 0;
  let received = 0;
  for await (const chunk of stream) {
    received += chunk.length;
    let at = 0;
    while (at < chunk.length && wanted()) {
      const n = chunk.copy(buffer, held, at);
      held += n;
      at += n;
      if (held === buffer.length) {
        await flush(buffer, false);
        held = 0;
      }
    }
    if (opts.leaveEarly && !wanted()) break;
  }
  if (held > 0 && wanted()) await flush(buffer.subarray(0, held), true);
  return received;
}
