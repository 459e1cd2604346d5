/**
 * @module Lines written in the same turn of the event loop leave in one write (a `log` action's claim batch: one
 * write for all its lines, not one each). Each caller's promise settles with the write that carried its line,
 * and a batch is written only once the one before it was, so a slow reader still slows the writers down.
 */
export function batchLines(write: (text: string) => Promise<void>): (line: string) => Promise<void> {
  let lines: string[] = [];
  /** The write of the lines collected so far, once it is scheduled. */
  let next: Promise<void> | undefined;
  /** The last write scheduled: the next one starts after it. */
  let previous: Promise<unknown> = Promise.resolve();
  return (line) => {
    lines.push(line);
    if (next) return next;
    const turn = new Promise<void>((resolve) => setImmediate(resolve));
    next = Promise.all([turn, previous.catch(() => {})]).then(() => {
      const text = `${lines.join("\n")}\n`;
      lines = [];
      next = undefined;
      return write(text);
    });
    previous = next;
    return next;
  };
}
