/** The `--debug FILE` log: timestamped lines appended synchronously, so that a crash still leaves them on disk. */
import { closeSync, openSync, writeSync } from 'node:fs';
import * as path from 'node:path';
import { shorten } from '../quote';

/** Longest message of one log line: values in it are not ours. */
const LINE_MAX_CHARS = 16384;

export class DebugLog {
  private fd: number | null;

  /** Whether the log is stderr (`-` or /dev/stderr), which is never closed. */
  private readonly toStderr: boolean;

  /** stderr: where `-` and /dev/stderr go when it is not this process's own (the service's captured stderr of a request). */
  constructor(
    file: string | undefined,
    private readonly stderr?: { write(chunk: string): unknown },
  ) {
    this.toStderr = file === '-' || file === '/dev/stderr';
    // Resolved here (not by the kernel) so that a service's request resolves it against its client's directory.
    this.fd = file === undefined ? null : this.toStderr ? 2 : openSync(path.resolve(file), 'a');
  }

  /** Whether --debug was given. */
  get enabled(): boolean {
    return this.fd !== null;
  }

  line(message: string): void {
    if (this.fd === null) return;
    const text = `${new Date().toISOString()} nvc-ts[${process.pid}] ${shorten(message, LINE_MAX_CHARS)}\n`;
    try {
      if (this.toStderr && this.stderr !== undefined) this.stderr.write(text);
      else writeSync(this.fd, text);
    } catch {
      // A debug log must never break the command.
    }
  }

  close(): void {
    if (this.toStderr) this.fd = null;
    if (this.fd !== null) {
      try {
        closeSync(this.fd);
      } catch {
        // ignore
      }
      this.fd = null;
    }
  }
}

/** Time since `started` (from process.hrtime.bigint()), as the log shows it. */
export function elapsed(started: bigint): string {
  return `${(Number(process.hrtime.bigint() - started) / 1e6).toFixed(1)} ms`;
}
