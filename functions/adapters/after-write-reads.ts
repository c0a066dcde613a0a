/**
 * Reads that must follow a write, for writes that start together: those started in one synchronous run (a
 * delivery batch starts all its writes so) form a group, and the group's reads go out as one call once every
 * write of the group has been answered. A read waits at most for the slowest write of its group.
 */
export class AfterWriteReads<V> {
  private open: Group<V> | undefined;

  /** `read` answers the value of each key it finds; keys it leaves out read as undefined. */
  constructor(private readonly read: (keys: readonly string[]) => Promise<ReadonlyMap<string, V>>) {}

  /**
   * Joins the group of writes starting now. Call the answer exactly once, when the write has been answered: with
   * the key to read after it, or with none.
   */
  join(): (key?: string) => Promise<V | undefined> {
    let group = this.open;
    if (!group) {
      const opened: Group<V> = (group = this.open = { writing: 0, waiting: new Map() });
      queueMicrotask(() => {
        if (this.open === opened) this.open = undefined;
      });
    }
    group.writing++;
    let answered = false;
    return (key) => {
      if (answered) throw new Error('AfterWriteReads: a write was answered twice');
      answered = true;
      const value = key === undefined ? Promise.resolve(undefined) : new Promise<V | undefined>((resolve, reject) => waitFor(group, key, { resolve, reject }));
      if (--group.writing === 0) this.flush(group);
      return value;
    };
  }

  private flush(group: Group<V>): void {
    if (group.waiting.size === 0) return;
    const waiting = group.waiting;
    group.waiting = new Map();
    this.read([...waiting.keys()]).then(
      (found) => waiting.forEach((ws, key) => ws.forEach((w) => w.resolve(found.get(key)))),
      (err: unknown) => waiting.forEach((ws) => ws.forEach((w) => w.reject(err))),
    );
  }
}

interface Waiter<V> {
  resolve(value: V | undefined): void;
  reject(err: unknown): void;
}

interface Group<V> {
  writing: number;
  waiting: Map<string, Waiter<V>[]>;
}

function waitFor<V>(group: Group<V>, key: string, waiter: Waiter<V>): void {
  const ws = group.waiting.get(key);
  if (ws) ws.push(waiter);
  else group.waiting.set(key, [waiter]);
}
