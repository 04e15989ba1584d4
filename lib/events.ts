/**
 * What a context decides and does, as events: published on the diagnostics channel `nvc-ts`
 * (node:diagnostics_channel, free when nobody subscribes) and given to the `logger` init option.
 * A runtime author sees what was selected, mounted, skipped and refused without parsing messages.
 */
import diagnosticsChannel from 'node:diagnostics_channel';

export const EVENT_CHANNEL = 'nvc-ts';

export type NvcEvent =
  /** The request resolved: which GPUs and capabilities a container gets. */
  | { kind: 'selected'; rootfs: string; pid: number; gpus: Array<{ index: number; uuid: string }>; capabilities: string[] }
  /** One edit of the mount plan, once applied: done, or skipped (an optional source the host lacks). */
  | { kind: 'edit'; rootfs: string; edit: string; target: string; step: string; outcome: 'done' | 'skipped' }
  /** Device cgroup rules added for the container (version: the hierarchy that confines it). */
  | { kind: 'cgroup'; rootfs: string; rules: string[]; version: number | null }
  | { kind: 'ldconfig'; rootfs: string; ran: boolean; warning: string }
  /** Something the request asked for that the host cannot give, left out. */
  | { kind: 'warning'; rootfs: string; text: string }
  /** The call failed: nothing was left half done (or the error says what was). */
  | { kind: 'refused'; rootfs: string; code: string; message: string };

export type NvcLogger = (event: NvcEvent) => void;

const channel = diagnosticsChannel.channel(EVENT_CHANNEL);

/** Whether anyone listens: events are not even built otherwise (configure is a hot path). */
export function listening(logger: NvcLogger | undefined): boolean {
  return logger !== undefined || channel.hasSubscribers;
}

/** Publish to the channel and to the context's logger; a logger that throws never breaks the call. */
export function emit(logger: NvcLogger | undefined, event: NvcEvent): void {
  if (channel.hasSubscribers) channel.publish(event);
  if (logger === undefined) return;
  try {
    logger(event);
  } catch {
    // A logging mistake is the caller's to see in its own logs, not a failed configure.
  }
}
